"""Helpers for the daemon end-to-end tests: start build/bin/raftd as a real process, talk RESP
to it over raw sockets, run redis-cli against it. Standard library only.

Every wait has a deadline; nothing sleeps for a fixed time. The daemon is always stopped at the
end (the Daemon object is a context manager), and its log is printed when a test fails.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

DEFAULT_TIMEOUT = 20.0


class TestFailure(AssertionError):
    pass


def check(cond, message="check failed"):
    if not cond:
        raise TestFailure(message)


def check_eq(actual, expected, what=""):
    if actual != expected:
        raise TestFailure(f"{what}: expected {expected!r}, got {actual!r}")


def wait_until(predicate, timeout=DEFAULT_TIMEOUT, what="condition"):
    """Polls predicate() until it is truthy; returns its value or fails at the deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)  # polling interval, bounded by the deadline above
        delay = min(delay * 2, 0.1)


# ------------------------------------------------------------------------------ RESP client

class ProtocolError(Exception):
    pass


class Reply:
    """An error reply, kept apart from simple strings."""


class Error(Reply):
    def __init__(self, text):
        self.text = text

    def __eq__(self, other):
        return isinstance(other, Error) and other.text == self.text

    def __repr__(self):
        return f"Error({self.text!r})"


class Simple(Reply):
    def __init__(self, text):
        self.text = text

    def __eq__(self, other):
        return isinstance(other, Simple) and other.text == self.text

    def __repr__(self):
        return f"Simple({self.text!r})"


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """A raw TCP connection with an incremental RESP2 reply reader."""

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send(self, *args):
        self.send_raw(encode(*args))

    def call(self, *args):
        self.send(*args)
        return self.read_reply()

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def _line(self):
        while True:
            idx = self.buf.find(b"\r\n")
            if idx >= 0:
                line = bytes(self.buf[:idx])
                del self.buf[: idx + 2]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data = bytes(self.buf[:n])
        check(self.buf[n : n + 2] == b"\r\n", "bulk not terminated by CRLF")
        del self.buf[: n + 2]
        return data

    def read_reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return Simple(rest.decode())
        if kind == b"-":
            return Error(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read_reply() for _ in range(n)]
        raise ProtocolError(f"bad reply line {line!r}")

    def read_until_closed(self, timeout=DEFAULT_TIMEOUT):
        """Returns every byte until the server closes the connection."""
        self.sock.settimeout(timeout)
        data = bytes(self.buf)
        self.buf.clear()
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return data
            data += chunk


# ------------------------------------------------------------------------------ the daemon

def repo_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Daemon:
    """A raftd process on 127.0.0.1:port with its own temporary data directory."""

    def __init__(self, binary, port, extra_args=(), data_dir=None, wait=True):
        self.binary = binary
        self.port = port
        self.tmp = tempfile.mkdtemp(prefix=f"raftd-e2e-{port}-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "raftd.log")
        self.args = [binary, "-a", f"127.0.0.1:{port}", "-d", self.data_dir, *extra_args]
        self.proc = None
        self._wait = wait

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        rc = self.stop()
        # run_tests() ends with sys.exit(): code 0 means every test passed.
        failed = exc_type is not None and not (exc_type is SystemExit and not exc.code)
        bad_exit = rc != 0  # a crash, a sanitizer report, or an unclean shutdown
        if bad_exit:
            print(f"FAIL raftd exited with code {rc} after SIGTERM", flush=True)
        if failed or bad_exit:
            self.dump_log()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if bad_exit and not failed:
            raise SystemExit(1)
        return False

    def start(self):
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self.log_file, stderr=subprocess.STDOUT)
        if self._wait:
            self.wait_ready()

    def wait_ready(self, timeout=DEFAULT_TIMEOUT):
        def ready():
            if self.proc.poll() is not None:
                raise TestFailure(f"raftd exited early with code {self.proc.returncode}")
            try:
                with Conn(self.port, timeout=2) as c:
                    if c.call("PING") != Simple("PONG"):
                        return False
                    # A one-voter cluster answers before its self-election is durable; a
                    # write then would get -CLUSTERDOWN no leader (correctly). Tests start
                    # once it leads.
                    info = c.call("INFO", "raft")
                    if isinstance(info, str):
                        info = info.encode()
                    return b"raft_role:leader" in info
            except OSError:
                return False

        wait_until(ready, timeout, f"raftd on port {self.port} to answer PING and lead")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=DEFAULT_TIMEOUT):
        """SIGTERM, wait for a clean exit (code 0), SIGKILL if it does not come."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure("raftd did not stop within the deadline after SIGTERM")
        self.log_file.close()
        return self.proc.returncode

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def dump_log(self):
        sys.stderr.write(f"---- raftd log ({self.log_path}) ----\n{self.log()}\n---- end ----\n")

    def cli(self, *args, input=None, timeout=DEFAULT_TIMEOUT, check_rc=True):
        """Runs redis-cli against the daemon; returns stdout as text."""
        cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args]
        res = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)
        if check_rc and res.returncode != 0:
            raise TestFailure(
                f"{cmd} exited {res.returncode}: {res.stdout!r} {res.stderr!r}")
        return res.stdout.decode(errors="replace")

    def conn(self):
        return Conn(self.port)


# ------------------------------------------------------------------------------ test runner

def run_tests(tests):
    """Runs each (name, fn) in order; prints a summary; exits 1 if any failed."""
    failed = 0
    for name, fn in tests:
        start = time.monotonic()
        try:
            fn()
            print(f"PASS {name} ({time.monotonic() - start:.2f}s)", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc()
    print(f"{len(tests) - failed}/{len(tests)} passed", flush=True)
    sys.exit(1 if failed else 0)


def binary_from_argv():
    if len(sys.argv) < 2:
        sys.exit("usage: test_x.py RAFTD_BINARY [PORT_BASE]")
    return sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 21000
