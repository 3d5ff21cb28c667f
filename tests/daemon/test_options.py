"""server_e2e_options: the command line, the config file, logging and process lifecycle."""

import os
import re
import subprocess
import tempfile

from harness import (Daemon, binary_from_argv, check, check_eq, repo_root, run_tests,
                     wait_until)

BINARY, BASE = binary_from_argv()


def run(*args, timeout=20):
    return subprocess.run([BINARY, *args], capture_output=True, timeout=timeout, text=True)


def test_help():
    res = run("--help")
    check_eq(res.returncode, 0, "exit code of --help")
    for flag in ["-a [ --addr ]", "-d [ --data-dir ]", "-e [ --ensemble ]", "-i [ --id ]",
                 "--config", "--log-level", "--log-file", "--proto-max-bulk-len",
                 "--max-clients", "--version"]:
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
            (["--config", os.path.join(tmp, "missing.conf")], "cannot read config file"),
            (["--config", bad_conf], "no-such-option"),
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


def test_shipped_config_lists_every_option():
    # conf/raftd.conf lists every setting of --help, each with --help's default.
    helptext = run("--help").stdout
    defaults = {}
    for m in re.finditer(r"^  (?:-\w \[ )?--([\w-]+)(?: \])?(?: [^ (]+)?(?: \(=([^)]*)\))?",
                         helptext, re.M):
        name, default = m.group(1), m.group(2) or ""
        if name not in ("help", "version", "config"):
            defaults[name] = default
    check(len(defaults) >= 12, f"parsed too few options from --help: {defaults}")
    conf = {}
    with open(os.path.join(repo_root(), "conf", "raftd.conf")) as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                conf[key.strip()] = value.strip()
    check_eq(sorted(conf), sorted(defaults), "options in conf/raftd.conf")
    for name, default in defaults.items():
        check_eq(conf[name], default, f"default of {name} in conf/raftd.conf")


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
    ("port_in_use_fails_cleanly", test_port_in_use_fails_cleanly),
])
