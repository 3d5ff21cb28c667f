#!/usr/bin/env python3
"""Cluster tests with real raftd processes on loopback.

Usage: test_cluster.py CASE PORT      (ctest runs one case per entry, each on its own ports)
Each case starts a fresh 3-node cluster on 127.0.0.x addresses, asserts real behaviour, and
prints the nodes' logs when it fails.
"""

import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raftd_cluster import Cluster, RespError, wait_until  # noqa: E402

# Short ticks keep the tests fast: election timeout 10 ticks of 50 ms = 0.5-1 s.
FAST = ["--tick-ms", "50"]
ELECTION_S = 1.0


def same_everywhere(nodes, *cmd):
    """The stale (local) answer to cmd on every node, if they all agree, else None."""
    answers = [n.call(*cmd) for n in nodes]
    return answers[0] if all(a == answers[0] for a in answers) else None


def case_replication(c):
    leader = c.leader()
    followers = [n for n in c.nodes if n is not leader]
    for i in range(50):
        assert leader.call("SET", "k%d" % i, "v%d" % i) == "OK"
    # Every node applies every write; linearizable reads on followers see them at once.
    for n in followers:
        assert n.call("GET", "k49") == b"v49", "follower %s misses an acknowledged write" % n.addr
        assert n.call("DBSIZE") == 50
    # Writes sent to a follower are forwarded to the leader and answered with its result.
    assert followers[0].call("INCR", "ctr") == 1
    assert followers[1].call("INCR", "ctr") == 2
    assert leader.call("GET", "ctr") == b"2"
    info = leader.info()
    for field in ("raft_node_id", "raft_role", "raft_current_term", "raft_leader_id",
                  "raft_leader_addr", "raft_commit_index", "raft_last_applied_index",
                  "raft_num_nodes", "raft_num_voting_nodes", "raft_node0", "raft_node1",
                  "raft_node2"):
        assert field in info, "INFO raft lacks %s: %r" % (field, info)
    assert info["raft_role"] == "leader"
    assert info["raft_leader_addr"] == leader.addr
    assert info["raft_num_nodes"] == "3" and info["raft_num_voting_nodes"] == "3"
    finfo = followers[0].info()
    assert finfo["raft_role"] == "follower"
    assert finfo["raft_leader_addr"] == leader.addr


def case_redirect(c):
    leader = c.leader()
    follower = next(n for n in c.nodes if n is not leader)
    try:
        follower.call("SET", "a", "1")
        raise AssertionError("redirect mode accepted a write on a follower")
    except RespError as e:
        assert str(e) == "MOVED 0 %s" % leader.addr, str(e)
    assert leader.call("SET", "a", "1") == "OK"
    assert follower.call("GET", "a") == b"1"
    # follower-writes is live: switched back, the follower forwards at once, and back again.
    assert follower.call("CONFIG", "SET", "follower-writes", "forward") == "OK"
    assert follower.call("INCR", "a") == 2
    assert follower.call("CONFIG", "SET", "follower-writes", "redirect") == "OK"
    try:
        follower.call("INCR", "a")
        raise AssertionError("redirect mode set by CONFIG SET accepted a write on a follower")
    except RespError as e:
        assert str(e) == "MOVED 0 %s" % leader.addr, str(e)


class Writer(threading.Thread):
    """Writes unique keys through `node_fn()` until stopped; records which were acknowledged."""

    def __init__(self, cluster, name):
        super().__init__(daemon=True)
        self.cluster, self.name = cluster, name
        self.acked, self.errors = [], []
        self.stop = threading.Event()

    def run(self):
        i = 0
        client = None
        while not self.stop.is_set():
            try:
                if client is None:
                    live = [n for n in self.cluster.nodes if n.alive()]
                    client = live[i % len(live)].client(timeout=3)
                key = "%s:%d" % (self.name, i)
                if client.call("SET", key, "x") == "OK":
                    self.acked.append(key)
            except RespError as e:
                self.errors.append(str(e))
                time.sleep(0.01)  # no leader for a moment: don't spin
            except (OSError, ConnectionError):
                client = None
                time.sleep(0.01)
            i += 1


def case_leader_failover(c):
    old = c.leader()
    writers = [Writer(c, "w%d" % i) for i in range(3)]
    for w in writers:
        w.start()
    wait_until(lambda: all(len(w.acked) > 20 for w in writers), 20, "writes before the crash")
    t0 = time.monotonic()
    old.kill9()
    survivors = [n for n in c.nodes if n is not old]
    new = c.leader(timeout=8 * ELECTION_S, among=survivors)
    elapsed = time.monotonic() - t0
    print("new leader %s after %.2fs" % (new.addr, elapsed))
    assert new is not old
    counts = [len(w.acked) for w in writers]
    wait_until(lambda: sum(len(w.acked) for w in writers) > sum(counts) + 30, 20,
               "writes to succeed under the new leader")
    for w in writers:
        w.stop.set()
    for w in writers:
        w.join(10)
    # The old leader restarts with its data and catches up.
    old.start()
    acked = [k for w in writers for k in w.acked]
    print("acknowledged writes: %d; error replies: %d (%s)" %
          (len(acked), sum(len(w.errors) for w in writers),
           sorted(set(e.split(" ")[0] for w in writers for e in w.errors))))
    for n in c.nodes:
        wait_until(lambda: n.call("EXISTS", acked[-1]) == 1, 20, "%s to catch up" % n.addr)
        missing = [k for k in acked if n.call("EXISTS", k) != 1]
        assert not missing, "%s lost acknowledged writes: %s" % (n.addr, missing[:10])


def case_partition(c):
    leader = c.leader()
    assert leader.call("SET", "before", "1") == "OK"
    minority = leader  # the leader alone on the minority side: the hardest case
    majority = [n for n in c.nodes if n is not minority]
    c.partition([minority], majority)
    # The minority side can neither commit nor serve linearizable reads.
    try:
        r = minority.call("SET", "lost", "1", timeout=30)
        raise AssertionError("minority committed a write: %r" % r)
    except RespError as e:
        assert str(e).split(" ")[0] in ("TIMEOUT", "CLUSTERDOWN"), str(e)
    try:
        r = minority.call("GET", "before", timeout=30)
        raise AssertionError("minority served a linearizable read: %r" % r)
    except RespError as e:
        assert str(e).split(" ")[0] in ("TIMEOUT", "CLUSTERDOWN"), str(e)
    # Once it has stepped down it knows no leader: a pipeline mixing reads and writes gets an
    # error for each, in order. (Failing a read lets its client run the next commands from
    # inside that completion; they must not disturb the requests being failed.)
    wait_until(lambda: minority.info().get("raft_role") != "leader", 10 * ELECTION_S,
               "the cut-off leader to step down")
    client = minority.client(timeout=30)
    burst = [("GET", "before"), ("SET", "x", "1"), ("GET", "before"), ("GET", "x")] * 100
    client.send_pipeline(burst)
    for cmd in burst:
        try:
            r = client.read_reply()
            raise AssertionError("%r answered %r without a leader" % (cmd, r))
        except RespError as e:
            assert str(e).split(" ")[0] in ("TIMEOUT", "CLUSTERDOWN"), str(e)
    client.close()
    assert minority.call("PING") == "PONG"
    # The majority elects a leader and goes on.
    new = c.leader(timeout=10 * ELECTION_S, among=majority)
    assert new.call("SET", "after", "2") == "OK"
    assert new.call("GET", "before") == b"1"
    c.heal()
    # After healing the old leader follows and has the majority's writes, not its own.
    wait_until(lambda: minority.info().get("raft_role") == "follower", 15, "old leader to follow")
    # Once it hears the new leader, its linearizable reads see the majority's write.
    wait_until(lambda: minority.call("GET", "after") == b"2", 15, "old leader to read 'after'")
    assert minority.call("EXISTS", "lost") in (0, 1)  # TIMEOUT: either outcome is allowed
    for n in c.nodes:
        wait_until(lambda: n.call("GET", "after") == b"2", 10, "%s to converge" % n.addr)


def case_full_restart(c):
    leader = c.leader()
    acked = []
    for i in range(300):
        if leader.call("SET", "p%d" % i, "v%d" % i) == "OK":
            acked.append(i)
    assert len(acked) == 300
    for n in c.nodes:
        n.kill9()
    for n in c.nodes:
        n.start(wait=False)
    for n in c.nodes:
        wait_until(n.ping, 20, "restart")
    c.leader(timeout=20)
    for n in c.nodes:
        wait_until(lambda: n.call("DBSIZE") == 300, 20, "%s to recover every write" % n.addr)
        for i in (0, 150, 299):
            assert n.call("GET", "p%d" % i) == ("v%d" % i).encode()


def case_expiry(c):
    leader = c.leader()
    down = next(n for n in c.nodes if n is not leader)
    down.kill9()
    for i in range(20):
        assert leader.call("SET", "t%d" % i, "v", "PX", 300 + 20 * i) == "OK"
    for i in range(20):
        assert leader.call("SET", "keep%d" % i, "v") == "OK"
    assert leader.call("SET", "long", "v", "EX", 1000) == "OK"
    # Reads hide expired keys everywhere at once; the leader reaps them through the log.
    wait_until(lambda: leader.call("DBSIZE") == 21, 20, "the leader to reap expired keys")
    down.start()
    live = c.nodes
    expect = sorted([b"keep%d" % i for i in range(20)] + [b"long"])
    wait_until(lambda: all(sorted(n.call("KEYS", "*")) == expect for n in live), 20,
               "the same key set on every node")
    for n in live:
        assert n.call("DBSIZE") == 21, "%s still holds expired keys" % n.addr
        ttl = n.call("TTL", "long")
        assert 990 <= ttl <= 1000, ttl


def case_sigterm_handoff(c):
    leader = c.leader()
    assert leader.call("SET", "x", "1") == "OK"
    t0 = time.monotonic()
    rc = leader.terminate(timeout=15)
    assert rc == 0, "SIGTERM exit code %r" % rc
    others = [n for n in c.nodes if n is not leader]
    new = c.leader(timeout=10, among=others)
    print("leadership handed to %s; stop took %.2fs" % (new.addr, time.monotonic() - t0))
    # A handoff (TimeoutNow) elects at once, well before an election timeout would.
    assert new.call("GET", "x") == b"1"
    assert new.call("SET", "y", "2") == "OK"

    # A write still waiting when its node stops gets an answer before the connection closes.
    last = next(n for n in others if n is not new)
    last.pause()  # no quorum: the write cannot commit
    client = new.client(timeout=30)
    client.send("SET", "z", "3")
    time.sleep(0.3)  # let it be proposed before the signal
    assert new.terminate(timeout=15) == 0
    try:
        reply = client.read_reply()
        raise AssertionError("a write without a quorum was acknowledged: %r" % (reply,))
    except RespError as e:
        assert str(e).split(" ")[0] in ("TIMEOUT", "CLUSTERDOWN"), str(e)
    finally:
        client.close()
        last.resume()


def case_stale_reads(c):
    leader = c.leader()
    assert leader.call("SET", "s", "1") == "OK"
    follower = next(n for n in c.nodes if n is not leader)
    wait_until(lambda: follower.call("GET", "s") == b"1", 10, "the follower to apply 's'")
    others = [n for n in c.nodes if n is not follower]
    c.partition([follower], others)
    # Stale mode serves local state without a round trip, even cut off from the leader...
    assert follower.call("GET", "s") == b"1"
    assert leader.call("SET", "s", "2") == "OK"  # the majority goes on
    assert follower.call("GET", "s") == b"1"     # ...which is why it is opt-in: this is stale
    # ...while writes still need the leader, and say so.
    try:
        follower.call("SET", "t", "1", timeout=30)
        raise AssertionError("a partitioned follower accepted a write")
    except RespError as e:
        assert str(e).split(" ")[0] in ("TIMEOUT", "CLUSTERDOWN"), str(e)
    c.heal()
    wait_until(lambda: follower.call("GET", "s") == b"2", 15, "the follower to catch up")


def pipe_sets(node, prefix, count):
    """Sends count SETs through redis-cli --pipe (which ends with an ECHO); returns its summary."""
    payload = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n"
                       % (len(k), k, b"v" * 100)
                       for k in (b"%s:%d" % (prefix, i) for i in range(count)))
    out = subprocess.run(["redis-cli", "-h", node.host, "-p", str(node.port), "--pipe"],
                         input=payload, capture_output=True, timeout=240)
    summary = out.stdout.decode(errors="replace").strip().splitlines()[-1:]
    assert out.returncode == 0 and summary == ["errors: 0, replies: %d" % count], \
        "--pipe of %d SETs to %s: rc %d, %r, stderr %r" % (
            count, node.addr, out.returncode, summary, out.stderr[:300])


def case_pipe_flood(c):
    # One client pipelining writes as fast as it can, to the leader and through a follower:
    # every write is acknowledged OK (none -TIMEOUT waiting its turn behind the rest), and the
    # cluster keeps its leader meanwhile: a client may not monopolise the event loop, and
    # Raft's window must fit the peer send queue (or heartbeats are dropped with the data).
    leader = c.leader()
    term = leader.info()["raft_current_term"]
    follower = next(n for n in c.nodes if n is not leader)
    count = 30000 if os.environ.get("RAFTD_SANITIZE") == "1" else 200000
    pipe_sets(leader, b"lead", count)
    pipe_sets(follower, b"fwd", count // 4)
    total = count + count // 4
    for n in c.nodes:
        wait_until(lambda: n.call("DBSIZE") == total, 30, "%s to apply every write" % n.addr)
    info = leader.info()
    print("%d SETs piped; term %s -> %s, leader %s" % (total, term, info["raft_current_term"],
                                                      info["raft_role"]))


def case_reads_at_leader_change(c):
    """A follower's read sent to a leader that then goes away is asked again of the new leader,
    not left to the request timeout (10 s)."""
    leader = c.leader()
    follower = next(n for n in c.nodes if n is not leader)
    assert leader.call("SET", "k", "before") == "OK"
    assert follower.call("GET", "k") == b"before"
    reader = follower.client(timeout=30)
    leader.pause()  # the follower's next ReadIndex request goes to a node that never answers
    try:
        started = time.monotonic()
        reader.send("GET", "k")
        result = reader.read_reply()
        took = time.monotonic() - started
    finally:
        leader.resume()
        reader.close()
    assert result == b"before", result
    # An election takes about a second with these ticks; the old behaviour took 10 s.
    assert took < 6.0, "read answered after %.1f s: not re-sent at the leader change" % took
    new_leader = c.leader()
    assert new_leader is not leader
    assert new_leader.call("SET", "k", "after") == "OK"
    assert follower.call("GET", "k") == b"after"


def case_big_values(c):
    """Values under max-entry-size replicate; bigger writes are refused before they are proposed,
    on the leader and on followers, with an error naming the limit, and cost no election."""
    leader = c.leader()
    follower = next(n for n in c.nodes if n is not leader)
    term = leader.info()["raft_current_term"]
    value = bytes(range(256)) * (15 * 1024)  # 3.75 MB, under the default 4mb
    assert leader.call("SET", "big", value, timeout=30) == "OK"
    assert follower.call("SET", "big2", value, timeout=30) == "OK"  # forwarded
    for n in c.nodes:
        assert n.call("STRLEN", "big") == len(value) and n.call("GET", "big2") == value
    for n in (leader, follower):
        try:
            n.call("SET", "huge", b"x" * (64 << 20), timeout=60)
            raise AssertionError("a 64 MB SET was accepted on %s" % n.addr)
        except RespError as e:
            assert "max-entry-size (4194304 bytes)" in str(e), e
    assert all(n.call("EXISTS", "huge") == 0 for n in c.nodes)
    assert leader.call("SET", "after", "1") == "OK"
    if os.environ.get("RAFTD_SANITIZE") not in ("1", "ON", "TRUE", "true", "on"):
        # Sanitized builds are slow enough for a timing-dependent election; release ones are not.
        assert c.leader() is leader and leader.info()["raft_current_term"] == term, \
            "big values cost an election"


CASES = {
    "replication": (case_replication, []),
    "redirect": (case_redirect, ["--follower-writes", "redirect"]),
    "leader_failover": (case_leader_failover, []),
    "partition": (case_partition, []),
    "full_restart": (case_full_restart, []),
    "expiry": (case_expiry, []),
    "sigterm_handoff": (case_sigterm_handoff, []),
    "stale_reads": (case_stale_reads, ["--read-consistency", "stale"]),
    "pipe_flood": (case_pipe_flood, []),
    "reads_at_leader_change": (case_reads_at_leader_change, []),
    "big_values": (case_big_values, []),
}


def main():
    name, port = sys.argv[1], int(sys.argv[2])
    fn, extra = CASES[name]
    base_host = 20 + (port // 10) % 200  # distinct 127.0.3.x per case, so partitions never overlap
    c = Cluster(3, port, base_host=base_host, extra_args=FAST + extra, name=name, subnet="127.0.3")
    ok = False
    try:
        c.start()
        fn(c)
        ok = True
        print("cluster_%s: passed" % name)
    finally:
        if not ok:
            c.dump_logs()
        c.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
