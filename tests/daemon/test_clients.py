"""server_e2e_clients: thousands of concurrent clients, the max-clients limit, clients in
threads hammering the same keys."""

import resource
import socket
import threading

from harness import (Conn, Daemon, Error, Simple, binary_from_argv, check, check_eq, encode,
                     run_tests, wait_until)

BINARY, BASE = binary_from_argv()


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def test_thousands_of_concurrent_clients(d, n):
    conns = []
    try:
        for _ in range(n):
            conns.append(Conn(d.port))
        # Every client has a request outstanding at the same time.
        for i, c in enumerate(conns):
            c.send_raw(encode("SET", f"c:{i}", str(i)) + encode("GET", f"c:{i}"))
        for i, c in enumerate(conns):
            check_eq(c.read_reply(), Simple("OK"), f"client {i} SET")
            check_eq(c.read_reply(), str(i).encode(), f"client {i} GET")
        clients = int(conns[0].call("INFO", "clients").decode().split("connected_clients:")[1]
                      .split("\r\n")[0])
        check(clients >= n, f"connected_clients={clients}, expected >= {n}")
        check_eq(conns[-1].call("DBSIZE") >= n, True, "every client's key is stored")
    finally:
        for c in conns:
            c.close()


def test_threads_share_keys(d):
    errors = []
    threads_n, per_thread = 16, 300

    # INCR's exact value depends on interleaving; check the total instead.
    def worker_incr(t):
        try:
            with d.conn() as c:
                last = 0
                for i in range(per_thread):
                    v = c.call("INCR", "shared:counter")
                    check(isinstance(v, int) and v > last, f"INCR went from {last} to {v}")
                    last = v
                    c.call("SET", f"t:{t}", str(i))
                    check_eq(c.call("GET", f"t:{t}"), str(i).encode(), "own key")
        except Exception as e:
            errors.append(f"thread {t}: {e!r}")

    with d.conn() as c:
        c.call("DEL", "shared:counter")
    threads = [threading.Thread(target=worker_incr, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    check(not errors, "; ".join(errors))
    with d.conn() as c:
        check_eq(c.call("GET", "shared:counter"), str(threads_n * per_thread).encode(), "total")


def test_max_clients():
    with Daemon(BINARY, BASE + 2, ["--max-clients", "3"]) as d:
        # Daemon.start() connected once to check readiness; that connection is closed, but the
        # daemon may not have noticed yet.
        conns = []
        try:
            def fill():
                while len(conns) < 3:
                    c = Conn(d.port)
                    try:
                        if c.call("PING") != Simple("PONG"):
                            c.close()
                            return False
                    except (EOFError, OSError):
                        c.close()
                        return False
                    conns.append(c)
                return True
            wait_until(fill, what="three clients admitted")
            extra = Conn(d.port)
            check_eq(extra.read_until_closed(), b"-ERR max number of clients reached\r\n",
                     "fourth client")
            extra.close()
            stats = conns[0].call("INFO", "stats").decode()
            check("rejected_connections:" in stats and "rejected_connections:0" not in stats,
                  "rejected_connections counted")
            conns.pop().close()
            wait_until(lambda: fill(), what="a slot to free up")
        finally:
            for c in conns:
                c.close()


def test_abrupt_disconnects(d):
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", d.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(encode("SET", "abrupt", "v") * 100 + b"*3\r\n$3\r\nSET\r\n")
        s.close()  # RST with unread replies and a half-sent command
    with d.conn() as c:
        check_eq(c.call("PING"), Simple("PONG"), "daemon alive")
        wait_until(lambda: int(c.call("INFO", "clients").decode()
                               .split("connected_clients:")[1].split("\r\n")[0]) == 1,
                   what="closed clients to be forgotten")


limit = raise_fd_limit(8192)
N = max(100, min(2000, (limit - 200) // 2))
with Daemon(BINARY, BASE) as D:
    run_tests([
        (f"{N}_concurrent_clients", lambda: test_thousands_of_concurrent_clients(D, N)),
        ("threads_share_keys", lambda: test_threads_share_keys(D)),
        ("max_clients", test_max_clients),
        ("abrupt_disconnects", lambda: test_abrupt_disconnects(D)),
    ])
