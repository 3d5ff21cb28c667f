"""server_e2e_pipeline: pipelining, batching of replies into few writes, redis-cli --pipe mass
insertion, back pressure on huge outputs, the query buffer limit."""

import subprocess

from harness import (Daemon, Simple, binary_from_argv, check, check_eq, encode, run_tests,
                     wait_until)

BINARY, BASE = binary_from_argv()


def info_fields(conn, section):
    fields = {}
    for line in conn.call("INFO", section).decode().split("\r\n"):
        if line and not line.startswith("#"):
            k, _, v = line.partition(":")
            fields[k] = v
    return fields


def test_pipelined_replies_in_order(d):
    with d.conn() as c:
        # Writes then reads: the writes share log batches, the reads see them all.
        n = 10000
        c.send_raw(b"".join(encode("SET", f"w:{i}", str(i)) for i in range(n)) +
                   b"".join(encode("GET", f"w:{i}") for i in range(n)))
        for i in range(n):
            check_eq(c.read_reply(), Simple("OK"), f"SET #{i}")
        for i in range(n):
            check_eq(c.read_reply(), str(i).encode(), f"GET #{i}")
        # Interleaved: each GET must see the SET just before it on this connection, even though
        # it may have to wait for that write to be committed.
        n = 1000
        c.send_raw(b"".join(encode("SET", f"p:{i % 10}", str(i)) + encode("GET", f"p:{i % 10}")
                            for i in range(n)))
        for i in range(n):
            check_eq(c.read_reply(), Simple("OK"), f"SET #{i}")
            check_eq(c.read_reply(), str(i).encode(), f"GET #{i} sees the SET before it")


def test_replies_are_batched_into_few_writes(d):
    with d.conn() as probe, d.conn() as c:
        before = int(info_fields(probe, "stats")["total_writes_processed"])
        n = 5000
        c.send_raw(b"PING\r\n" * n)
        data = b""
        while len(data) < 7 * n:
            data += c.sock.recv(1 << 20)
        check_eq(data, b"+PONG\r\n" * n, "all replies")
        after = int(info_fields(probe, "stats")["total_writes_processed"])
        # One write per batch of parsed input, never one per reply. 30 KB of requests arrive in
        # a handful of reads; allow generous slack for how TCP splits them.
        writes = after - before - 1  # minus the probe's own INFO reply
        check(writes <= n // 20, f"{writes} writes for {n} pipelined replies")

        # Writes complete later, when Raft applies their batch: still one write per applied
        # batch, not one per reply.
        before = int(info_fields(probe, "stats")["total_writes_processed"])
        c.send_raw(b"".join(encode("SET", f"b:{i}", "v") for i in range(n)))
        data = b""
        while len(data) < 5 * n:
            data += c.sock.recv(1 << 20)
        check_eq(data, b"+OK\r\n" * n, "all SET replies")
        after = int(info_fields(probe, "stats")["total_writes_processed"])
        writes = after - before - 1
        check(writes <= n // 20, f"{writes} writes for {n} pipelined SET replies")


def test_redis_cli_pipe_mass_insertion(d):
    n = 100000
    with d.conn() as c:
        c.call("FLUSHALL")
    payload = b"".join(encode("SET", f"mass:{i}", f"value-{i}") for i in range(n))
    out = d.cli("--pipe", input=payload, timeout=120)
    check(f"errors: 0, replies: {n}" in out, f"redis-cli --pipe said: {out!r}")
    with d.conn() as c:
        check_eq(c.call("DBSIZE"), n, "DBSIZE after mass insertion")
        check_eq(c.call("GET", "mass:99999"), b"value-99999", "last key")
        check_eq(c.call("GET", "mass:0"), b"value-0", "first key")


def test_output_back_pressure(d):
    # The daemon runs with --client-output-pause 1mb. A client pipelines 200 GETs of a 1 MB
    # value (200 MB of replies) and reads nothing: the daemon must stop reading its requests
    # instead of buffering all replies.
    value = b"x" * (1024 * 1024)
    with d.conn() as probe, d.conn() as c:
        check_eq(probe.call("SET", "big", value), Simple("OK"), "SET big")
        cid = c.call("CLIENT", "ID")
        n = 200
        c.send_raw(encode("GET", "big") * n)

        def client_omem():
            for line in probe.call("CLIENT", "LIST", "ID", str(cid)).decode().splitlines():
                return int(line.split(" omem=")[1].split(" ")[0])
            return None

        # Wait until the daemon has stopped making progress for this client (its replies are
        # stuck because we do not read): two INFO calls in a row then differ by exactly one
        # command, the first INFO itself.
        def stalled():
            a = int(info_fields(probe, "stats")["total_commands_processed"])
            b = int(info_fields(probe, "stats")["total_commands_processed"])
            return b - a == 1 and (client_omem() or 0) > 0
        wait_until(stalled, what="the pipelining client to be paused")
        omem = client_omem()
        check(omem <= 5 * len(value), f"{omem} bytes of output queued for a paused client")
        used = int(info_fields(probe, "memory")["used_memory"])
        check(used < 100 * 1024 * 1024, f"used_memory {used} while 200 MB of replies are due")
        for i in range(n):
            check_eq(c.read_reply(), value, f"GET #{i} after draining")
        check_eq(c.call("PING"), Simple("PONG"), "client usable after draining")


def test_query_buffer_limit(d):
    # --client-query-buffer-limit 1mb: a 4 MB argument can never complete within the limit.
    with d.conn() as probe, d.conn() as c:
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nq\r\n$4000000\r\n")
        try:
            for _ in range(40):
                c.send_raw(b"y" * 65536)
        except OSError:
            pass  # the daemon may close while we are still sending
        c.read_until_closed()
        check_eq(probe.call("PING"), Simple("PONG"), "daemon still serves others")
        wait_until(lambda: "query buffer limit" in d.log(), what="the log line for the close")
        stats = info_fields(probe, "stats")
        check_eq(stats["client_query_buffer_limit_disconnections"], "1", "counter")


def test_disconnect_with_pipeline_in_flight(d):
    for _ in range(5):
        c = d.conn()
        c.send_raw(b"".join(encode("SET", f"gone:{i}", "v") for i in range(20000)))
        c.close()
    with d.conn() as c:
        check_eq(c.call("PING"), Simple("PONG"), "daemon alive")


with Daemon(BINARY, BASE, ["--client-output-pause", "1mb", "--client-query-buffer-limit",
                           "1mb", "--proto-max-bulk-len", "8mb"]) as D:
    run_tests([
        ("pipelined_replies_in_order", lambda: test_pipelined_replies_in_order(D)),
        ("replies_are_batched_into_few_writes", lambda: test_replies_are_batched_into_few_writes(D)),
        ("redis_cli_pipe_mass_insertion", lambda: test_redis_cli_pipe_mass_insertion(D)),
        ("output_back_pressure", lambda: test_output_back_pressure(D)),
        ("query_buffer_limit", lambda: test_query_buffer_limit(D)),
        ("disconnect_with_pipeline_in_flight", lambda: test_disconnect_with_pipeline_in_flight(D)),
    ])
