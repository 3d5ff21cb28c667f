"""Real-process harness for raftd cluster and fault tests (Python 3 stdlib only).

Starts raftd processes on distinct loopback addresses (127.0.0.x) so that packet-level
partitions can be made with iptables between node addresses, talks RESP to them, and
cleans everything up (processes, iptables chain, data directories) at exit.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class RespError(Exception):
    """An error reply (-ERR ..., -CLUSTERDOWN ..., -TIMEOUT ...)."""


class RespClient:
    """Minimal blocking RESP2 client."""

    def __init__(self, host, port, timeout=5.0, source=None):
        self.host, self.port = host, port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, int):
                a = str(a)
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, *args):
        self.sock.sendall(self.encode(*args))

    def send_pipeline(self, commands):
        """Sends every command (a tuple of args) in one write; read_reply() each reply."""
        self.sock.sendall(b"".join(self.encode(*c) for c in commands))

    def call(self, *args):
        """Sends one command and returns its reply; error replies raise RespError."""
        self.send(*args)
        return self.read_reply()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed by %s:%d" % (self.host, self.port))
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read_reply() for _ in range(n)]
        raise ValueError("bad reply line %r" % line)


def wait_until(cond, timeout, what, interval=0.05):
    """Polls cond() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except (OSError, RespError, ConnectionError, ValueError) as e:
            last_exc = e
        time.sleep(interval)
    raise TimeoutError("timed out after %.1fs waiting for %s (last error: %r)" % (timeout, what, last_exc))


def parse_info(text):
    if isinstance(text, bytes):
        text = text.decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        k, v = line.split(":", 1)
        out[k] = v
    return out


class Node:
    def __init__(self, cluster, index, host, port):
        self.cluster = cluster
        self.index = index
        self.host = host
        self.port = port
        self.addr = "%s:%d" % (host, port)
        self.data_dir = os.path.join(cluster.workdir, "n%d" % index)
        self.log_path = os.path.join(cluster.workdir, "n%d.log" % index)
        self.proc = None
        self.paused = False

    def args(self):
        others = [n.addr for n in self.cluster.nodes if n is not self]
        a = [self.cluster.binary, "-a", self.addr, "-d", self.data_dir, "--log-file", self.log_path,
             "--log-level", self.cluster.log_level]
        if others:
            a += ["-e", ",".join(others)]
        return a + list(self.cluster.extra_args)

    def start(self, wait=True):
        assert self.proc is None or self.proc.poll() is not None, "node already running"
        os.makedirs(self.data_dir, exist_ok=True)
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path + ".stderr", "ab"))
        self.paused = False
        if wait:
            wait_until(self.ping, 20, "%s to answer PING" % self.addr)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def ping(self):
        c = self.client(timeout=1.0)
        try:
            return c.call("PING") == "PONG"
        finally:
            c.close()

    def kill9(self):
        if self.alive():
            if self.paused:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def terminate(self, timeout=15):
        if self.alive():
            if self.paused:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("%s did not stop on SIGTERM within %ds" % (self.addr, timeout))
        return None

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def client(self, timeout=5.0):
        return RespClient(self.host, self.port, timeout=timeout, source=self.cluster.client_source)

    def call(self, *args, timeout=5.0):
        c = self.client(timeout=timeout)
        try:
            return c.call(*args)
        finally:
            c.close()

    def info(self, section="raft"):
        return parse_info(self.call("INFO", section))


class Cluster:
    """N raftd nodes on <subnet>.<base_host + i> (all of 127/8 is loopback), client ports `port`,
    peers on port+1. Each test file has a subnet of its own, so that the iptables rules one
    test's partitions add never match another test's nodes (ctest runs them side by side)."""

    def __init__(self, n, port, base_host=10, binary=None, extra_args=(), log_level="info", name=None,
                 subnet="127.0.0"):
        self.binary = binary or os.environ.get("RAFTD_BIN") or os.path.join(REPO, "build", "bin", "raftd")
        self.workdir = tempfile.mkdtemp(prefix="raftd-%s-" % (name or "cluster"))
        self.extra_args = list(extra_args)
        self.log_level = log_level
        self.client_source = "127.0.0.1"
        self.chain = "RAFTD_%d" % port
        self.iptables_ready = False
        self.nodes = [Node(self, i + 1, "%s.%d" % (subnet, base_host + i + 1), port + 10 * i)
                      for i in range(n)]
        self.keep = False
        atexit.register(self.cleanup)

    def start(self):
        for n in self.nodes:
            n.start(wait=False)
        for n in self.nodes:
            wait_until(n.ping, 20, "%s to answer PING" % n.addr)

    def leader(self, timeout=15, among=None):
        """Waits until exactly one live node (of `among`) says it is leader and the others agree."""
        among = among or [n for n in self.nodes if n.alive() and not n.paused]

        def find():
            leaders = [n for n in among if n.info().get("raft_role") == "leader"]
            if len(leaders) != 1:
                return None
            lid = leaders[0].info().get("raft_node_id")
            for n in among:
                if n.info().get("raft_leader_id") != lid:
                    return None
            return leaders[0]

        return wait_until(find, timeout, "a single agreed leader among %s" % [n.addr for n in among])

    # Packet-level partitions between node addresses (loopback), in a chain of our own.
    def _iptables(self, *args, check=True):
        return subprocess.run(["iptables", "-w", *args], check=check, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode

    def _ensure_chain(self):
        if self.iptables_ready:
            return
        self._iptables("-N", self.chain, check=False)
        self._iptables("-F", self.chain)
        if self._iptables("-C", "INPUT", "-j", self.chain, check=False) != 0:
            self._iptables("-I", "INPUT", "-j", self.chain)
        self.iptables_ready = True

    def partition(self, *groups):
        """Cuts all traffic between nodes of different groups (each group a list of nodes)."""
        self._ensure_chain()
        self._iptables("-F", self.chain)
        for i, g in enumerate(groups):
            for h in groups[i + 1:]:
                for a in g:
                    for b in h:
                        self._iptables("-A", self.chain, "-s", a.host, "-d", b.host, "-j", "DROP")
                        self._iptables("-A", self.chain, "-s", b.host, "-d", a.host, "-j", "DROP")

    def heal(self):
        if self.iptables_ready:
            self._iptables("-F", self.chain)

    def cleanup(self):
        for n in self.nodes:
            try:
                n.kill9()
            except Exception:
                pass
        if self.iptables_ready:
            self._iptables("-D", "INPUT", "-j", self.chain, check=False)
            self._iptables("-F", self.chain, check=False)
            self._iptables("-X", self.chain, check=False)
            self.iptables_ready = False
        if not self.keep and os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def dump_logs(self, lines=60):
        for n in self.nodes:
            for path in (n.log_path, n.log_path + ".stderr"):
                if os.path.exists(path):
                    with open(path, errors="replace") as f:
                        tail = f.readlines()[-lines:]
                    print("==== %s (%s) last %d lines" % (n.addr, os.path.basename(path), len(tail)))
                    print("".join(tail), end="")
