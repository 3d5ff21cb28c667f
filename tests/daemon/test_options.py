"""server_e2e_options: the command line, the config file, logging and process lifecycle."""

import os
import re
import subprocess
import tempfile

from harness import (Daemon, Error, Simple, binary_from_argv, check, check_eq, repo_root,
                     run_tests, wait_until)

BINARY, BASE = binary_from_argv()


def run(*args, timeout=20):
    return subprocess.run([BINARY, *args], capture_output=True, timeout=timeout, text=True)


def test_help():
    res = run("--help")
    check_eq(res.returncode, 0, "exit code of --help")
    for flag in ["-a, --addr", "-d, --dir", "also --data-dir", "-e, --ensemble", "-i, --id",
                 "--config", "--loglevel", "also --log-level", "--logfile", "also --log-file",
                 "--proto-max-bulk-len", "--maxclients", "also --max-clients", "--version"]:
        check(flag in res.stdout, f"--help lacks {flag}: {res.stdout}")
    check_eq(run("-h").stdout, res.stdout, "-h output")


def test_version():
    res = run("--version")
    check_eq(res.returncode, 0, "exit code of --version")
    check(re.fullmatch(r"raftd \d+\.\d+\.\d+\n", res.stdout), f"version line: {res.stdout!r}")


def test_bad_options_exit_2():
    with tempfile.TemporaryDirectory() as tmp:
        bad_conf = os.path.join(tmp, "bad.conf")
        with open(bad_conf, "w") as f:
            f.write("no-such-option = 1\n")
        twice_conf = os.path.join(tmp, "twice.conf")
        with open(twice_conf, "w") as f:
            f.write("maxclients 5\nmax-clients 6\n")
        bad_value_conf = os.path.join(tmp, "bad_value.conf")
        with open(bad_value_conf, "w") as f:
            f.write("# comment\ntick-ms 0\n")
        cases = [
            (["--no-such-flag"], "unrecognised option"),
            (["-a", "nocolon"], "expected host:port"),
            (["-a", "127.0.0.1:0"], "bad port"),
            (["-a", "127.0.0.1:65535"], "bad port"),
            (["-a", "127.0.0.1:x"], "bad port"),
            (["--log-level", "loud"], "--log-level"),
            (["-i", "0"], "--id"),
            (["-i", "abc"], "--id"),
            (["-e", "127.0.0.1:7001,127.0.0.1:7001"], "listed twice"),
            (["-e", "127.0.0.1:7001,,127.0.0.1:7003"], "empty member"),
            (["-e", "x/127.0.0.1:7001"], "bad node id"),
            (["-a", "127.0.0.1:7001", "-i", "2", "-e", "1/127.0.0.1:7001,2/127.0.0.1:7003"],
             "does not match"),
            (["-a", "127.0.0.1:7005", "-i", "2", "-e", "2/127.0.0.1:7003"], "node id 2"),
            (["--proto-max-bulk-len", "10"], "--proto-max-bulk-len"),
            (["--max-clients", "0"], "--max-clients"),
            (["--max-clients"], "missing"),
            (["--maxclients", "5", "--max-clients", "6"], "set the same option"),
            (["--maxclients", "x"], "--maxclients: argument couldn't be parsed into an integer"),
            (["--max"], "unrecognised option"),  # no abbreviations
            (["--follower-writes", "sometimes"], "forward, redirect"),
            (["--peer-secret", "short"], "at least 16 characters"),
            (["--config", os.path.join(tmp, "missing.conf")], "cannot read config file"),
            (["--config", bad_conf], "line 1: unknown option 'no-such-option'"),
            (["--config", twice_conf], "maxclients is already set on line 1"),
            (["--config", bad_value_conf], "line 2: tick-ms: argument must be between 1 and 10000"),
        ]
        for args, needle in cases:
            res = run(*args, "-d", os.path.join(tmp, "d"))
            check_eq(res.returncode, 2, f"exit code for {args}")
            check(needle in res.stderr, f"stderr for {args} lacks {needle!r}: {res.stderr!r}")
            check(res.stderr.startswith("raftd: "), f"stderr for {args}: {res.stderr!r}")
        check(not os.path.exists(os.path.join(tmp, "d")), "a failed start created the data dir")


def test_shipped_config_file_loads():
    conf = os.path.join(repo_root(), "conf", "raftd.conf")
    with Daemon(BINARY, BASE, ["--config", conf]) as d:
        # Every default in the file matches the built-in default.
        check_eq(d.cli("CONFIG", "GET", "maxclients"), "maxclients\n10000\n", "maxclients")
        check_eq(d.cli("CONFIG", "GET", "proto-max-bulk-len"),
                 "proto-max-bulk-len\n536870912\n", "proto-max-bulk-len")
        check_eq(d.cli("CONFIG", "GET", "client-query-buffer-limit"),
                 "client-query-buffer-limit\n1073741824\n", "client-query-buffer-limit")
        check_eq(d.cli("CONFIG", "GET", "loglevel"), "loglevel\ninfo\n", "loglevel")
        check_eq(d.cli("CONFIG", "GET", "port"), f"port\n{BASE}\n", "port from -a")
        check(d.cli("INFO", "server").find(f"config_file:{conf}") >= 0, "INFO config_file")


def test_command_line_overrides_config_file():
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "raftd.conf")
        with open(conf, "w") as f:
            f.write("# test\nmax-clients = 7\nlog-level = debug\nproto-max-bulk-len = 2mb\n"
                    "addr = 127.0.0.1:1\n")
        with Daemon(BINARY, BASE + 2, ["--config", conf, "--max-clients", "9"]) as d:
            check_eq(d.cli("CONFIG", "GET", "maxclients"), "maxclients\n9\n", "flag wins")
            check_eq(d.cli("CONFIG", "GET", "loglevel"), "loglevel\ndebug\n", "from the file")
            check_eq(d.cli("CONFIG", "GET", "proto-max-bulk-len"),
                     "proto-max-bulk-len\n2097152\n", "memory units in the file")
            check_eq(d.cli("CONFIG", "GET", "port"), f"port\n{BASE + 2}\n", "-a beats the file")


def test_data_dir_created_and_log_file():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "nested", "deeper", "data")
        log = os.path.join(tmp, "raftd.log")
        d = Daemon(BINARY, BASE + 4, ["--log-file", log, "--log-level", "debug"], data_dir=data)
        with d:
            check(os.path.isdir(data), "data dir was not created")
            d.cli("PING")
            wait_until(lambda: os.path.exists(log) and "connected" in open(log).read(),
                       what="a debug line about a client in the log file")
        code = d.proc.returncode
        check_eq(code, 0, "exit code after SIGTERM")
        lines = open(log).read().splitlines()
        check(lines, "log file is empty")
        # Timestamp, level, then the node (and once known its term and role) in brackets.
        pattern = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) "
                             r"\[n\d+( t\d+ \w+)?\] .+")
        for line in lines:
            check(pattern.fullmatch(line), f"log line format: {line!r}")
        check(any("serving clients on 127.0.0.1:" in l for l in lines), "startup line")
        check(any("received SIGTERM" in l for l in lines), "shutdown line")


def test_ensemble_of_one_serves():
    # An ensemble naming only this node is a one-voter cluster: it elects itself and serves.
    args = ["-e", f"7/127.0.0.1:{BASE + 6}", "-i", "7"]
    with Daemon(BINARY, BASE + 6, args) as d:
        check_eq(d.cli("CONFIG", "GET", "ensemble"), f"ensemble\n7/127.0.0.1:{BASE + 6}\n",
                 "ensemble")
        check_eq(d.cli("CONFIG", "GET", "id"), "id\n7\n", "id")
        wait_until(lambda: d.cli("SET", "k", "v") == "OK\n", what="a write to succeed")
        check_eq(d.cli("GET", "k"), "v\n", "read back")


def help_options():
    """{name: default} of every setting --help lists."""
    helptext = run("--help").stdout
    found = {}
    for m in re.finditer(r"^  (?:-\w, |    )--([\w-]+) \S+ \(default (\"\"|[^;)]*)", helptext,
                         re.M):
        found[m.group(1)] = "" if m.group(2) == '""' else m.group(2)
    check(len(found) >= 20, f"parsed too few options from --help: {found}")
    return found


def read_conf(path):
    conf = {}
    with open(path) as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.strip().partition(" ")
                value = value.strip()
                conf[key] = "" if value == '""' else value
    return conf


def test_shipped_config_lists_every_option():
    # conf/raftd.conf lists every setting of --help, each with --help's default.
    defaults = help_options()
    conf = read_conf(os.path.join(repo_root(), "conf", "raftd.conf"))
    check_eq(sorted(conf), sorted(defaults), "options in conf/raftd.conf")
    for name, default in defaults.items():
        check_eq(conf[name], default, f"default of {name} in conf/raftd.conf")


def config_get(d, pattern):
    with d.conn() as c:
        flat = c.call("CONFIG", "GET", pattern)
    return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}


def test_config_get_lists_every_option():
    # One table: every option --help lists is a CONFIG GET parameter under the same name, and
    # a node started with no options shows each one's --help default.
    defaults = help_options()
    with Daemon(BINARY, BASE + 12) as d:
        got = config_get(d, "*")
        for name, default in defaults.items():
            check(name in got, f"CONFIG GET * lacks {name}: {sorted(got)}")
        for name in ["tick-ms", "election-ticks", "follower-writes", "read-consistency",
                     "request-timeout", "snapshot-interval", "loglevel", "maxclients",
                     "tcp-backlog", "peer-secret", "logfile", "ensemble"]:
            check_eq(got[name], defaults[name], f"CONFIG GET {name}")
        check_eq(got["max-entry-size"], "4194304", "max-entry-size in bytes")
        check_eq(got["addr"], f"127.0.0.1:{BASE + 12}", "addr")
        # Redis's names for clients that ask for them.
        for name in ["bind", "port", "databases", "save", "appendonly", "maxmemory"]:
            check(name in got, f"CONFIG GET * lacks {name}")


def test_config_set_live_options():
    with Daemon(BINARY, BASE + 14, ["--peer-secret", "0123456789abcdef-secret"]) as d:
        with d.conn() as c:
            check_eq(c.call("CONFIG", "GET", "peer-secret"), [b"peer-secret", b"(set)"],
                     "a secret is never shown")
            # Not live: refused with Redis's words, and nothing changes.
            err = c.call("CONFIG", "SET", "tick-ms", "50")
            check(isinstance(err, Error) and "can't set immutable config" in err.text, str(err))
            # Old spellings are the same option; all or nothing.
            err = c.call("CONFIG", "SET", "max-clients", "20", "maxclients", "30")
            check(isinstance(err, Error) and "duplicate parameter" in err.text, str(err))
            err = c.call("CONFIG", "SET", "maxclients", "20", "follower-writes", "never")
            check(isinstance(err, Error) and "forward, redirect" in err.text, str(err))
            check_eq(config_get(d, "maxclients"), {"maxclients": "10000"}, "all or nothing")
            for name, value, shown in [("maxclients", "2", "2"), ("loglevel", "debug", "debug"),
                                       ("request-timeout", "2500", "2500"),
                                       ("snapshot-interval", "3", "3"),
                                       ("follower-writes", "REDIRECT", "redirect"),
                                       ("read-consistency", "stale", "stale"),
                                       ("max-entry-size", "1mb", "1048576"),
                                       ("proto-max-bulk-len", "2mb", "2097152"),
                                       ("client-output-pause", "1mb", "1048576"),
                                       ("client-query-buffer-limit", "8mb", "8388608")]:
                check_eq(c.call("CONFIG", "SET", name, value), Simple("OK"), f"SET {name}")
                check_eq(config_get(d, name), {name: shown}, f"GET {name}")
            # They take effect: a third client is refused (this one and the next are two) ...
            # once the server has seen config_get's connections close (it counts a client
            # until it reads the close).
            wait_until(lambda: b"connected_clients:1\r\n" in c.call("INFO", "clients"),
                       what="only this client connected")
            with d.conn() as second:
                check_eq(second.call("PING"), Simple("PONG"), "second client")
                with d.conn() as third:
                    reply = third.read_reply()
                    check(isinstance(reply, Error) and "max number of clients" in reply.text,
                          f"third client: {reply!r}")
            # ... the log turns to debug ...
            c.call("PING")
            wait_until(lambda: " debug " in d.log(), what="a debug line after CONFIG SET")
            # ... the snapshot interval applies from now on ...
            for i in range(10):
                check_eq(c.call("SET", f"k{i}", "v"), Simple("OK"), "write")
            wait_until(lambda: b"snapshots_taken:0" not in c.call("INFO", "raft"),
                       what="a snapshot after snapshot-interval 3")
            # ... and writes over the new entry limit are refused.
            err = c.call("SET", "big", "x" * (1024 * 1024 + 10))
            check(isinstance(err, Error) and "max-entry-size" in err.text, str(err))


def test_config_rewrite():
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "raftd.conf")
        with open(conf, "w") as f:
            f.write("# my settings\nmax-clients = 7\n\nloglevel info\n"
                    "peer-secret 0123456789abcdef-secret\n")
        with Daemon(BINARY, BASE + 16, ["--config", conf]) as d:
            with d.conn() as c:
                check_eq(c.call("CONFIG", "SET", "maxclients", "50", "loglevel", "warn",
                                "request-timeout", "1234"), Simple("OK"), "CONFIG SET")
                check_eq(c.call("CONFIG", "REWRITE"), Simple("OK"), "CONFIG REWRITE")
        text = open(conf).read()
        check(text.startswith("# my settings\nmaxclients 50\n\nloglevel warn\n"), text)
        check("peer-secret 0123456789abcdef-secret\n" in text, f"secret kept: {text}")
        check("request-timeout 1234\n" in text, f"changed option appended: {text}")
        check("tick-ms" not in text, f"defaults are not written: {text}")
        # The rewritten file starts a node with the same settings.
        with Daemon(BINARY, BASE + 16, ["--config", conf]) as d:
            check_eq(config_get(d, "maxclients"), {"maxclients": "50"}, "after restart")
            check_eq(config_get(d, "request-timeout"), {"request-timeout": "1234"},
                     "after restart")
    with Daemon(BINARY, BASE + 18) as d:
        with d.conn() as c:
            check_eq(c.call("CONFIG", "REWRITE"),
                     Error("ERR The server is running without a config file"), "no file")


def test_redis_style_config_file():
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "raftd.conf")
        with open(conf, "w") as f:
            f.write('maxclients 12\nlogfile ""\nread-consistency   stale\n'
                    'snapshot-interval "500"\n')
        with Daemon(BINARY, BASE + 8, ["--config", conf]) as d:
            check_eq(config_get(d, "maxclients"), {"maxclients": "12"}, "maxclients")
            check_eq(config_get(d, "read-consistency"), {"read-consistency": "stale"},
                     "read-consistency")
            check_eq(config_get(d, "snapshot-interval"), {"snapshot-interval": "500"},
                     "quoted value")


def test_port_in_use_fails_cleanly():
    with Daemon(BINARY, BASE + 10):
        res = run("-a", f"127.0.0.1:{BASE + 10}", "-d", tempfile.mkdtemp(prefix="raftd-e2e-"))
        check_eq(res.returncode, 1, "exit code when the port is taken")
        check("cannot listen on" in res.stderr, f"stderr: {res.stderr!r}")


run_tests([
    ("help", test_help),
    ("version", test_version),
    ("bad_options_exit_2", test_bad_options_exit_2),
    ("shipped_config_file_loads", test_shipped_config_file_loads),
    ("command_line_overrides_config_file", test_command_line_overrides_config_file),
    ("data_dir_created_and_log_file", test_data_dir_created_and_log_file),
    ("ensemble_of_one_serves", test_ensemble_of_one_serves),
    ("shipped_config_lists_every_option", test_shipped_config_lists_every_option),
    ("config_get_lists_every_option", test_config_get_lists_every_option),
    ("config_set_live_options", test_config_set_live_options),
    ("config_rewrite", test_config_rewrite),
    ("redis_style_config_file", test_redis_style_config_file),
    ("port_in_use_fails_cleanly", test_port_in_use_fails_cleanly),
])
