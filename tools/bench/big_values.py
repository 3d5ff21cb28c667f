#!/usr/bin/env python3
"""How long one big write keeps everybody else waiting.

Starts a single node and a 3-node cluster (build/bin/raftd, fresh directories), and for each
value size sends one SET of that size while a probe client on every node runs SET+GET of a
small key in a loop; prints the big SET's reply and latency and the worst probe latency per
node. Sizes above max-entry-size are refused before they are proposed; what remains is the
time to receive and discard them. Values are built before the probes start and sent as
prebuilt bytes (building a 500 MB value in the probing process holds its GIL and looks like a
server stall).

Usage: tools/bench/big_values.py [--sizes 1,3,64,500] [--port 27100] [--reps 3]
Env: RAFTD_BIN (default build/bin/raftd), RAFTD_ARGS (extra flags for every node).
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("RAFTD_BIN", os.path.join(REPO, "build", "bin", "raftd"))


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def reply_line(s):
    buf = b""
    while b"\r\n" not in buf:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf.split(b"\r\n")[0].decode(errors="replace")


def call(s, *args):
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    return reply_line(s)


def info_field(port, field):
    s = connect(port)
    s.sendall(b"*2\r\n$4\r\nINFO\r\n$4\r\nraft\r\n")
    data = b""
    while True:
        data += s.recv(65536)
        if data.count(b"\r\n") > 3 and data.endswith(b"\r\n\r\n") or b"raft_node0" in data:
            break
    s.close()
    for line in data.decode().splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    return ""


def start_nodes(ports, workdir):
    procs = []
    extra = os.environ.get("RAFTD_ARGS", "").split()
    for p in ports:
        others = ",".join("127.0.0.1:%d" % q for q in ports if q != p)
        args = [BIN, "-a", "127.0.0.1:%d" % p, "-d", os.path.join(workdir, str(p)),
                "--log-file", os.path.join(workdir, "%d.log" % p)] + extra
        if others:
            args += ["-e", others]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.time() + 30
    while time.time() < deadline:
        roles = []
        for p in ports:
            try:
                roles.append(info_field(p, "raft_role"))
            except OSError:
                roles.append("")
        if roles.count("leader") == 1:
            return procs, ports[roles.index("leader")]
        time.sleep(0.1)
    raise SystemExit("no leader within 30 s")


def measure(write_port, probe_ports, size):
    value = b"x" * (size << 20)
    payload = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % len(value) + value + b"\r\n"
    del value
    stop = threading.Event()
    worst = {}

    def probe(port):
        s = connect(port)
        w = 0.0
        while not stop.is_set():
            t = time.monotonic()
            call(s, b"SET", b"probe", b"1")
            call(s, b"GET", b"probe")
            w = max(w, time.monotonic() - t)
            time.sleep(0.005)
        worst[port] = w
        s.close()

    threads = [threading.Thread(target=probe, args=(p,)) for p in probe_ports]
    for t in threads:
        t.start()
    time.sleep(0.3)
    s = connect(write_port)
    t = time.monotonic()
    s.sendall(payload)
    reply = reply_line(s)
    took = time.monotonic() - t
    s.close()
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    return reply, took, worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,3,64,500", help="value sizes in MB")
    ap.add_argument("--port", type=int, default=27100)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    print("big_values: %s, %s, one SET of each size while every node serves SET+GET probes "
          "(median of %d)" % (BIN, time.strftime("%Y-%m-%d"), a.reps))
    for label, ports in (("single node", [a.port]),
                         ("3 nodes", [a.port + 10, a.port + 20, a.port + 30])):
        workdir = tempfile.mkdtemp(prefix="raftd-bigvalues-")
        procs = []
        try:
            procs, leader = start_nodes(ports, workdir)
            follower = next((p for p in ports if p != leader), None)
            term0 = info_field(leader, "raft_current_term")
            targets = [("leader", leader)] + ([("follower", follower)] if follower else [])
            for where, port in targets:
                for size in sizes:
                    took, worst_all, replies = [], [], set()
                    for _ in range(a.reps):
                        r, t, w = measure(port, ports, size)
                        replies.add(r[:50])
                        took.append(t)
                        worst_all.append(max(w.values()))
                    print("  %-11s SET %4d MB via %-8s %-52s %6.0f ms; worst probe %5.0f ms" % (
                        label, size, where, " | ".join(sorted(replies)),
                        1000 * statistics.median(took), 1000 * statistics.median(worst_all)))
            term = info_field(leader, "raft_current_term")
            print("  %-11s leader term at start %s, after the run %s (same: no election)" % (
                label, term0, term))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
            if os.environ.get("KEEP"):
                print("  kept %s" % workdir)
            else:
                shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
