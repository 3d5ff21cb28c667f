"""server_e2e_durability: a single node acknowledges a write only once its log holds it.
Clients write (one at a time and pipelined) while raftd is killed with SIGKILL; after a restart
on the same data directory every acknowledged write is there, and so is the newest acknowledged
value of every key. SIGKILL leaves the kernel's page cache alone, so this shows that replies
wait for the log write (a lone voter writes on its loop before it applies and replies); that the
write is also synced is shown by the storage crash tests and the fault suite's crash-all runs."""

import os
import shutil
import signal
import threading
import time

from harness import Daemon, Simple, binary_from_argv, check, check_eq, encode, run_tests

BINARY, BASE = binary_from_argv()


def writer(d, name, pipelined, acked, stop):
    """SETs name:i = i until the connection dies; records each i whose +OK arrived."""
    try:
        with d.conn() as c:
            i = 0
            while not stop.is_set():
                n = 16 if pipelined else 1
                c.send_raw(b"".join(encode("SET", f"{name}:{i + k}", str(i + k)) +
                                    encode("SET", f"{name}:last", str(i + k)) for k in range(n)))
                for k in range(n):
                    for _ in range(2):
                        if c.read_reply() != Simple("OK"):
                            return
                    acked.append(i + k)
                i += n
    except Exception:  # noqa: BLE001 - the connection dies with the kill, however it shows
        pass


def test_acknowledged_writes_survive_sigkill():
    d = Daemon(BINARY, BASE)
    d.start()
    data_dir = d.data_dir
    stop = threading.Event()
    names = {"one": False, "piped": True, "piped2": True}
    acked = {n: [] for n in names}
    threads = [threading.Thread(target=writer, args=(d, n, p, acked[n], stop), daemon=True)
               for n, p in names.items()]
    for t in threads:
        t.start()
    time.sleep(1.0)  # let the writers get going: the kill lands mid-stream
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait()
    stop.set()
    for t in threads:
        t.join(timeout=10)
    check(all(acked[n] for n in names), f"every writer got acknowledgements: {acked.keys()}")

    again = Daemon(BINARY, BASE, data_dir=data_dir)
    again.start()
    try:
        with again.conn() as c:
            for n in names:
                # Every acknowledged write is there; the newest acknowledged value of "last" is
                # at least the last acknowledged one (writes in flight at the kill may have
                # landed too, never fewer).
                for i in acked[n]:
                    check_eq(c.call("GET", f"{n}:{i}"), str(i).encode(), f"{n}:{i} after restart")
                last = int(c.call("GET", f"{n}:last"))
                check(last >= acked[n][-1], f"{n}:last is {last}, acknowledged {acked[n][-1]}")
    finally:
        rc = again.stop()
        d.log_file.close()
        shutil.rmtree(d.tmp, ignore_errors=True)
        shutil.rmtree(again.tmp, ignore_errors=True)
    check_eq(rc, 0, "clean exit after the restart")


run_tests([
    ("acknowledged_writes_survive_sigkill", test_acknowledged_writes_survive_sigkill),
])
