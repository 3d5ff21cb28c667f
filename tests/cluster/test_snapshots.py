#!/usr/bin/env python3
"""Snapshot tests with real raftd processes on loopback (issue 6).

Usage: test_snapshots.py CASE PORT      (ctest runs one case per entry, each on its own ports)
Each case starts a fresh 3-node cluster on 127.0.0.x addresses (231-254, clear of the other
cluster and fault tests), drives snapshots through CHECKPOINT or --snapshot-interval, and
compares whole keyspaces (values, types, expiry times) between nodes:
  periodic             --snapshot-interval snapshots and log compaction on every node; CHECKPOINT
  restart              a follower, then every node, killed and restarted from snapshot + log
  catchup              a follower behind the leader's log start catches up by a snapshot
  catchup_memory       the same with a ~43 MB snapshot: peak memory of follower and leader
  disk_corruption      a damaged newest snapshot falls back to the older one; both damaged: refuse
  transit_corruption   a damaged streamed file fails verification and is never installed
  ttl                  expiry times carried through an install and a restart
  install_interrupted  leader or follower killed part way through a transfer
"""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raftd_cluster import Cluster, RespError, wait_until  # noqa: E402

FAST = ["--tick-ms", "50"]
SNAP_RE = re.compile(r"^snap-(\d{20})-(\d{20})\.snap$")
# Slack for comparing expiry times with the client's clock (all nodes share the machine's).
TTL_TOLERANCE_MS = 500


# ---------------------------------------------------------------------------------------------
# Helpers


def pipeline(node, cmds, batch=500, timeout=30.0):
    """Sends cmds in pipelined batches; returns each reply (a RespError for an error reply)."""
    out = []
    c = node.client(timeout=timeout)
    try:
        for i in range(0, len(cmds), batch):
            part = cmds[i:i + batch]
            for cmd in part:
                c.send(*cmd)
            for _ in part:
                try:
                    r = c.read_reply()
                except RespError as e:
                    r = e
                out.append(r)
    finally:
        c.close()
    return out


def write_all(node, cmds, batch=500):
    """Writes through `node`; every reply must be a success (each one is an acknowledged write)."""
    for cmd, r in zip(cmds, pipeline(node, cmds, batch=batch)):
        if r != "OK" and not (isinstance(r, int) and r >= 0):
            raise AssertionError("%s on %s failed: %r" % (cmd[:2], node.addr, r))


def dataset_cmds(prefix, n, value_size=16, ttl_every=5, hash_every=7):
    """A mix of plain strings, strings with long EX TTLs, and hashes (some with a TTL too)."""
    cmds = []
    for i in range(n):
        key = "%s:%d" % (prefix, i)
        if hash_every and i % hash_every == 0:
            cmds.append(("HSET", key, "f1", "a%d" % i, "f2", "b%d" % (i * 3), "n", str(i)))
            if ttl_every and i % (hash_every * ttl_every) == 0:
                cmds.append(("EXPIRE", key, 3000 + i))
        elif ttl_every and i % ttl_every == 0:
            cmds.append(("SET", key, ("v%d-" % i).ljust(value_size, "x"), "EX", 2000 + i % 1000))
        else:
            cmds.append(("SET", key, ("v%d-" % i).ljust(value_size, "y")))
    return cmds


def pipeline_parallel(node, cmds, conns=6, batch=500):
    """pipeline() over several connections at once: a linearizable read costs a ReadIndex
    round, which the node shares among all reads waiting at the time."""
    step = (len(cmds) + conns - 1) // conns or 1
    parts = [cmds[i:i + step] for i in range(0, len(cmds), step)]
    results = [None] * len(parts)
    errors = []

    def run(i):
        try:
            results[i] = pipeline(node, parts[i], batch=batch)
        except Exception as e:  # re-raised below, in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(parts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [r for part in results for r in part]


def big_mset_cmds(prefix, nkeys, vsize=200, per_cmd=200):
    """MSETs of per_cmd keys each: big datasets quickly, one log entry per command."""
    cmds = []
    for b in range(0, nkeys, per_cmd):
        args = ["MSET"]
        for i in range(b, min(b + per_cmd, nkeys)):
            args += ["%s:%d" % (prefix, i), ("%d:" % i).ljust(vsize, "z")]
        cmds.append(tuple(args))
    return cmds


def dump(node):
    """The node's whole keyspace: key -> (type, value, PEXPIRETIME or None)."""
    keys = node.call("KEYS", "*", timeout=60)
    hashes, cursor = set(), b"0"
    while True:
        cursor, batch = node.call("SCAN", cursor, "COUNT", 10000, "TYPE", "hash", timeout=60)
        hashes.update(batch)
        if cursor == b"0":
            break
    strings = [k for k in keys if k not in hashes]
    hkeys = [k for k in keys if k in hashes]
    reads = [("MGET",) + tuple(strings[i:i + 1000]) for i in range(0, len(strings), 1000)]
    reads += [("HGETALL", k) for k in hkeys]
    # The absolute expiry: every node must hold exactly the leader's (it stamps the entries).
    reads += [("PEXPIRETIME", k) for k in strings + hkeys]
    replies = pipeline_parallel(node, reads)
    for cmd, r in zip(reads, replies):
        if isinstance(r, RespError):
            raise AssertionError("%s %r on %s: %s" % (cmd[0], cmd[1], node.addr, r))
    values = []
    nmget = (len(strings) + 999) // 1000
    for r in replies[:nmget]:
        values += r
    for r in replies[nmget:nmget + len(hkeys)]:
        values.append(tuple(sorted(zip(r[0::2], r[1::2]))))
    out = {}
    for k, v, when in zip(strings + hkeys, values, replies[nmget + len(hkeys):]):
        if when == -2:
            continue  # expired since KEYS
        out[k] = ("hash" if k in hashes else "string", v, None if when == -1 else when)
    return out


def diff_dumps(a, b, limit=8):
    """Differences between two dumps (empty if equal, expiry times included). Call it after
    both dumps: a key whose expiry is (about) due may be missing from either."""
    diffs = []
    now = time.time() * 1000
    for k in sorted(set(a) | set(b)):
        if k not in a or k not in b:
            exp = (a.get(k) or b.get(k))[2]
            if exp is not None and exp <= now + TTL_TOLERANCE_MS:
                continue  # expired between the two reads
            diffs.append("%r only on %s" % (k, "first" if k in a else "second"))
        else:
            (ta, va, ea), (tb, vb, eb) = a[k], b[k]
            if ta != tb or va != vb:
                diffs.append("%r: %r %r vs %r %r" % (k, ta, va, tb, vb))
            elif ea != eb:
                diffs.append("%r: expiry %r vs %r" % (k, ea, eb))
        if len(diffs) >= limit:
            break
    return diffs


def assert_same(expected, node, what):
    got = dump(node)
    diffs = diff_dumps(expected, got)
    assert not diffs, "%s: %s differs (%d vs %d keys): %s" % (what, node.addr, len(expected),
                                                              len(got), diffs)
    return got


def info_int(node, field):
    return int(node.info()[field])


def caught_up(nodes, index):
    """Every node has applied at least `index`."""
    return all(info_int(n, "raft_last_applied_index") >= index for n in nodes)


def wait_caught_up(c, nodes=None, timeout=60):
    leader = c.leader()
    commit = info_int(leader, "raft_commit_index")
    nodes = nodes or [n for n in c.nodes if n.alive()]
    wait_until(lambda: caught_up(nodes, commit), timeout, "every node to apply %d" % commit)
    return leader


def checkpoint(node, timeout=120):
    r = node.call("CHECKPOINT", timeout=timeout)
    assert r == "OK", "CHECKPOINT on %s: %r" % (node.addr, r)
    info = node.info()
    return int(info["raft_snapshot_index"])


def snapshot_files(node):
    d = os.path.join(node.data_dir, "snapshots")
    if not os.path.isdir(d):
        return []
    out = []
    for name in sorted(os.listdir(d)):
        m = SNAP_RE.match(name)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), os.path.join(d, name)))
    return out


def snapshot_file_at(node, index):
    for i, _, path in snapshot_files(node):
        if i == index:
            return path
    raise AssertionError("%s has no snapshot file for index %d: %s" %
                         (node.addr, index, snapshot_files(node)))


def flip_byte(path, offset=None):
    """Damages one byte in place (the same inode, as a disk would)."""
    size = os.path.getsize(path)
    offset = size // 2 if offset is None else offset
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))
        f.flush()
        os.fsync(f.fileno())
    return offset


def log_size(node):
    return os.path.getsize(node.log_path) if os.path.exists(node.log_path) else 0


def log_since(node, offset):
    if not os.path.exists(node.log_path):
        return ""
    with open(node.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def proc_status(node, field):
    """A /proc/<pid>/status figure in kB (VmRSS, VmHWM)."""
    with open("/proc/%d/status" % node.proc.pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for %s" % (field, node.addr))


def stop_follower(c, leader):
    f = next(n for n in c.nodes if n is not leader)
    last = info_int(f, "raft_last_log_index")
    f.kill9()
    return f, last


def advance_log_start_past(c, leader, index, write_batch):
    """CHECKPOINTs on the live nodes with writes between them until the leader's log starts
    after `index` (the log is kept back to the previous snapshot, so it takes two)."""
    live = [n for n in c.nodes if n.alive()]
    rounds = 0
    while info_int(leader, "raft_log_first_index") <= index + 1:
        write_all(leader, write_batch(rounds))
        for n in live:
            checkpoint(n)
        rounds += 1
        assert rounds <= 4, "the leader's log start did not pass %d after %d CHECKPOINTs: %r" % (
            index, rounds, leader.info())
    return rounds


def write_until_snapshots(c, leader, prefix, at_least, snapshots, step=500):
    """Writes `step` keys at a time (at least `at_least`) until every node has taken `snapshots`
    periodic snapshots. A node checks the interval once per tick, so one that applies a long
    run of entries in one tick takes a single snapshot for all of them: the rounds make sure
    every node sees the interval pass more than once."""
    total = 0
    while True:
        write_all(leader, dataset_cmds("%s%d" % (prefix, total // step), step))
        total += step
        wait_caught_up(c)
        if total >= at_least and all(
                info_int(n, "raft_snapshots_taken") >= snapshots for n in c.nodes):
            return total
        assert total < 4 * at_least, "not %d snapshots on every node after %d keys: %s" % (
            snapshots, total, [n.info()["raft_snapshots_taken"] for n in c.nodes])


# ---------------------------------------------------------------------------------------------
# Cases


def case_periodic(c):
    leader = c.leader()
    t0 = time.monotonic()
    total = write_until_snapshots(c, leader, "p", 3000, 2)
    print("%d keys written in %.1fs" % (total, time.monotonic() - t0))

    def snapshotted(n):
        i = n.info()
        return (int(i["raft_snapshots_taken"]) >= 2 and int(i["raft_log_first_index"]) > 1
                and i["raft_snapshot_in_progress"] == "0"
                and int(i["raft_last_applied_index"]) - int(i["raft_snapshot_index"]) < 500)

    wait_until(lambda: all(snapshotted(n) for n in c.nodes), 60,
               "every node to take 2 periodic snapshots and compact its log")
    for n in c.nodes:
        i = n.info()
        snap, first = int(i["raft_snapshot_index"]), int(i["raft_log_first_index"])
        files = snapshot_files(n)
        print("%s: taken=%s snapshot_index=%d log_first=%d files=%s last=%s" %
              (n.addr, i["raft_snapshots_taken"], snap, first,
               [os.path.basename(p) for _, _, p in files], i["raft_last_snapshot"]))
        # Every 500 applied entries, so the newest is within one interval of what is applied.
        assert int(i["raft_last_applied_index"]) - snap < 500, i
        assert files and files[-1][0] == snap, "newest file is not the snapshot index %d" % snap
        # The log starts right after the previous snapshot, whose file is kept for streaming.
        assert first - 1 < snap and any(f[0] == first - 1 for f in files), (first, files)
        assert len(files) <= 2, "older snapshot files were not pruned: %s" % files
        assert "index=%d" % snap in i["raft_last_snapshot"], i["raft_last_snapshot"]
    # CHECKPOINT forces one now; once it replies the snapshot holds everything applied.
    for n in c.nodes:
        assert n.call("CHECKPOINT", timeout=60) == "OK"
        i = n.info()
        assert i["raft_snapshot_index"] == i["raft_last_applied_index"], i
        assert any(f[0] == int(i["raft_snapshot_index"]) for f in snapshot_files(n))
    # Under writes (and periodic snapshots in flight), concurrent CHECKPOINTs each reply only
    # once a snapshot holding everything applied before the command is durable.
    stop = threading.Event()
    written = []

    def writer():
        cl = leader.client()
        try:
            while not stop.is_set():
                assert cl.call("SET", "busy:%d" % len(written), "x" * 100) == "OK"
                written.append(1)
        finally:
            cl.close()

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    try:
        for n in c.nodes:
            results = []

            def check(node=n):
                before = info_int(node, "raft_last_applied_index")
                r = node.call("CHECKPOINT", timeout=60)
                results.append((before, r, info_int(node, "raft_snapshot_index"),
                                [f[0] for f in snapshot_files(node)]))

            ts = [threading.Thread(target=check) for _ in range(3)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(90)
            assert len(results) == 3, results
            for before, r, snap, files in results:
                assert r == "OK" and snap >= before and max(files) >= before, (
                    "%s: CHECKPOINT sent at applied %d replied %r with snapshot %d, files %s" %
                    (n.addr, before, r, snap, files))
            print("%s: concurrent CHECKPOINTs under writes: %s" %
                  (n.addr, [(b, s) for b, _, s, _ in results]))
    finally:
        stop.set()
        w.join(10)
    total += len(written)
    wait_caught_up(c)
    expected = dump(leader)
    assert len(expected) == total, (len(expected), total)
    for n in c.nodes:
        assert_same(expected, n, "after periodic snapshots")


class AckedWriter(threading.Thread):
    """SETs unique keys through whichever live node answers; records the acknowledged ones."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.acked = {}
        self.stop = threading.Event()

    def run(self):
        i, client = 0, None
        while not self.stop.is_set():
            key, val = "acked:%d" % i, "val%d" % i
            try:
                if client is None:
                    live = [n for n in self.cluster.nodes if n.alive()]
                    client = live[i % len(live)].client(timeout=3)
                if client.call("SET", key, val) == "OK":
                    self.acked[key] = val.encode()
            except RespError:
                pass
            except (OSError, ConnectionError):
                client = None
            i += 1


def case_restart(c):
    leader = c.leader()
    write_until_snapshots(c, leader, "r", 2000, 2)
    follower = next(n for n in c.nodes if n is not leader)
    w = AckedWriter(c)
    w.start()
    wait_until(lambda: len(w.acked) >= 100, 30, "writes before the kill")
    follower.kill9()
    n0 = len(w.acked)
    wait_until(lambda: len(w.acked) >= n0 + 700, 60, "writes while a follower is down")
    w.stop.set()
    w.join(10)
    print("acknowledged writes: %d (%d while the follower was down)" % (len(w.acked),
                                                                        len(w.acked) - n0))
    # The follower restarts from its newest snapshot plus its log, then catches up.
    off = log_size(follower)
    follower.start()
    wait_caught_up(c)
    text = log_since(follower, off)
    assert "loaded snapshot" in text, "follower did not load a snapshot at restart"
    expected = dump(leader)
    for n in c.nodes:
        assert_same(expected, n, "after the follower's restart")
    # Everyone down at once (kill -9), then up: all from snapshot + log.
    offs = [log_size(n) for n in c.nodes]
    for n in c.nodes:
        n.kill9()
    for n in c.nodes:
        n.start(wait=False)
    for n in c.nodes:
        wait_until(n.ping, 30, "%s to answer after the full restart" % n.addr)
    wait_caught_up(c)
    for n, off in zip(c.nodes, offs):
        text = log_since(n, off)
        m = re.search(r"loaded snapshot (\d+) term (\d+) \((\d+) keys", text)
        assert m, "%s did not load a snapshot at restart" % n.addr
        print("%s: %s" % (n.addr, m.group(0)))
        got = assert_same(expected, n, "after the full restart")
        missing = [k for k, v in w.acked.items() if got.get(k.encode(), (None, None))[1] != v]
        assert not missing, "%s lost acknowledged writes: %s" % (n.addr, missing[:10])


def case_catchup(c):
    leader = c.leader()
    write_all(leader, dataset_cmds("c0", 500))
    follower, last = stop_follower(c, leader)
    rounds = advance_log_start_past(c, leader, last,
                                    lambda r: dataset_cmds("c%d" % (r + 1), 1500))
    print("follower stopped at index %d; leader's log starts at %d after %d rounds" %
          (last, info_int(leader, "raft_log_first_index"), rounds))
    off = log_size(follower)
    t0 = time.monotonic()
    follower.start()
    wait_until(lambda: info_int(follower, "raft_snapshots_installed") >= 1, 60,
               "the follower to install a snapshot")
    wait_caught_up(c)
    print("installed and caught up in %.2fs" % (time.monotonic() - t0))
    text = log_since(follower, off)
    assert "installed snapshot" in text, "no 'installed snapshot' in the follower's log"
    expected = dump(leader)
    assert_same(expected, follower, "after the snapshot install")
    # From here on the follower is fed entries again, not snapshots.
    write_all(leader, dataset_cmds("after", 500))
    wait_caught_up(c)
    assert_same(dump(leader), follower, "after writes following the install")
    assert info_int(follower, "raft_snapshots_installed") == 1, follower.info()


def memory_figures(node):
    mi = node.info("memory")
    return {"used": int(mi["used_memory"]) // 1024,
            "dataset": int(mi["used_memory_dataset"]) // 1024,
            "rss": proc_status(node, "VmRSS"), "hwm": proc_status(node, "VmHWM")}


def case_catchup_memory(c):
    # ~200k keys x 200 bytes: a ~43 MB snapshot, large against the bounded buffers of a transfer
    # (a window of 4 chunks of 1 MB), small against the machine.
    nkeys, vsize = int(os.environ.get("SNAP_KEYS", "200000")), 200
    leader = c.leader()
    baseline = proc_status(next(n for n in c.nodes if n is not leader), "VmRSS")
    follower, last = stop_follower(c, leader)
    t0 = time.monotonic()
    write_all(leader, big_mset_cmds("big", nkeys, vsize), batch=20)
    print("%d keys x %d bytes written in %.1fs" % (nkeys, vsize, time.monotonic() - t0))
    advance_log_start_past(c, leader, last, lambda r: dataset_cmds("m%d" % r, 200))
    first = info_int(leader, "raft_log_first_index")
    streamed = snapshot_file_at(leader, first - 1)
    size_kb = os.path.getsize(streamed) // 1024
    before = memory_figures(leader)
    off = log_size(follower)
    t0 = time.monotonic()
    follower.start()
    wait_until(lambda: info_int(follower, "raft_snapshots_installed") >= 1, 120,
               "the follower to install the big snapshot")
    wait_caught_up(c, timeout=120)
    took = time.monotonic() - t0
    lead, fol = memory_figures(leader), memory_figures(follower)
    m = re.search(r"installed snapshot .*", log_since(follower, off))
    assert m, "no 'installed snapshot' in the follower's log"
    print("%s (%.1fs from restart to caught up)" % (m.group(0), took))
    print("streamed %s: %d kB; follower baseline RSS %d kB" % (os.path.basename(streamed),
                                                               size_kb, baseline))
    print("leader before: %s\nleader after:  %s\nfollower after: %s" % (before, lead, fol))
    if os.environ.get("RAFTD_SANITIZE") == "1":
        print("sanitizer build: memory figures not checked")
    else:
        check_install_memory(baseline, size_kb, before, lead, fol)
    t0 = time.monotonic()
    expected = dump(leader)
    assert len(expected) >= nkeys, len(expected)
    assert_same(expected, follower, "after the big install")
    print("compared %d keys in %.1fs" % (len(expected), time.monotonic() - t0))


def check_install_memory(baseline, size_kb, before, lead, fol):
    """Figures in kB: the follower's RSS before it went down, the streamed file, the leader
    before and after the transfer, the follower after the install."""
    # The follower loads the verified file into its keyspace in place, so its peak is one
    # keyspace (what the leader also holds) plus bounded buffers.
    assert fol["hwm"] <= 1.5 * lead["rss"], "follower peak %d kB > 1.5 x leader RSS %d kB" % (
        fol["hwm"], lead["rss"])
    # No transient copy of the file or of the keyspace during the install...
    assert fol["hwm"] <= baseline + fol["used"] + size_kb // 2, (
        "follower peak %d kB > baseline %d + heap %d + half the file %d kB" %
        (fol["hwm"], baseline, fol["used"], size_kb // 2))
    # ...nor one kept after it: no more heap than the leader, which holds the same keyspace.
    assert fol["used"] <= lead["used"] + size_kb // 4, (fol, lead)
    # The leader streams from the file a few chunks at a time, never a whole copy in memory.
    assert lead["hwm"] - before["hwm"] <= size_kb // 2, (
        "leader peak grew %d kB while streaming a %d kB snapshot" %
        (lead["hwm"] - before["hwm"], size_kb))


def case_disk_corruption(c):
    leader = c.leader()
    write_all(leader, dataset_cmds("d0", 800))
    for r in (1, 2):
        wait_caught_up(c)
        for n in c.nodes:
            checkpoint(n)
        write_all(leader, dataset_cmds("d%d" % r, 800))
    wait_caught_up(c)
    victim = next(n for n in c.nodes if n is not leader)
    files = snapshot_files(victim)
    assert len(files) == 2, files
    first = info_int(victim, "raft_log_first_index")
    assert first - 1 == files[0][0], "log should start after the older snapshot: %d %s" % (
        first, files)
    victim.kill9()
    newest = files[-1][2]
    flip_byte(newest)
    off = log_size(victim)
    victim.start()
    wait_caught_up(c)
    text = log_since(victim, off)
    assert "skipped invalid snapshot" in text and os.path.basename(newest) in text, (
        "the restart log does not name the damaged file %s" % newest)
    assert re.search(r"loaded snapshot %d " % files[0][0], text), (
        "the node did not fall back to snapshot %d" % files[0][0])
    expected = dump(leader)
    assert_same(expected, victim, "after falling back to the older snapshot")
    write_all(leader, dataset_cmds("d3", 300))
    wait_caught_up(c)
    assert_same(dump(leader), victim, "after more writes")

    # Only the older file (the one the log starts at, which a leader would stream) damaged on
    # another node: it starts from the newest and compacts its log up to it instead.
    other = next(n for n in c.nodes if n is not leader and n is not victim)
    ofiles = snapshot_files(other)
    assert len(ofiles) == 2, ofiles
    other.kill9()
    flip_byte(ofiles[0][2])
    off = log_size(other)
    other.start()
    wait_caught_up(c)
    text = log_since(other, off)
    assert "unusable" in text and os.path.basename(ofiles[0][2]) in text, (
        "the restart log does not name the damaged older file %s" % ofiles[0][2])
    assert re.search(r"loaded snapshot %d " % ofiles[1][0], text), text[-2000:]
    assert info_int(other, "raft_log_first_index") == ofiles[1][0] + 1, other.info()
    assert_same(dump(leader), other, "after losing the older snapshot")

    # Both files damaged while the log is compacted through the older one: nothing to start
    # from, so the node refuses, naming the directory, and never serves.
    victim.kill9()
    files = snapshot_files(victim)
    assert len(files) == 2 and files[-1][2] == newest, files
    for _, _, path in files:
        if path != newest:  # the newest is damaged already
            flip_byte(path)
    off = log_size(victim)
    victim.start(wait=False)
    try:
        rc = victim.proc.wait(30)
    except Exception:
        raise AssertionError("node with no valid snapshot for its compacted log kept running")
    assert rc != 0, "exit code %r" % rc
    with open(victim.log_path + ".stderr", errors="replace") as f:
        stderr = f.read()
    print("refused with exit code %d: %s" % (rc, stderr.strip().splitlines()[-1]))
    assert "data directory %s" % victim.data_dir in stderr, stderr
    assert "no valid snapshot" in stderr, stderr
    try:
        victim.ping()
        raise AssertionError("the refused node answered PING")
    except (OSError, ConnectionError):
        pass
    text = log_since(victim, off)
    for _, _, path in files:
        assert os.path.basename(path) in text, "log does not name %s" % path


def case_transit_corruption(c):
    leader = c.leader()
    write_all(leader, dataset_cmds("t0", 300))
    follower, last = stop_follower(c, leader)
    advance_log_start_past(c, leader, last, lambda r: dataset_cmds("t%d" % (r + 1), 600))
    start_snap = info_int(leader, "raft_log_first_index") - 1
    path = snapshot_file_at(leader, start_snap)
    flip_byte(path)
    print("damaged the leader's streamed file %s" % os.path.basename(path))
    off = log_size(follower)
    loff = log_size(leader)
    follower.start()
    # It is asked again and fails again: never installed.
    wait_until(lambda: log_since(follower, off).count("failed verification") >= 2, 60,
               "the follower to reject the damaged snapshot twice")
    # After a few rejected transfers the leader checks its own file, finds it damaged, names it
    # and compacts its log past it (or takes a new snapshot): no operator needed.
    wait_until(lambda: "streamed to followers is damaged" in log_since(leader, loff), 60,
               "the leader to find its streamed file damaged")
    print([l for l in log_since(leader, loff).splitlines() if "damaged" in l][0])
    wait_until(lambda: info_int(follower, "raft_snapshots_installed") >= 1, 60,
               "the follower to install a good snapshot")
    wait_caught_up(c)
    installed = [int(n) for n in re.findall(r"installed snapshot (\d+) ", log_since(follower, off))]
    assert installed and all(n > start_snap for n in installed), installed
    print("installed %s (the damaged one was %d)" % (installed, start_snap))
    assert_same(dump(leader), follower, "after installing a good snapshot")


def assert_pttl_agrees(leader, follower, keys, slack_ms=50):
    """PTTL read on the leader and then on the follower differs by at most the time between
    the two reads (plus slack for clock reads and rounding)."""
    lc, fc = leader.client(), follower.client()
    checked = 0
    try:
        for k in keys:
            t0 = time.monotonic()
            a = lc.call("PTTL", k)
            b = fc.call("PTTL", k)
            elapsed = (time.monotonic() - t0) * 1000
            if a == -2 or b == -2:
                continue  # expired meanwhile; the dumps check key sets
            assert (a == -1) == (b == -1), (k, a, b)
            assert -slack_ms <= a - b <= elapsed + slack_ms, (
                "PTTL of %r: leader %d, follower %s %d (%.0f ms apart)" %
                (k, a, follower.addr, b, elapsed))
            checked += 1
    finally:
        lc.close()
        fc.close()
    return checked


def case_ttl(c):
    leader = c.leader()
    follower, last = stop_follower(c, leader)
    # Short TTLs spread over 5-15 s, long ones of an hour, none, and hashes with both.
    cmds = []
    for i in range(100):
        cmds.append(("SET", "short:%d" % i, "s", "PX", 5000 + 100 * i))
        cmds.append(("SET", "long:%d" % i, "l", "EX", 3600 + i))
        cmds.append(("SET", "keep:%d" % i, "k"))
    for i in range(20):
        cmds.append(("HSET", "hshort:%d" % i, "f", "v"))
        cmds.append(("PEXPIRE", "hshort:%d" % i, 5000 + 500 * i))
        cmds.append(("HSET", "hlong:%d" % i, "f", "v"))
        cmds.append(("EXPIRE", "hlong:%d" % i, 7200))
    t_before = time.time() * 1000
    write_all(leader, cmds)
    t_after = time.time() * 1000
    advance_log_start_past(c, leader, last, lambda r: dataset_cmds("f%d" % r, 300))
    ref = dump(leader)
    for i in range(100):
        exp = ref[b"long:%d" % i][2]
        lo, hi = t_before + (3600 + i) * 1000, t_after + (3600 + i) * 1000
        assert lo - TTL_TOLERANCE_MS <= exp <= hi + TTL_TOLERANCE_MS, ("long:%d" % i, exp, lo, hi)

    def expired_on_leader(key):
        return leader.call("EXISTS", key) == 0

    # Let the snapshots age first, so that an expiry carried as a relative time would land
    # seconds off after the install, not within the tolerance.
    wait_until(lambda: expired_on_leader("short:0"), 30, "short:0 to expire")
    off = log_size(follower)
    follower.start()
    wait_until(lambda: info_int(follower, "raft_snapshots_installed") >= 1, 30,
               "the follower to install a snapshot")
    wait_caught_up(c)
    ref = dump(leader)
    got = assert_same(ref, follower, "expiry times after the snapshot install")
    shorts = [k for k in got if k.startswith(b"short:") or k.startswith(b"hshort:")]
    print("installed %.1fs after the TTL writes; %d short-TTL keys still live on the follower" %
          ((time.time() * 1000 - t_after) / 1000, len(shorts)))
    assert shorts, "the short TTLs expired before the install could be checked"
    assert "installed snapshot" in log_since(follower, off)
    n = assert_pttl_agrees(leader, follower, sorted(ref))
    print("PTTL agrees on %d keys after the install" % n)
    # Through a restart (the installed snapshot + log replay) as well.
    wait_until(lambda: expired_on_leader("short:30"), 30, "short:30 to expire")
    off2 = log_size(follower)
    follower.kill9()
    follower.start()
    wait_caught_up(c)
    assert "loaded snapshot" in log_since(follower, off2)
    ref = dump(leader)
    got = assert_same(ref, follower, "expiry times after the restart")
    shorts = [k for k in got if k.startswith(b"short:") or k.startswith(b"hshort:")]
    print("restarted %.1fs after the TTL writes; %d short-TTL keys still live" %
          ((time.time() * 1000 - t_after) / 1000, len(shorts)))
    assert shorts, "the short TTLs expired before the restart could be checked"
    n = assert_pttl_agrees(leader, follower, sorted(ref))
    print("PTTL agrees on %d keys after the restart" % n)
    # Once the short ones are gone, every node holds the same keys, and only those.
    expect = sorted(k for k in ref if not k.startswith(b"short:") and not k.startswith(b"hshort:"))

    def converged():
        return all(n.call("DBSIZE") == len(expect) and sorted(n.call("KEYS", "*")) == expect
                   for n in c.nodes)

    wait_until(converged, 40, "the same key set (no short-TTL keys) on every node")
    for n in c.nodes:
        assert n.call("EXISTS", "short:99", "hshort:19") == 0
        ttl = n.call("TTL", "long:0")
        assert 3500 <= ttl <= 3600, (n.addr, ttl)
    assert_same(dump(leader), follower, "after the short TTLs expired")


def temp_files(node):
    d = os.path.join(node.data_dir, "snapshots")
    return [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.startswith("tmp-")]


def stall_transfer(c, sender, receiver, after_bytes=3000000):
    """Drops sender -> receiver packets on connections that carried more than after_bytes: a
    snapshot transfer stops part way, deterministically, while small connections still work."""
    c._ensure_chain()
    c._iptables("-A", c.chain, "-s", sender.host, "-d", receiver.host, "-p", "tcp", "-m",
                "connbytes", "--connbytes", "%d:" % after_bytes, "--connbytes-dir", "both",
                "--connbytes-mode", "bytes", "-j", "DROP")


def partial_receipt(node, total):
    """The size of the node's partly received snapshot, once it holds at least 1 MB of it."""
    for path in temp_files(node):
        try:
            size = os.path.getsize(path)
        except OSError:
            continue
        if 1 << 20 <= size < total:
            return size
    return None


def case_install_interrupted(c):
    leader = c.leader()
    follower, last = stop_follower(c, leader)
    other = next(n for n in c.nodes if n is not leader and n is not follower)
    write_all(leader, big_mset_cmds("big", 60000), batch=20)
    advance_log_start_past(c, leader, last, lambda r: dataset_cmds("i%d" % r, 200))
    total = os.path.getsize(snapshot_file_at(leader, info_int(leader, "raft_log_first_index") - 1))

    # 1. The leader dies part way through the transfer: the new leader streams its own file
    # from the start, and the follower installs that.
    stall_transfer(c, leader, follower)
    off = log_size(follower)
    follower.start()
    got = wait_until(lambda: partial_receipt(follower, total), 30, "a partly received snapshot")
    assert "installed snapshot" not in log_since(follower, off)
    print("transfer stalled at %d of %d bytes; killing the leader" % (got, total))
    leader.kill9()
    c.heal()
    new = c.leader(timeout=20, among=[follower, other])
    assert new is other
    wait_until(lambda: info_int(follower, "raft_snapshots_installed") >= 1, 60,
               "the follower to install the new leader's snapshot")
    m = re.search(r"installed snapshot .*", log_since(follower, off))
    assert m, "no 'installed snapshot' in the follower's log"
    print(m.group(0))
    leader.start()
    wait_caught_up(c)
    expected = dump(other)
    for n in c.nodes:
        assert_same(expected, n, "after an install from the second leader")

    # 2. The follower dies part way through: it restarts without the partial file and installs
    # a whole one.
    leader = c.leader()
    follower, last = stop_follower(c, leader)
    write_all(leader, big_mset_cmds("more", 20000), batch=20)
    advance_log_start_past(c, leader, last, lambda r: dataset_cmds("j%d" % r, 200))
    total = os.path.getsize(snapshot_file_at(leader, info_int(leader, "raft_log_first_index") - 1))
    stall_transfer(c, leader, follower)
    off = log_size(follower)
    follower.start()
    got = wait_until(lambda: partial_receipt(follower, total), 30, "a partly received snapshot")
    partial = temp_files(follower)
    follower.kill9()
    assert "installed snapshot" not in log_since(follower, off)
    print("follower killed with %d of %d bytes received (%s)" %
          (got, total, [os.path.basename(p) for p in partial]))
    c.heal()
    off = log_size(follower)
    follower.start()
    wait_until(lambda: "installed snapshot" in log_since(follower, off), 60,
               "the follower to install a whole snapshot")
    wait_caught_up(c)
    leftovers = [p for p in partial if os.path.exists(p)]
    assert not leftovers, "partial snapshot files left behind: %s" % leftovers
    assert_same(dump(leader), follower, "after the interrupted install")


CASES = {
    "periodic": (case_periodic, ["--snapshot-interval", "500"]),
    "restart": (case_restart, ["--snapshot-interval", "500"]),
    "catchup": (case_catchup, ["--snapshot-interval", "0"]),
    "catchup_memory": (case_catchup_memory, ["--snapshot-interval", "0"]),
    "disk_corruption": (case_disk_corruption, ["--snapshot-interval", "0"]),
    "transit_corruption": (case_transit_corruption, ["--snapshot-interval", "0"]),
    "ttl": (case_ttl, ["--snapshot-interval", "0"]),
    "install_interrupted": (case_install_interrupted, ["--snapshot-interval", "0"]),
}


def main():
    name, port = sys.argv[1], int(sys.argv[2])
    fn, extra = CASES[name]
    # Ports 26000 + 100 * i; hosts 127.0.0.231 + 3 * i .. +2: apart from tests/cluster's
    # test_cluster.py (21-93) and tests/fault (101-223).
    base_host = 230 + 3 * ((port - 26000) // 100)
    assert 26000 <= port < 27000 and base_host + 3 <= 254, (port, base_host)
    c = Cluster(3, port, base_host=base_host, extra_args=FAST + extra, name="snap-" + name)
    if os.environ.get("SNAP_KEEP"):  # keep the data directories and logs for a look afterwards
        c.keep = True
        print("workdir %s" % c.workdir)
    ok = False
    t0 = time.monotonic()
    try:
        c.start()
        fn(c)
        # A clean stop of every node still running: it exits 0, and (in a sanitizer build)
        # nothing was reported by any process of the case.
        for n in c.nodes:
            if n.alive():
                rc = n.terminate()
                assert rc == 0, "%s exited %r on SIGTERM" % (n.addr, rc)
        for n in c.nodes:
            path = n.log_path + ".stderr"
            text = open(path, errors="replace").read() if os.path.exists(path) else ""
            bad = [w for w in ("Sanitizer", "runtime error") if w in text]
            assert not bad, "%s reported %s: %s" % (n.addr, bad, text[-3000:])
        ok = True
        print("cluster_snapshot_%s: passed in %.1fs" % (name, time.monotonic() - t0))
    finally:
        if not ok:
            c.dump_logs()
        c.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
