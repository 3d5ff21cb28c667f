#!/usr/bin/env python3
"""Cluster tests of node identity and formation: a node that lost its data directory is kept out
of every quorum and nothing acknowledged is lost; a cluster forms with a random id only once
every member of its list is up; another incarnation's directory is refused; a configured secret.

Usage: test_safety.py CASE PORT      (ctest runs one case per entry, each on its own ports)
"""

import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raftd_cluster import Cluster, RespError, wait_until  # noqa: E402

FAST = ["--tick-ms", "50"]
REQUEST_TIMEOUT_S = 10.0  # raftd's default --request-timeout


def refusal(node, *cmd, timeout=REQUEST_TIMEOUT_S + 5):
    """The error reply to cmd, with how long it took (it must be an error)."""
    t = time.monotonic()
    try:
        r = node.call(*cmd, timeout=timeout)
    except RespError as e:
        return str(e), time.monotonic() - t
    raise AssertionError("%s answered %r to %r" % (node.addr, r, cmd))


def assert_wiped_refused(node):
    err, took = refusal(node, "GET", "k0")
    assert err.startswith("CLUSTERDOWN") and "data directory is new" in err, err
    assert took < 2.0, "the wiped node took %.1f s to refuse" % took
    err, took = refusal(node, "SET", "x", "1")
    assert "data directory is new" in err and took < 2.0, (err, took)
    info = node.info()
    assert info.get("raft_role") == "none", info
    assert "remove node" in info.get("raft_state", ""), info


def wipe(node):
    node.kill9()
    shutil.rmtree(node.data_dir)


def case_wiped_majority(c):
    """Issue 16, case 1: stop C; write through the leader L (acknowledged with A); kill L; wipe A;
    restart A and C. A (empty) and C (stale) must not elect a leader and lose the writes."""
    leader = c.leader()
    a, cnode = [n for n in c.nodes if n is not leader]
    cnode.terminate()
    keys = ["k%d" % i for i in range(1000)]
    client = leader.client(timeout=30)
    client.send_pipeline([("SET", k, "v" + k) for k in keys])
    for k in keys:
        assert client.read_reply() == "OK", k
    client.close()
    leader.kill9()
    a.terminate()
    shutil.rmtree(a.data_dir)
    a.start()
    cnode.start()
    # A is refused by C (and says so at once); C alone has no quorum: nothing is served from
    # the stale copy, and every command is answered within the request timeout.
    wait_until(lambda: "data directory is new" in refusal(a, "GET", "k0")[0], 20,
               "the wiped node to learn it is refused")
    assert_wiped_refused(a)
    for _ in range(3):
        err, took = refusal(cnode, "GET", "k0")
        assert err.split(" ")[0] in ("CLUSTERDOWN", "TIMEOUT"), err
        assert took <= REQUEST_TIMEOUT_S + 2, took
    time.sleep(2)  # several election timeouts: A and C must still not have elected anyone
    assert cnode.info().get("raft_role") != "leader"
    assert a.info().get("raft_role") == "none"
    # The old leader comes back with its data: it and C elect; every acknowledged write is there.
    leader.start()
    new = c.leader(among=[leader, cnode], timeout=20)
    for n in (leader, cnode):
        wait_until(lambda: n.call("DBSIZE") == 1000, 20, "%s to hold every write" % n.addr)
        missing = [k for k in keys[::97] if n.call("GET", k) != ("v" + k).encode()]
        assert not missing, "%s lost acknowledged writes %s" % (n.addr, missing)
    assert new.call("SET", "after", "1") == "OK"
    assert_wiped_refused(a)


def case_wiped_follower(c):
    """Issue 16, case 2: a follower restarted on an empty directory while the others are healthy.
    No frame storm, its commands answered at once, the cluster goes on."""
    leader = c.leader()
    follower = next(n for n in c.nodes if n is not leader)
    fid = follower.info()["raft_node_id"]
    for i in range(50):
        assert leader.call("SET", "k%d" % i, "v%d" % i) == "OK"
    follower.terminate()
    shutil.rmtree(follower.data_dir)
    follower.start()
    wait_until(lambda: "data directory is new" in refusal(follower, "DBSIZE")[0], 20,
               "the wiped follower to learn it is refused")
    assert_wiped_refused(follower)

    def frames_to_follower():
        for k, v in leader.info().items():
            if k.startswith("raft_node") and v.startswith("id=%s," % fid):
                fields = dict(kv.split("=", 1) for kv in v.split(","))
                return int(fields.get("frames_sent", 0)) + int(fields.get("frames_received", 0))
        raise AssertionError("the leader does not list node %s" % fid)

    before = frames_to_follower()
    log_before = os.path.getsize(leader.log_path)
    time.sleep(5)
    assert frames_to_follower() == before, "frames still flow to the wiped node"
    # Refused handshakes are logged rarely, not once per attempt.
    grown = os.path.getsize(leader.log_path) - log_before
    assert grown < 20000, "the leader logged %d bytes in 5 s about a refused node" % grown
    assert leader.call("SET", "after", "1") == "OK"
    assert leader.call("DBSIZE") == 51
    with open(leader.log_path) as f:
        log = f.read()
    assert "new data directory" in log, "the leader never said why it refuses the node"


def case_formation_waits_for_everyone(c):
    """A new cluster forms only once every node of the list is up; until then clients are told
    whom it waits for."""
    first, second, third = c.nodes
    first.start()
    second.start()
    time.sleep(1.0)
    err, took = refusal(first, "SET", "a", "1")
    assert err.startswith("CLUSTERDOWN the cluster is not formed yet: waiting for"), err
    assert third.addr in err, err
    assert took < 2.0
    third.start()
    leader = c.leader(timeout=20)
    assert leader.call("SET", "a", "1") == "OK"
    ids = {n.info()["raft_cluster_id"] for n in c.nodes}
    assert len(ids) == 1 and "0000000000000000" not in ids, ids
    # Not derived from the member list: a second cluster with the same list gets another id.
    first_id = ids.pop()
    for n in c.nodes:
        n.terminate()
        shutil.rmtree(n.data_dir)
    for n in c.nodes:
        n.start(wait=False)
    c.leader(timeout=20)
    again = {n.info()["raft_cluster_id"] for n in c.nodes}
    assert len(again) == 1 and again != {first_id}, (first_id, again)


def case_other_incarnation(c):
    """A directory from another incarnation of a cluster with the same member list is refused."""
    c.start()
    leader = c.leader()
    assert leader.call("SET", "from", "first") == "OK"
    for n in c.nodes:
        n.terminate()
    old = c.nodes[0].data_dir + ".first"
    shutil.move(c.nodes[0].data_dir, old)
    for n in c.nodes[1:]:
        shutil.rmtree(n.data_dir)
    for n in c.nodes:
        n.start(wait=False)
    leader = c.leader(timeout=20)
    assert leader.call("SET", "from", "second") == "OK"
    second_id = leader.info()["raft_cluster_id"]
    # Node 1 comes back with its directory of the first cluster.
    c.nodes[0].terminate()
    shutil.rmtree(c.nodes[0].data_dir)
    shutil.move(old, c.nodes[0].data_dir)
    c.nodes[0].start()
    assert c.nodes[0].info()["raft_cluster_id"] != second_id
    survivors = c.nodes[1:]
    time.sleep(2)
    new = c.leader(among=survivors, timeout=20)
    assert new.call("SET", "still", "serving") == "OK"
    assert new.call("GET", "from") == b"second"
    with open(c.nodes[0].log_path) as f:
        log = f.read()
    assert "refused this node" in log or "another cluster" in log, log[-2000:]
    # It is not counted as a member: the two others hold the cluster, it never leads.
    assert c.nodes[0].info().get("raft_role") != "leader"
    err, _ = refusal(c.nodes[0], "GET", "from")
    assert err.split(" ")[0] in ("CLUSTERDOWN", "TIMEOUT"), err


def case_configured_secret(c):
    """--peer-secret-file on every node: formation is authenticated too, no DIR/SECRET is kept,
    and a node with another secret stays out."""
    path = os.path.join(c.workdir, "secret")
    with open(path, "w") as f:
        f.write("a secret every node of this test was given\n")
    c.extra_args += ["--peer-secret-file", path]
    c.start()
    leader = c.leader(timeout=20)
    assert leader.call("SET", "k", "v") == "OK"
    for n in c.nodes:
        assert not os.path.exists(os.path.join(n.data_dir, "SECRET"))
    # One node restarted with another secret is refused by the others.
    victim = next(n for n in c.nodes if n is not leader)
    victim.terminate()
    bad = os.path.join(c.workdir, "bad")
    with open(bad, "w") as f:
        f.write("not the secret of this cluster at all\n")
    saved = list(c.extra_args)
    c.extra_args = FAST + ["--peer-secret-file", bad]
    victim.start()
    c.extra_args = saved
    time.sleep(2)
    assert victim.info().get("raft_role") != "leader"
    err, took = refusal(victim, "GET", "k")
    assert err.split(" ")[0] in ("CLUSTERDOWN", "TIMEOUT"), err
    assert leader.call("SET", "k2", "v2") == "OK"
    with open(leader.log_path) as f:
        assert "wrong proof of the cluster secret" in f.read()


CASES = {
    "wiped_majority": (case_wiped_majority, True),
    "wiped_follower": (case_wiped_follower, True),
    "formation_waits_for_everyone": (case_formation_waits_for_everyone, False),
    "other_incarnation": (case_other_incarnation, False),
    "configured_secret": (case_configured_secret, False),
}


def main():
    name, port = sys.argv[1], int(sys.argv[2])
    fn, start = CASES[name]
    base_host = 20 + (port // 10) % 200
    c = Cluster(3, port, base_host=base_host, extra_args=list(FAST), name=name, subnet="127.0.1")
    ok = False
    try:
        if start:
            c.start()
        fn(c)
        ok = True
        print("cluster_safety_%s: passed" % name)
    finally:
        if not ok:
            c.dump_logs()
        c.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
