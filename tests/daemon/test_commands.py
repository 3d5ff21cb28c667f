"""server_e2e_commands: redis-cli and raw RESP against a real raftd; replies compared exactly
with what Redis 7.0 sends."""

import re
import shutil
import subprocess
import tempfile

from harness import (Conn, Daemon, Error, Simple, binary_from_argv, check, check_eq, run_tests,
                     wait_until)

BINARY, BASE = binary_from_argv()
D = None  # the daemon shared by the tests below


def cli(*args):
    return D.cli("--no-raw", *args)


def test_basic_commands_with_redis_cli():
    check_eq(cli("PING"), "PONG\n", "PING")
    check_eq(cli("PING", "hello"), '"hello"\n', "PING msg")
    check_eq(cli("ECHO", "hi there"), '"hi there"\n', "ECHO")
    check_eq(cli("SET", "greeting", "hello world"), "OK\n", "SET")
    check_eq(cli("GET", "greeting"), '"hello world"\n', "GET")
    check_eq(cli("GET", "nosuchkey"), "(nil)\n", "GET missing")
    check_eq(cli("SELECT", "0"), "OK\n", "SELECT 0")
    check_eq(cli("SELECT", "1"), "(error) ERR DB index is out of range\n", "SELECT 1")
    check_eq(cli("foo", "bar", "baz"),
             "(error) ERR unknown command 'foo', with args beginning with: 'bar' 'baz' \n",
             "unknown command")
    check_eq(cli("GET"), "(error) ERR wrong number of arguments for 'get' command\n", "arity")


def test_error_texts():
    with D.conn() as c:
        check_eq(c.call("FOO"), Error("ERR unknown command 'FOO', with args beginning with: "),
                 "unknown, no args")
        check_eq(c.call("ping", "a", "b"),
                 Error("ERR wrong number of arguments for 'ping' command"), "PING arity")
        check_eq(c.call("ECHO"), Error("ERR wrong number of arguments for 'echo' command"), "ECHO")
        check_eq(c.call("CLIENT"), Error("ERR wrong number of arguments for 'client' command"),
                 "container alone")
        check_eq(c.call("client", "setname"),
                 Error("ERR wrong number of arguments for 'client|setname' command"),
                 "subcommand arity")
        check_eq(c.call("CLIENT", "foo"), Error("ERR unknown subcommand 'foo'. Try CLIENT HELP."),
                 "unknown subcommand")
        check_eq(c.call("config", "nope"),
                 Error("ERR unknown subcommand 'nope'. Try CONFIG HELP."), "CONFIG sub")
        check_eq(c.call("SELECT", "x"), Error("ERR value is not an integer or out of range"), "x")
        check_eq(c.call("SELECT", "99999999999"),
                 Error("ERR value is out of range, value must between -2147483648 and "
                       "2147483647"), "SELECT range")
        check_eq(c.call("SELECT", "16"), Error("ERR DB index is out of range"), "SELECT 16")
        check_eq(c.call("PING"), Simple("PONG"), "still connected after errors")


def test_hello():
    with D.conn() as c:
        cid = c.call("CLIENT", "ID")
        check(isinstance(cid, int) and cid > 0, f"client id {cid!r}")
        expected = [b"server", b"redis", b"version", b"7.0.0", b"proto", 2, b"id", cid,
                    b"mode", b"standalone", b"role", b"master", b"modules", []]
        check_eq(c.call("HELLO"), expected, "HELLO")
        check_eq(c.call("HELLO", "2"), expected, "HELLO 2")
        check_eq(c.call("HELLO", "3"), Error("NOPROTO unsupported protocol version"), "HELLO 3")
        check_eq(c.call("HELLO", "1"), Error("NOPROTO unsupported protocol version"), "HELLO 1")
        check_eq(c.call("HELLO", "abc"),
                 Error("ERR Protocol version is not an integer or out of range"), "HELLO abc")
        check_eq(c.call("HELLO", "2", "foo"), Error("ERR Syntax error in HELLO option 'foo'"),
                 "HELLO option")
        check_eq(c.call("HELLO", "2", "AUTH", "bob", "pw"),
                 Error("WRONGPASS invalid username-password pair or user is disabled."), "AUTH")
        check_eq(c.call("HELLO", "2", "AUTH", "default", "pw", "SETNAME", "myconn"), expected,
                 "HELLO AUTH SETNAME")
        check_eq(c.call("CLIENT", "GETNAME"), b"myconn", "name set by HELLO")
        check_eq(c.call("HELLO", "2", "SETNAME", "a b"),
                 Error("ERR Client names cannot contain spaces, newlines or special "
                       "characters."), "bad name")
        check_eq(c.call("CLIENT", "GETNAME"), b"myconn", "a failed HELLO changes nothing")


CLIENT_LINE = re.compile(
    r"id=(\d+) addr=127\.0\.0\.1:\d+ laddr=127\.0\.0\.1:(\d+) fd=\d+ name=(\S*) age=\d+ "
    r"idle=\d+ flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=\d+ qbuf-free=\d+ argv-mem=\d+ "
    r"multi-mem=0 rbs=\d+ rbp=\d+ obl=0 oll=0 omem=\d+ tot-mem=\d+ events=r?w? cmd=(\S+) "
    r"user=default redir=-1 resp=2")


def test_client_commands():
    with D.conn() as a, D.conn() as b:
        aid, bid = a.call("CLIENT", "ID"), b.call("CLIENT", "ID")
        check(bid > aid, "ids increase")
        check_eq(a.call("CLIENT", "GETNAME"), None, "no name yet")
        check_eq(a.call("CLIENT", "SETNAME", "alpha"), Simple("OK"), "SETNAME")
        check_eq(a.call("CLIENT", "GETNAME"), b"alpha", "GETNAME")
        check_eq(a.call("CLIENT", "SETNAME", "a b"),
                 Error("ERR Client names cannot contain spaces, newlines or special "
                       "characters."), "SETNAME spaces")
        check_eq(a.call("CLIENT", "SETINFO", "lib-name", "redis-py"), Simple("OK"), "SETINFO")
        check_eq(a.call("CLIENT", "SETINFO", "lib-ver", "5.0.1"), Simple("OK"), "SETINFO ver")
        info = a.call("CLIENT", "INFO").decode()
        m = CLIENT_LINE.fullmatch(info.rstrip("\n"))
        check(m and info.endswith("\n"), f"CLIENT INFO line: {info!r}")
        check_eq((int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)),
                 (aid, BASE, "alpha", "client|info"), "CLIENT INFO fields")
        listing = a.call("CLIENT", "LIST").decode()
        lines = listing.rstrip("\n").split("\n")
        ids = []
        for line in lines:
            m = CLIENT_LINE.fullmatch(line)
            check(m, f"CLIENT LIST line: {line!r}")
            ids.append(int(m.group(1)))
        check(aid in ids and bid in ids and ids == sorted(ids), f"ids {ids}")
        only = a.call("CLIENT", "LIST", "ID", str(bid)).decode()
        check(only.startswith(f"id={bid} ") and only.count("\n") == 1, f"LIST ID: {only!r}")
        check_eq(a.call("CLIENT", "LIST", "TYPE", "foo"), Error("ERR Unknown client type 'foo'"),
                 "LIST TYPE")
        check_eq(a.call("CLIENT", "LIST", "TYPE", "pubsub"), b"", "no pubsub clients")
        check_eq(a.call("CLIENT", "LIST", "ID", "1", "abc"), Error("ERR Invalid client ID"), "ID")
        check_eq(a.call("CLIENT", "KILL", "ID", "abc"),
                 Error("ERR client-id should be greater than 0"), "KILL ID abc")
        check_eq(a.call("CLIENT", "KILL", "FOO", "bar"), Error("ERR syntax error"), "KILL FOO")
        check_eq(a.call("CLIENT", "KILL", "1.2.3.4:5"), Error("ERR No such client"), "KILL addr")
        check_eq(a.call("CLIENT", "KILL", "ID", str(aid)), 0, "SKIPME yes by default")
        check_eq(a.call("CLIENT", "KILL", "ID", str(bid)), 1, "KILL ID")
        check_eq(b.read_until_closed(), b"", "killed client is closed")
        check_eq(a.call("CLIENT", "KILL", "ID", str(bid)), 0, "already gone")
        check_eq(a.call("CLIENT", "NO-EVICT", "on"), Simple("OK"), "NO-EVICT")
        check(isinstance(a.call("CLIENT", "HELP"), list), "CLIENT HELP")
    with D.conn() as c:
        cid = c.call("CLIENT", "ID")
        c.send("CLIENT", "KILL", "ID", str(cid), "SKIPME", "no")
        check_eq(c.read_until_closed(), b":1\r\n", "killing oneself replies, then closes")


def redis_rows(port):
    """{name: (arity, flags, keys, categories, group)} from a real redis-server on `port`."""
    rows = {}
    with Conn(port) as r:
        docs_flat = r.call("COMMAND", "DOCS")
        docs = {docs_flat[i]: dict(zip(docs_flat[i + 1][::2], docs_flat[i + 1][1::2]))
                for i in range(0, len(docs_flat), 2)}

        def add(row, doc):
            rows[row[0]] = (row[1], [f.text for f in row[2]], row[3:6], [c.text for c in row[6]],
                            doc.get(b"group"))
        for row in r.call("COMMAND"):
            doc = docs.get(row[0], {})
            add(row, doc)
            subdocs = doc.get(b"subcommands", [])
            subdocs = dict(zip(subdocs[::2], subdocs[1::2]))
            for sub in row[9]:
                add(sub, dict(zip(subdocs.get(sub[0], [])[::2], subdocs.get(sub[0], [])[1::2])))
    return rows


def test_command_rows_match_redis():
    # Every row raftd shares with Redis 7 says what Redis's says: arity, flags (those raftd
    # knows), key positions, ACL categories and COMMAND DOCS group. Read from the rows, never
    # guessed from the name.
    redis = shutil.which("redis-server")
    check(redis is not None, "redis-server is not installed (tools/install-deps.sh installs it)")
    port = BASE + 19
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([redis, "--port", str(port), "--save", "", "--appendonly", "no",
                                 "--dir", tmp], stdout=subprocess.DEVNULL)
        try:
            def up():
                try:
                    with Conn(port) as r:
                        return r.call("PING") == Simple("PONG")
                except OSError:
                    return False
            wait_until(up, what="redis-server to answer")
            theirs = redis_rows(port)
        finally:
            proc.terminate()
            proc.wait()
    ours = redis_rows(BASE)
    ours_only = {b"checkpoint", b"client|setinfo"}  # raftd's own, and one from Redis 7.2
    compared = 0
    for name, row in sorted(ours.items()):
        if name in ours_only:
            continue
        check(name in theirs, f"{name} is not a Redis 7.0 command")
        arity, flags, keys, cats, group = theirs[name]
        known = [f for f in flags if f not in ("module", "sentinel", "only_sentinel", "asking")]
        check_eq(row, (arity, known, keys, cats, group), f"COMMAND row of {name.decode()}")
        compared += 1
    check(compared >= 80, f"only {compared} rows compared")


def test_command_introspection():
    with D.conn() as c:
        count = c.call("COMMAND", "COUNT")
        check(isinstance(count, int) and count >= 30, f"COMMAND COUNT {count}")
        rows = c.call("COMMAND")
        check_eq(len(rows), count, "COMMAND rows")
        check_eq(len(c.call("COMMAND", "INFO")), count, "COMMAND INFO with no names")
        get = c.call("COMMAND", "INFO", "get", "GET", "nosuch", "client|setname")
        check_eq(get[0][:6], [b"get", 2, [Simple("readonly"), Simple("fast")], 1, 1, 1],
                 "COMMAND INFO get")
        check_eq(len(get[0]), 10, "ten fields per row")
        check_eq(get[1], get[0], "case-insensitive")
        check_eq(get[2], None, "unknown command")
        check_eq(get[3][:6],
                 [b"client|setname", 3, [Simple("noscript"), Simple("loading"), Simple("stale")],
                  0, 0, 0], "subcommand row")
        client_row = c.call("COMMAND", "INFO", "client")[0]
        check(any(r[0] == b"client|list" for r in client_row[9]), "subcommands in the row")
        names = c.call("COMMAND", "LIST")
        for n in [b"get", b"set", b"ping", b"client", b"client|setname", b"config|get"]:
            check(n in names, f"COMMAND LIST lacks {n}")
        check(b"reapexpired" not in names, "internal command listed")
        check_eq(c.call("reapexpired", "k"),
                 Error("ERR unknown command 'reapexpired', with args beginning with: 'k' "),
                 "internal command refused")
        check_eq(c.call("COMMAND", "LIST", "FILTERBY", "PATTERN", "client|*id"),
                 [b"client|id"], "FILTERBY PATTERN")
        check_eq(c.call("COMMAND", "LIST", "FILTERBY", "pattern"), Error("ERR syntax error"),
                 "FILTERBY syntax")
        docs = c.call("COMMAND", "DOCS", "get", "nosuch")
        check_eq(docs[0], b"get", "DOCS name")
        fields = dict(zip(docs[1][::2], docs[1][1::2]))
        check(set(fields) >= {b"summary", b"since", b"group"}, f"DOCS fields {fields}")
        check_eq(fields[b"group"], b"string", "DOCS group")
        check_eq(len(docs), 2, "unknown names are skipped")
        check_eq(c.call("COMMAND", "GETKEYS", "mset", "a", "b", "c", "d"), [b"a", b"c"], "keys")
        check_eq(c.call("COMMAND", "GETKEYS", "ping", "x"),
                 Error("ERR The command has no key arguments"), "GETKEYS no keys")
        check_eq(c.call("COMMAND", "GETKEYS", "nosuch", "a"),
                 Error("ERR Invalid command specified"), "GETKEYS unknown")


def test_config():
    with D.conn() as c:
        check_eq(c.call("CONFIG", "GET", "save"), [b"save", b""], "save")
        check_eq(c.call("CONFIG", "GET", "appendonly"), [b"appendonly", b"no"], "appendonly")
        check_eq(c.call("CONFIG", "GET", "save", "appendonly"),
                 [b"save", b"", b"appendonly", b"no"], "two at once")
        check_eq(c.call("CONFIG", "GET", "port", "bind"),
                 [b"port", str(BASE).encode(), b"bind", b"127.0.0.1"], "port bind")
        maxes = c.call("CONFIG", "GET", "*max*")
        check(b"maxclients" in maxes[::2] and b"proto-max-bulk-len" in maxes[::2], f"{maxes}")
        check_eq(c.call("CONFIG", "GET", "MAXCLIENTS"), [b"maxclients", b"10000"], "nocase")
        check_eq(c.call("CONFIG", "GET", "nosuch"), [], "no match")
        check_eq(c.call("CONFIG", "GET"),
                 Error("ERR wrong number of arguments for 'config|get' command"), "GET arity")
        check_eq(c.call("CONFIG", "SET", "maxclients", "50"), Simple("OK"), "SET")
        check_eq(c.call("CONFIG", "GET", "maxclients"), [b"maxclients", b"50"], "SET applied")
        check_eq(c.call("CONFIG", "SET", "maxclients", "10000", "loglevel", "nope"),
                 Error("ERR CONFIG SET failed (possibly related to argument 'loglevel') - "
                       "argument(s) must be one of the following: debug, info, warn, error"),
                 "bad loglevel")
        check_eq(c.call("CONFIG", "GET", "maxclients"), [b"maxclients", b"50"], "all or nothing")
        check_eq(c.call("CONFIG", "SET", "maxclients", "10000"), Simple("OK"), "restore")
        check_eq(c.call("CONFIG", "SET", "foo", "bar"),
                 Error("ERR Unknown option or number of arguments for CONFIG SET - 'foo'"), "foo")
        check_eq(c.call("CONFIG", "SET", "maxclients", "abc"),
                 Error("ERR CONFIG SET failed (possibly related to argument 'maxclients') - "
                       "argument couldn't be parsed into an integer"), "abc")
        check_eq(c.call("CONFIG", "SET", "maxclients", "1", "maxclients", "2"),
                 Error("ERR CONFIG SET failed (possibly related to argument 'maxclients') - "
                       "duplicate parameter"), "duplicate")
        check_eq(c.call("CONFIG", "SET", "port", "1"),
                 Error("ERR CONFIG SET failed (possibly related to argument 'port') - "
                       "can't set immutable config"), "immutable")
        check_eq(c.call("CONFIG", "SET", "save", ""), Simple("OK"), "save '' is what we do")
        check_eq(c.call("CONFIG", "SET", "maxclients", "1", "x"),
                 Error("ERR wrong number of arguments for 'config|set' command"), "odd pairs")
        check_eq(c.call("CONFIG", "RESETSTAT"), Simple("OK"), "RESETSTAT")


def info_fields(text):
    fields = {}
    for line in text.split("\r\n"):
        if line and not line.startswith("#"):
            k, _, v = line.partition(":")
            fields[k] = v
    return fields


def test_info_and_dbsize():
    with D.conn() as c:
        check_eq(c.call("FLUSHALL"), Simple("OK"), "FLUSHALL")
        check_eq(c.call("INFO", "keyspace"), b"# Keyspace\r\n", "empty keyspace")
        c.call("SET", "k1", "v")
        c.call("SET", "k2", "v", "EX", "1000")
        check_eq(c.call("DBSIZE"), 2, "DBSIZE")
        check_eq(c.call("INFO", "keyspace"),
                 b"# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n", "INFO keyspace")
        check_eq(c.call("INFO", "nosuch"), b"", "unknown section")
        two = c.call("INFO", "clients", "KEYSPACE").decode()
        check(two.startswith("# Clients\r\n") and "\r\n\r\n# Keyspace\r\n" in two, repr(two))
        c.call("GET", "k1")
        c.call("GET", "missing")
        text = c.call("INFO").decode()
        for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"]:
            check(section + "\r\n" in text, f"INFO lacks {section}")
        f = info_fields(text)
        check_eq(f["redis_version"], "7.0.0", "redis_version")
        check(re.fullmatch(r"\d+\.\d+\.\d+", f["raftd_version"]), "raftd_version")
        check_eq(f["tcp_port"], str(BASE), "tcp_port")
        check_eq(f["redis_mode"], "standalone", "redis_mode")
        check_eq(f["role"], "master", "role")
        for k in ["uptime_in_seconds", "connected_clients", "used_memory",
                  "total_commands_processed", "instantaneous_ops_per_sec", "keyspace_hits",
                  "keyspace_misses", "expired_keys", "total_connections_received",
                  "process_id", "maxclients"]:
            check(re.fullmatch(r"\d+", f.get(k, "")), f"INFO {k}={f.get(k)!r}")
        check(int(f["keyspace_hits"]) >= 1 and int(f["keyspace_misses"]) >= 1, "hits/misses")
        check(int(f["connected_clients"]) >= 1, "connected_clients")
        check_eq(f["db0"], "keys=2,expires=1,avg_ttl=0", "db0 line")
        everything = c.call("INFO", "everything").decode()
        check("# CPU\r\n" in everything and "# Replication\r\n" in everything, "INFO everything")


def test_expired_keys_are_reaped():
    with D.conn() as c:
        c.call("FLUSHALL")
        for i in range(50):
            c.call("SET", f"short:{i}", "v", "PX", "50")
        c.call("SET", "long", "v", "EX", "1000")
        wait_until(lambda: c.call("GET", "short:0") is None, what="the key to expire")
        # No client touches the other keys: the background sweep must remove them.
        wait_until(lambda: c.call("DBSIZE") == 1, what="expired keys to be reaped")
        f = info_fields(c.call("INFO", "stats").decode())
        check(int(f["expired_keys"]) >= 50, f"expired_keys={f['expired_keys']}")
        check_eq(c.call("GET", "long"), b"v", "live key kept")


def test_quit_time_and_misc():
    with D.conn() as c:
        t = c.call("TIME")
        check(len(t) == 2 and all(x.isdigit() for x in t), f"TIME {t}")
        c.send("QUIT")
        check_eq(c.read_until_closed(), b"+OK\r\n", "QUIT")
    with D.conn() as c:
        c.send_raw(b"QUIT\r\nPING\r\n")
        check_eq(c.read_until_closed(), b"+OK\r\n", "nothing after QUIT runs")


def test_redis_cli_interactive_help():
    # redis-cli builds its help and hints from COMMAND DOCS when it starts its REPL; a reply it
    # cannot digest would crash it here.
    out = D.cli(input=b"HELP GET\nHELP CLIENT SETNAME\nHELP @connection\nPING\n")
    check("GET" in out and "summary:" in out and "group:" in out, f"HELP output: {out!r}")
    check("SETNAME" in out, f"HELP CLIENT SETNAME: {out!r}")
    check(out.rstrip().endswith("PONG"), f"REPL output: {out!r}")


def test_redis_benchmark_runs():
    res = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(BASE), "-t",
                          "set,get,ping", "-n", "2000", "-c", "5", "-q"],
                         capture_output=True, timeout=60, text=True)
    check_eq(res.returncode, 0, f"redis-benchmark exit code ({res.stderr})")
    check("WARN" not in res.stdout + res.stderr and "ERROR" not in res.stdout + res.stderr,
          f"redis-benchmark complained: {res.stdout!r} {res.stderr!r}")
    for t in ["SET", "GET", "PING_MBULK"]:
        check(re.search(rf"^{t}: [\d.]+ requests per second", res.stdout, re.M),
              f"no {t} line: {res.stdout!r}")


with Daemon(BINARY, BASE) as D:
    run_tests([
        ("command_rows_match_redis", test_command_rows_match_redis),
        ("basic_commands_with_redis_cli", test_basic_commands_with_redis_cli),
        ("error_texts", test_error_texts),
        ("hello", test_hello),
        ("client_commands", test_client_commands),
        ("command_introspection", test_command_introspection),
        ("config", test_config),
        ("info_and_dbsize", test_info_and_dbsize),
        ("expired_keys_are_reaped", test_expired_keys_are_reaped),
        ("quit_time_and_misc", test_quit_time_and_misc),
        ("redis_cli_interactive_help", test_redis_cli_interactive_help),
        ("redis_benchmark_runs", test_redis_benchmark_runs),
    ])
