#!/usr/bin/env python3
"""The attack suite: a hostile peer (build/bin/peer_attack, which speaks the peer protocol with
the project's own codec) tries each attack on a 3-node cluster started as the README starts one
(default options, no secret given). Each must be refused with the cluster still serving and
nothing lost.

Usage: test_attacks.py CASE PORT      (ctest runs one case per entry, each on its own ports)
"""

import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raftd_cluster import Cluster, RespError, wait_until  # noqa: E402


def attack_bin():
    raftd = os.environ.get("RAFTD_BIN")
    return os.environ.get("PEER_ATTACK_BIN") or os.path.join(os.path.dirname(raftd), "peer_attack")


def attack(node, name, *args, timeout=60):
    """Runs one attack on node's peer port; returns its "key: value" lines as a list of pairs."""
    cmd = [attack_bin(), name, "--target", "%s:%d" % (node.host, node.port + 1)] + list(args)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                         check=False).stdout.decode(errors="replace")
    print("$ %s\n%s" % (" ".join(cmd[1:]), out.strip()))
    return [tuple(line.split(": ", 1)) for line in out.splitlines() if ": " in line]


def values(lines, key):
    return [v for k, v in lines if k == key]


def refused(lines):
    frames = values(lines, "frame")
    assert any(f.startswith("refusal") for f in frames), "not refused: %r" % (lines,)
    assert not any(f.startswith("welcome") and "admitted=true" in f for f in frames), lines
    assert values(lines, "closed") == ["yes"], "the connection stayed open: %r" % (lines,)


def member_identity(node):
    """What an insider would know of a member: its id, directory id, and the cluster id."""
    with open(os.path.join(node.data_dir, "IDENTITY")) as f:
        text = f.read()
    dir_id = re.search(r"^dir_id=([0-9a-f]+)$", text, re.M).group(1)
    cluster = re.search(r"^cluster_id=([0-9a-f]+)$", text, re.M).group(1)
    node_id = re.search(r"^node_id=(\d+)$", text, re.M).group(1)
    return node_id, "0x" + dir_id, "0x" + cluster


def secret_file(node):
    return os.path.join(node.data_dir, "SECRET")


def writes_ok(c, prefix, n=50):
    leader = c.leader()
    for i in range(n):
        assert leader.call("SET", "%s%d" % (prefix, i), "v") == "OK"
    for node in c.nodes:
        wait_until(lambda: node.call("EXISTS", "%s%d" % (prefix, n - 1)) == 1, 20, "replication")


def terms(c):
    return [int(n.info()["raft_current_term"]) for n in c.nodes]


def case_nothing_before_proof(c):
    """A caller learns nothing: the node's first and only words are a fresh nonce."""
    leader = c.leader()
    info = leader.info()
    lines = attack(leader, "listen")
    assert values(lines, "frames") == ["1"], lines
    assert values(lines, "frame")[0].startswith("challenge nonce_bytes=32"), lines
    raw = bytes.fromhex(values(lines, "frame_bytes")[0])
    node_id = int(info["raft_node_id"])
    for secret in (leader.addr.encode(), info["raft_cluster_id"].encode(),
                   bytes.fromhex(info["raft_cluster_id"]), str(node_id).encode()):
        assert secret not in raw, "the challenge reveals %r" % secret


def case_forward_without_proof(c):
    """A Forward frame (a client write) to the leader from a stranger claiming a member's id."""
    leader = c.leader()
    member = next(n for n in c.nodes if n is not leader)
    node_id, dir_id, cluster = member_identity(member)
    lines = attack(leader, "forward", "--as", node_id, "--dir-id", dir_id, "--cluster", cluster,
                   "--args", "SET stolen 1")
    refused(lines)
    time.sleep(0.5)
    assert all(n.call("EXISTS", "stolen") == 0 for n in c.nodes)
    writes_ok(c, "after")


def case_replay(c):
    """A member's recorded session, replayed byte for byte, runs nothing a second time."""
    leader = c.leader()
    member = next(n for n in c.nodes if n is not leader)
    node_id, dir_id, cluster = member_identity(member)
    capture = os.path.join(c.workdir, "capture.bin")
    lines = attack(leader, "record", "--as", node_id, "--dir-id", dir_id, "--cluster", cluster,
                   "--secret-file", secret_file(member), "--args", "INCR replayed",
                   "--out", capture)
    assert values(lines, "recorded_bytes"), lines
    wait_until(lambda: leader.call("GET", "replayed") == b"1", 10, "the recorded INCR to run")
    for _ in range(3):
        refused(attack(leader, "replay", "--in", capture))
    time.sleep(0.5)
    for n in c.nodes:
        wait_until(lambda: n.call("GET", "replayed") == b"1", 10, "replication")
    assert leader.call("GET", "replayed") == b"1", "a replayed INCR ran again"
    writes_ok(c, "after")


def case_fake_leader_append(c):
    """A stranger's Append to a follower, claiming to be the leader at a higher term."""
    leader = c.leader()
    follower = next(n for n in c.nodes if n is not leader)
    assert leader.call("SET", "k", "real") == "OK"
    lid, ldir, cluster = member_identity(leader)
    fid = follower.info()["raft_node_id"]
    before = terms(c)
    refused(attack(follower, "append", "--as", lid, "--dir-id", ldir, "--cluster", cluster,
                   "--to", fid, "--term", str(max(before) + 1), "--index", "2", "--log-term", "1",
                   "--data", "forged"))
    assert terms(c) == before, "a stranger's term reached the cluster"
    assert follower.call("GET", "k") == b"real"
    writes_ok(c, "after")
    assert follower.call("GET", "k") == b"real"


def case_insider_undecodable_entry(c):
    """Even a peer holding the secret (a compromised member) cannot make a follower hold an
    entry it cannot apply: it is refused before it is durable or acknowledged, and the follower
    keeps running and restarts cleanly."""
    leader = c.leader()
    follower, other = [n for n in c.nodes if n is not leader]
    node_id, dir_id, cluster = member_identity(other)
    fid = follower.info()["raft_node_id"]
    lines = attack(follower, "append", "--as", node_id, "--dir-id", dir_id, "--cluster", cluster,
                   "--secret-file", secret_file(other), "--to", fid,
                   "--term", str(max(terms(c)) + 1), "--index", "0", "--log-term", "0",
                   "--data", "\x07not an entry")
    assert any("admitted=true" in f for f in values(lines, "frame")), lines
    wait_until(lambda: "cannot be applied here" in open(follower.log_path).read(), 10,
               "the follower to refuse the entries")
    assert follower.alive()
    writes_ok(c, "after")
    follower.kill9()
    follower.start()
    wait_until(lambda: follower.call("EXISTS", "after49") == 1, 20, "the follower to restart")
    assert follower.alive()


def case_maximum_term(c):
    """One heartbeat with term 2^64-1: refused from a stranger, and ignored (logged) even from a
    peer with the secret; no node's term moves there, elections stay possible."""
    leader = c.leader()
    follower, other = [n for n in c.nodes if n is not leader]
    fid = follower.info()["raft_node_id"]
    lid, ldir, cluster = member_identity(leader)
    refused(attack(follower, "heartbeat", "--as", lid, "--dir-id", ldir, "--cluster", cluster,
                   "--to", fid, "--term", "max"))
    node_id, dir_id, _ = member_identity(other)
    attack(follower, "heartbeat", "--as", node_id, "--dir-id", dir_id, "--cluster", cluster,
           "--secret-file", secret_file(other), "--to", fid, "--term", "max")
    wait_until(lambda: "term at or beyond the maximum" in open(follower.log_path).read(), 10,
               "the follower to log the absurd term")
    assert max(terms(c)) < 1000, terms(c)
    # The leader dies: the others still elect, at an ordinary term.
    leader.kill9()
    new = c.leader(among=[follower, other], timeout=30)
    assert int(new.info()["raft_current_term"]) < 1000
    assert new.call("SET", "after", "1") == "OK"


def case_election_storm(c):
    """Higher-term heartbeats every 0.5 s from a stranger no longer keep the cluster in elections."""
    leader = c.leader()
    follower = next(n for n in c.nodes if n is not leader)
    fid = follower.info()["raft_node_id"]
    lid, ldir, cluster = member_identity(leader)
    stop = threading.Event()

    def storm():
        t = max(terms(c)) + 1
        while not stop.is_set():
            for n in c.nodes:
                attack(n, "heartbeat", "--as", lid, "--dir-id", ldir, "--cluster", cluster,
                       "--to", fid, "--term", str(t))
            t += 1
            stop.wait(0.5)

    th = threading.Thread(target=storm, daemon=True)
    th.start()
    ok = 0
    deadline = time.monotonic() + 15
    i = 0
    while time.monotonic() < deadline:
        try:
            if leader.call("SET", "storm%d" % i, "v", timeout=5) == "OK":
                ok += 1
        except (RespError, OSError):
            pass
        i += 1
        time.sleep(0.05)
    stop.set()
    th.join(30)
    print("writes during the storm: %d of %d" % (ok, i))
    assert ok >= 0.95 * i, "only %d of %d writes succeeded" % (ok, i)
    assert c.leader() is leader


def rss_kb(node):
    with open("/proc/%d/status" % node.proc.pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def case_big_frames_before_proof(c):
    """Eight connections announcing 65 MB frames before any proof: closed at once, memory flat."""
    leader = c.leader()
    before = rss_kb(leader)
    lines = attack(leader, "bigframe", "--connections", "8", "--trickle", "256")
    assert values(lines, "closed") == ["8"], lines
    grown = rss_kb(leader) - before
    assert grown < 50 * 1024, "the node grew by %d kB" % grown
    writes_ok(c, "after")


def case_squatters(c):
    """300 connections held open without a word: a member that restarts still gets in."""
    leader = c.leader()
    follower = next(n for n in c.nodes if n is not leader)
    squat = subprocess.Popen([attack_bin(), "squat", "--target", "%s:%d" % (leader.host, leader.port + 1),
                              "--connections", "300", "--hold-ms", "15000"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(2)
    follower.kill9()
    follower.start()
    assert leader.call("SET", "during", "squat") == "OK"
    wait_until(lambda: follower.call("GET", "during") == b"squat", 10,
               "the restarted member to catch up while strangers hold connections")
    out = squat.communicate(timeout=60)[0].decode()
    print(out)
    assert "opened: 300" in out


CASES = {
    "nothing_before_proof": case_nothing_before_proof,
    "forward_without_proof": case_forward_without_proof,
    "replay": case_replay,
    "fake_leader_append": case_fake_leader_append,
    "insider_undecodable_entry": case_insider_undecodable_entry,
    "maximum_term": case_maximum_term,
    "election_storm": case_election_storm,
    "big_frames_before_proof": case_big_frames_before_proof,
    "squatters": case_squatters,
}


def main():
    name, port = sys.argv[1], int(sys.argv[2])
    base_host = 20 + (port // 10) % 200
    # As the README starts a cluster: default ticks and timeouts, no secret given.
    c = Cluster(3, port, base_host=base_host, name="attack-" + name, subnet="127.0.2")
    ok = False
    try:
        c.start()
        c.leader(timeout=30)
        CASES[name](c)
        ok = True
        print("cluster_attack_%s: passed" % name)
    finally:
        if not ok:
            c.dump_logs()
        c.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
