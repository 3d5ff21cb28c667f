"""server_e2e_protocol: raw sockets speaking RESP and inline (telnet) commands, protocol errors,
fragmented input."""

from harness import Conn, Daemon, Error, Simple, binary_from_argv, check, check_eq, run_tests

BINARY, BASE = binary_from_argv()
D = None


def exchange(data, expect):
    with D.conn() as c:
        c.send_raw(data)
        got = b""
        while len(got) < len(expect):
            chunk = c.sock.recv(65536)
            if not chunk:
                break
            got += chunk
        check_eq(got, expect, f"reply to {data[:60]!r}")


def expect_protocol_error(data, text, before=b""):
    """The reply holds the replies before the bad bytes, then the error; then the connection
    closes. Another client is served meanwhile."""
    with D.conn() as other, D.conn() as c:
        c.send_raw(data)
        check_eq(c.read_until_closed(), before + b"-ERR Protocol error: " + text + b"\r\n",
                 f"reply to {data[:60]!r}")
        check_eq(other.call("PING"), Simple("PONG"), "another client still served")


def test_inline_commands_like_telnet():
    exchange(b"PING\r\n", b"+PONG\r\n")
    exchange(b"ping\n", b"+PONG\r\n")
    exchange(b"SET a \"hello world\"\nGET a\n", b"+OK\r\n$11\r\nhello world\r\n")
    exchange(b"SET b 'it is'\r\nGET b\r\n", b"+OK\r\n$5\r\nit is\r\n")
    exchange(b"SET c \"tab\\there\\x41\\n\"\r\nGET c\r\n", b"+OK\r\n$10\r\ntab\there\x41\n\r\n")
    exchange(b"\r\n\n   \r\nECHO   spaced    \r\n", b"$6\r\nspaced\r\n")
    exchange(b"EcHo x\r\n", b"$1\r\nx\r\n")
    exchange(b"NOSUCH a\r\n", b"-ERR unknown command 'NOSUCH', with args beginning with: 'a' \r\n")


def test_resp_arrays():
    exchange(b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n")
    exchange(b"*3\r\n$3\r\nSET\r\n$3\r\nbin\r\n$5\r\na\x00\r\nb\r\n*2\r\n$3\r\nGET\r\n$3\r\nbin\r\n",
             b"+OK\r\n$5\r\na\x00\r\nb\r\n")
    exchange(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", b"+PONG\r\n")
    exchange(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", b"$0\r\n\r\n")


def test_fragmented_input():
    with D.conn() as c:
        data = b"*3\r\n$3\r\nSET\r\n$4\r\nfrag\r\n$10\r\n0123456789\r\n*2\r\n$3\r\nGET\r\n$4\r\nfrag\r\n"
        for i in range(len(data)):
            c.send_raw(data[i:i + 1])
        check_eq(c.read_reply(), Simple("OK"), "SET sent byte by byte")
        check_eq(c.read_reply(), b"0123456789", "GET sent byte by byte")
        c.send_raw(b"PI")
        c.send_raw(b"NG\r")
        c.send_raw(b"\n")
        check_eq(c.read_reply(), Simple("PONG"), "inline in pieces")


def test_protocol_errors_close_the_connection():
    expect_protocol_error(b"*abc\r\n", b"invalid multibulk length")
    expect_protocol_error(b"*1\r\n$abc\r\n", b"invalid bulk length")
    expect_protocol_error(b"*1\r\n$-5\r\n", b"invalid bulk length")
    expect_protocol_error(b"*1\r\n$600000000\r\n", b"invalid bulk length")
    expect_protocol_error(b"*1\r\nPING\r\n", b"expected '$', got 'P'")
    expect_protocol_error(b"SET a \"unbalanced\r\n", b"unbalanced quotes in request")
    expect_protocol_error(b"x" * 70000, b"too big inline request")
    # Replies of commands before the bad bytes still go out, in order, before the error.
    expect_protocol_error(b"PING\r\nECHO hi\r\n*abc\r\nPING\r\n", b"invalid multibulk length",
                          before=b"+PONG\r\n$2\r\nhi\r\n")


def test_big_argument():
    value = bytes(range(256)) * 12000  # 3 MB, every byte value: under max-entry-size (4mb)
    with D.conn() as c:
        check_eq(c.call("SET", "big", value), Simple("OK"), "SET 3 MB")
        check_eq(c.call("GET", "big"), value, "GET 3 MB")
        check_eq(c.call("STRLEN", "big"), len(value), "STRLEN")
        check_eq(c.call("DEL", "big"), 1, "DEL")


def test_write_over_max_entry_size():
    big = b"v" * (10 * 1024 * 1024)
    with D.conn() as c:
        r = c.call("SET", "big", big)
        check(isinstance(r, Error) and "max-entry-size (4194304 bytes)" in r.text and
              "10485766 bytes" in r.text, "SET 10 MB refused naming the limit: %r" % (r,))
        check_eq(c.call("EXISTS", "big"), 0, "nothing was written")
        # The limit counts every argument: two 2.5 MB values together are over it too.
        half = b"h" * (2560 * 1024)
        r = c.call("MSET", "a", half, "b", half)
        check(isinstance(r, Error) and "max-entry-size" in r.text, "MSET refused: %r" % (r,))
        check_eq(c.call("PING"), Simple("PONG"), "the connection stays usable")
        check_eq(c.call("CONFIG", "SET", "max-entry-size", "16mb"), Simple("OK"), "CONFIG SET")
        check_eq(c.call("CONFIG", "GET", "max-entry-size"), [b"max-entry-size", b"16777216"],
                 "CONFIG GET")
        check_eq(c.call("SET", "big", big), Simple("OK"), "SET 10 MB under the raised limit")
        check_eq(c.call("STRLEN", "big"), len(big), "STRLEN 10 MB")
        r = c.call("CONFIG", "SET", "max-entry-size", "64mb")
        check(isinstance(r, Error) and "between" in r.text, "above 32mb refused: %r" % (r,))
        check_eq(c.call("CONFIG", "SET", "max-entry-size", "4mb"), Simple("OK"), "restore")


with Daemon(BINARY, BASE) as D:
    run_tests([
        ("inline_commands_like_telnet", test_inline_commands_like_telnet),
        ("resp_arrays", test_resp_arrays),
        ("fragmented_input", test_fragmented_input),
        ("protocol_errors_close_the_connection", test_protocol_errors_close_the_connection),
        ("big_argument", test_big_argument),
        ("write_over_max_entry_size", test_write_over_max_entry_size),
    ])
