#!/usr/bin/env python3
"""One fault-injection run (Jepsen-style) against a real raftd cluster.

Starts N raftd processes on 127.0.0.x addresses, runs concurrent clients doing GET, SET,
SET NX, SET XX, GETSET, INCR and DEL on a few keys through every node, and records each op's
invoke and completion (ok / fail / unknown, monotonic times, client process id) in a history
file. Meanwhile a nemesis injects faults on a schedule drawn from the seed: kill -9 and restart,
SIGSTOP/SIGCONT, iptables partitions between node addresses, a node that loses its data directory
(wiped: it is refused for good, see below), aimed at the leader (INFO raft) or at random nodes.
Then it heals everything, waits for the cluster to settle, reads every key on every member, and
checks the history with tools/lincheck (linearizability per key; the final reads must agree with
it and with each other).

A wiped node (kill -9, rm -rf of its data directory, restart with the same command line) comes
back with a new directory id, so the members refuse it in every handshake (Raft thesis 3.8: it
may have lost votes and entries it promised) and it answers every command with -CLUSTERDOWN. It
stays out for the rest of the run: the nemesis wipes at most (N-1)/2 nodes, so a majority stays
intact, and its other faults go to intact nodes; the settle phase and the final reads use the
intact members only, and the wiped nodes must still refuse a GET at the end.

Reply classes: +OK, values, integers -> ok. -CLUSTERDOWN / -MOVED -> fail (raftd promises the
command was not applied). -TIMEOUT, connection errors and socket timeouts -> unknown (it may
or may not have taken effect).

A failing run keeps its directory (history, nemesis log, every node's log, the seed) and prints
one command line that replays the same seed. The run bounds itself: ops, time, and a hard
deadline after which it kills its processes and removes its iptables rules.

Usage: fault_run.py --seed 7 [--nodes 3] [--faults mixed] [--duration 20] [--port 25000]
                    [--base-host 100] [--clients 8] [--keys 4]    (see --help)
"""

import argparse
import fcntl
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from fault_cluster import FaultCluster, RespError, parse_info, wait_until  # noqa: E402

# Every fault the nemesis knows. "member" is the hook for membership changes (add/remove a node
# while clients run); raftd has no admin command for it yet, so no mix uses it.
FAULTS = ["kill", "kill-leader", "stop-leader", "flap", "pause", "pause-leader",
          "partition-random", "partition-leader-minority", "partition-leader-majority", "bridge",
          "lossy", "crash-all", "wipe", "wipe-leader", "wipe-all", "member"]
# Faults that leave one node with an empty data directory for the rest of the run.
WIPES = ("wipe", "wipe-leader")
MIXES = {
    "none": [],
    "kill": ["kill", "kill-leader", "stop-leader"],
    "kill-leader": ["kill-leader"],
    "stop-leader": ["stop-leader"],
    "flap": ["flap"],
    "lossy": ["lossy"],
    "pause": ["pause", "pause-leader"],
    "partition": ["partition-random", "partition-leader-minority", "partition-leader-majority",
                  "bridge"],
    "partition-leader": ["partition-leader-minority", "partition-leader-majority"],
    "bridge": ["bridge"],
    "crash": ["crash-all", "kill-leader"],
    # One node (two of five) loses its disk and is refused from then on; the other faults hit
    # the members that are left, so a majority of them keeps every acknowledged write.
    "wipe": ["wipe", "wipe-leader", "kill", "kill-leader", "stop-leader", "pause",
             "pause-leader", "partition-random", "partition-leader-minority",
             "partition-leader-majority", "crash-all"],
    "mixed": ["kill", "kill-leader", "stop-leader", "flap", "pause", "pause-leader",
              "partition-random", "partition-leader-minority", "partition-leader-majority",
              "bridge", "lossy", "crash-all"],
    # Self-check of the whole pipeline: loses acknowledged writes on purpose (--expect violation).
    "wipe-all": ["wipe-all"],
}
assert all(kind in FAULTS for mix in MIXES.values() for kind in mix)
# Mixes in which a second fault may start while the first holds (say, a kill inside a partition).
COMPOUND = {"mixed", "wipe"}

# Op weights of the workload. DEL is rare so that most of the time the key exists and SET XX,
# GETSET and INCR act on a value; it still makes SET NX and INCR-from-missing happen.
WORKLOAD = [("get", 34), ("set", 14), ("incr", 16), ("setnx", 8), ("setxx", 9), ("getset", 14),
            ("del", 5)]
# Written values are unique multiples of this: INCR moves a value by one, so values written by
# different ops never meet, and values no reply shows stay recognisable to the checker.
VALUE_STRIDE = 1_000_000

SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:/+")


def esc(data):
    if isinstance(data, str):
        data = data.encode()
    return "".join(chr(c) if c in SAFE else "%%%02X" % c for c in data)


def reply_token(r):
    """A reply as the history format writes it."""
    if r is None:
        return "nil"
    if isinstance(r, int):
        return "int:%d" % r
    if isinstance(r, str):
        return "OK" if r == "OK" else "val:" + esc(r)
    if isinstance(r, bytes):
        return "val:" + esc(r)
    return "val:" + esc(repr(r))


def classify_error(msg):
    word = msg.split(" ", 1)[0]
    if word in ("CLUSTERDOWN", "MOVED"):
        return "fail"
    if word == "TIMEOUT":
        return "unknown"
    return "unexpected"


class History:
    """The history file, written as ops happen (a crash still leaves what was recorded)."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "w", buffering=1)
        self.lock = threading.Lock()
        self.next_id = 1
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "unknown": 0}
        self.by_op = {}
        self.unexpected = {}
        self.t0 = time.monotonic_ns()
        self.addr_index = {}   # "host:port" -> node index, for -MOVED
        self.last_moved = {}   # worker -> node index its last -MOVED named

    def _write(self, line):
        self.f.write(line + "\n")

    def note(self, text):
        with self.lock:
            self._write("# " + text)

    def invoke(self, proc, key, op, arg=None):
        with self.lock:
            op_id = self.next_id
            self.next_id += 1
            self.counts["invoke"] += 1
            self.by_op[op] = self.by_op.get(op, 0) + 1
            self._write("invoke %d %s %d %s %s%s" % (op_id, proc, time.monotonic_ns(), esc(key), op,
                                                     "" if arg is None else " " + esc(arg)))
            return op_id

    def complete(self, op_id, outcome, text):
        with self.lock:
            self.counts[outcome] += 1
            self._write("%s %d %d %s" % (outcome, op_id, time.monotonic_ns(), text))

    def quiesce(self):
        with self.lock:
            self._write("quiesce %d" % time.monotonic_ns())

    def note_moved(self, worker, addr):
        if addr in self.addr_index:
            self.last_moved[worker] = self.addr_index[addr]

    def count_unexpected(self, msg):
        with self.lock:
            self.unexpected[msg] = self.unexpected.get(msg, 0) + 1

    def close(self):
        with self.lock:
            self.f.close()


def command_for(op, key, value):
    return {
        "get": ("GET", key),
        "set": ("SET", key, value),
        "setnx": ("SET", key, value, "NX"),
        "setxx": ("SET", key, value, "XX"),
        "getset": ("GETSET", key, value),
        "incr": ("INCR", key),
        "del": ("DEL", key),
    }[op]


def run_op(client, hist, proc, key, op, value, worker=None):
    """Sends one op and records it; returns its outcome (ok, fail, unknown)."""
    op_id = hist.invoke(proc, key, op, value)
    return finish_op(hist, op_id, op, lambda: client.call(*command_for(op, key, value)), worker)[0]


def run_pipeline(client, hist, proc, ops, worker=None):
    """Sends ops [(key, op, value)] in one write, as a pipelining client does, and records each
    reply as it arrives. Returns the outcomes. Once the connection fails, the ops whose replies
    did not come are unknown."""
    ids = [hist.invoke(proc, key, op, value) for key, op, value in ops]
    try:
        client.send_pipeline([command_for(op, key, value) for key, op, value in ops])
    except OSError as e:
        for op_id in ids:
            hist.complete(op_id, "unknown", "%s: %s" % (type(e).__name__, e))
        return ["unknown"] * len(ops)
    outcomes = []
    broken = False
    for op_id, (key, op, value) in zip(ids, ops):
        if broken:
            hist.complete(op_id, "unknown", "connection failed earlier in the pipeline")
            outcomes.append("unknown")
            continue
        outcome, broken = finish_op(hist, op_id, op, client.read_reply, worker)
        outcomes.append(outcome)
    return outcomes


def finish_op(hist, op_id, op, get_reply, worker=None):
    """Records the reply get_reply() returns (or raises) for a sent op. Returns its outcome
    (ok, fail, unknown) and whether the connection failed."""
    try:
        reply = get_reply()
    except RespError as e:
        msg = str(e)
        kind = classify_error(msg)
        if msg.startswith("MOVED ") and worker is not None:
            hist.note_moved(worker, msg.split(" ")[-1])
        if kind == "unexpected":
            if op == "incr" and "not an integer" in msg:
                hist.complete(op_id, "ok", "err:" + msg)  # a definite reply: nothing changed
                return "ok", False
            # Anything else we cannot vouch for: treat as unknown, and report it.
            hist.count_unexpected(msg)
            kind = "unknown"
        hist.complete(op_id, kind, msg)
        return kind, False
    except (OSError, ConnectionError, ValueError) as e:  # socket timeout, reset, refused, garbage
        hist.complete(op_id, "unknown", "%s: %s" % (type(e).__name__, e))
        return "unknown", True
    hist.complete(op_id, "ok", reply_token(reply))
    return "ok", False


class Worker(threading.Thread):
    """One client thread. Its op choices come from the seed; the interleaving does not."""

    def __init__(self, run, index):
        super().__init__(daemon=True, name="client%d" % index)
        self.run_ = run
        self.index = index
        self.rng = random.Random(run.args.seed * 1000 + index)
        self.generation = 0
        self.error = None

    def proc(self, node):
        # Which node the client talks through is part of its name, for reading histories.
        return "c%d.%d-n%d" % (self.index, self.generation, node.index)

    def run(self):
        try:
            self.loop()
        except Exception as e:  # a runner bug must fail the run, not vanish with the thread
            self.error = "%s: %s" % (type(e).__name__, e)

    def loop(self):
        r = self.run_
        nodes = r.cluster.nodes
        node_i = self.index % len(nodes)
        client = None
        ops_on_conn = 0
        weights = [w for _, w in WORKLOAD]
        names = [op for op, _ in WORKLOAD]

        def pick():
            key = "k%d" % self.rng.randrange(r.args.keys)
            op = self.rng.choices(names, weights)[0]
            value = None
            if op in ("set", "setnx", "setxx", "getset"):
                value = str(r.next_value())
            return key, op, value
        while not r.stop.is_set() and time.monotonic() < r.workload_end and r.take_op():
            if client is None:
                try:
                    client = nodes[node_i].client(timeout=r.args.op_timeout)
                    ops_on_conn = 0
                except OSError:
                    node_i = (node_i + 1) % len(nodes)
                    r.stop.wait(0.05)  # every node refused: let the nemesis restart one
                    continue
            r.hist.last_moved.pop(self.index, None)
            node = nodes[node_i]
            sent = time.monotonic()
            if self.rng.random() < r.args.pipelined:
                # A burst sent in one write: reads behind reads share a ReadIndex round,
                # writes behind reads wait for them; every reply must still be linearizable.
                ops = [pick() for _ in range(self.rng.randint(2, 8))]
                outcomes = run_pipeline(client, r.hist, self.proc(nodes[node_i]), ops,
                                        self.index)
                outcome = ("unknown" if "unknown" in outcomes else
                           "fail" if "fail" in outcomes else "ok")
            else:
                key, op, value = pick()
                outcome = run_op(client, r.hist, self.proc(nodes[node_i]), key, op, value,
                                 self.index)
                outcomes = [outcome]
            if "ok" in outcomes and r.wiped.get(node, sent) < sent:
                r.note_wiped_answer(node, outcomes.count("ok"))
            ops_on_conn += 1
            if outcome == "unknown":
                # Like a crashed Jepsen process: the op may still be in flight, so this client
                # goes on as a new process, through another node.
                self.generation += 1
                client.close()
                client = None
                node_i = (node_i + 1) % len(nodes)
            elif outcome == "fail":
                moved = r.hist.last_moved.get(self.index)
                if moved is not None:
                    # Redirect mode: -MOVED 0 host:port names the leader; go there.
                    client.close()
                    client = None
                    node_i = moved
                elif node in r.wiped:
                    # A wiped node refuses every command for good: go to another node.
                    client.close()
                    client = None
                    node_i = (node_i + 1) % len(nodes)
                else:
                    r.stop.wait(self.rng.uniform(0.01, 0.05))  # no leader yet: do not spin
            if client is not None and ops_on_conn >= 200:
                client.close()  # spread clients over the nodes as time goes on
                client = None
                node_i = self.rng.randrange(len(nodes))
        if client is not None:
            client.close()


class Nemesis(threading.Thread):
    """Injects faults on a schedule drawn from the seed; heals everything when stopped."""

    def __init__(self, run):
        super().__init__(daemon=True, name="nemesis")
        self.run_ = run
        self.rng = random.Random(run.args.seed)
        self.kinds = MIXES[run.args.faults]
        self.heals = []  # (description, function) of active faults, oldest first
        self.log = []    # (seconds since start, text)
        self.counts = {}
        self.problems = []
        self.expected_down = set()
        self.error = None
        # A majority must stay intact: 3 nodes may lose one data directory, 5 nodes two.
        self.max_wipes = (len(run.cluster.nodes) - 1) // 2
        # A mix with wipes wipes a node for sure, as its first, second or third fault, so that
        # most of the run's faults come after it and hit the members that are left.
        self.wipe_turn = None
        if self.max_wipes and any(kind in WIPES for kind in self.kinds):
            self.wipe_turn = self.rng.randrange(3)

    def note(self, text):
        t = (time.monotonic_ns() - self.run_.hist.t0) / 1e9
        self.log.append((t, text))
        self.run_.hist.note("nemesis %.3f %s" % (t, text))
        print("  [%7.3f] %s" % (t, text), flush=True)

    def run(self):
        try:
            self.loop()
        except Exception as e:
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            try:
                self.heal_all()
            except Exception as e:
                self.error = (self.error or "") + " heal: %s: %s" % (type(e).__name__, e)

    def loop(self):
        r = self.run_
        if not self.kinds:
            return
        turn = 0
        while not r.stop.wait(self.rng.uniform(*r.args.quiet)):
            if time.monotonic() >= r.nemesis_end:
                return
            kinds = [self.rng.choice(self.kinds)]
            if turn == self.wipe_turn and not r.wiped:
                kinds = [self.rng.choice(WIPES)]
            turn += 1
            if r.args.faults in COMPOUND and self.rng.random() < 0.3:
                kinds.append(self.rng.choice(self.kinds))
            for kind in kinds:
                self.start_fault(kind)
                if r.stop.wait(self.rng.uniform(*r.args.hold)):
                    return
            self.heal_all()
            self.check_crashes()

    # --- faults -------------------------------------------------------------------------
    def pick(self, candidates):
        return candidates[self.rng.randrange(len(candidates))]

    def target(self, leader_wanted):
        """A node to hit: the leader (INFO raft) if wanted and known, else a seeded choice among
        the members whose data directory is intact (a wiped node is out of the cluster)."""
        nodes = self.run_.members()
        fallback = self.pick(nodes)  # drawn either way, so the schedule stays the same
        if leader_wanted:
            leader = self.run_.cluster.current_leader()
            if leader is not None:
                return leader, "leader "
            return fallback, "(no leader found) "
        return fallback, ""

    def start_fault(self, kind):
        c = self.run_.cluster
        if kind in WIPES and len(self.run_.wiped) >= self.max_wipes:
            # One more would leave no intact majority: a cluster that cannot keep its writes.
            self.note("%s: %d of %d nodes wiped already, kill -9 instead" % (
                kind, len(self.run_.wiped), len(c.nodes)))
            kind = "kill-leader" if kind == "wipe-leader" else "kill"
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind in ("kill", "kill-leader"):
            node, how = self.target(kind == "kill-leader")
            if not node.alive():
                self.note("kill: %s is down already" % node.addr)
                return
            self.expected_down.add(node)
            node.kill9()
            self.note("kill -9 %s%s" % (how, node.addr))
            self.heals.append(("restart %s" % node.addr, lambda: self.restart([node])))
        elif kind == "stop-leader":
            # SIGTERM: raftd hands leadership to a follower before it exits (TimeoutNow).
            node, how = self.target(True)
            if not node.alive() or node.paused:
                self.note("stop: %s is down or paused" % node.addr)
                return
            self.expected_down.add(node)
            try:
                code = node.terminate(timeout=15)
                self.note("SIGTERM %s%s (exit code %s)" % (how, node.addr, code))
                if code not in (0, None):
                    self.problems.append("%s exited with %s on SIGTERM" % (node.addr, code))
            except AssertionError as e:  # the harness killed it after 15 s
                self.problems.append(str(e))
                self.note("SIGTERM %s%s: did not stop in 15 s, killed" % (how, node.addr))
            self.heals.append(("restart %s" % node.addr, lambda: self.restart([node])))
        elif kind == "flap":
            # A follower that goes down, comes back far behind (the leader's queue to it full
            # of entries), takes client writes for a moment, and goes down and up again at once:
            # replies owed to its previous life must not reach its new one.
            leader = c.current_leader()
            followers = [n for n in self.run_.members()
                         if n is not leader and n.alive() and not n.paused]
            node = self.pick(followers) if followers else self.pick(c.nodes)
            down, up = self.rng.uniform(1.0, 3.0), self.rng.uniform(0.3, 1.0)
            self.expected_down.add(node)
            node.kill9()
            self.note("flap %s: kill -9, %.1f s down" % (node.addr, down))
            if self.run_.stop.wait(down):
                self.heals.append(("restart %s" % node.addr, lambda: self.restart([node])))
                return
            self.restart([node])
            self.expected_down.add(node)
            self.run_.stop.wait(up)
            node.kill9()
            self.note("flap %s: up %.1f s, kill -9 again" % (node.addr, up))
            self.heals.append(("restart %s" % node.addr, lambda: self.restart([node])))
        elif kind in ("pause", "pause-leader"):
            node, how = self.target(kind == "pause-leader")
            if not node.alive() or node.paused:
                self.note("pause: %s is down or paused already" % node.addr)
                return
            node.pause()
            self.note("SIGSTOP %s%s" % (how, node.addr))
            self.heals.append(("SIGCONT %s" % node.addr, lambda: self.resume(node)))
        elif kind.startswith("partition") or kind == "bridge":
            self.partition(kind)
        elif kind == "lossy":
            p = self.rng.choice((0.1, 0.2, 0.3, 0.5))
            c.lossy(p)
            self.note("lossy network: each packet between nodes dropped with probability %.1f" % p)
            self.heals.append(("heal lossy network", self.heal_network))
        elif kind == "crash-all":
            for n in c.nodes:
                self.expected_down.add(n)
                n.kill9()
            self.note("kill -9 every node")
            self.heals.append(("restart every node", lambda: self.restart(c.nodes)))
        elif kind in WIPES:
            # The node loses its disk and comes back at once with its command line unchanged and
            # an empty data directory. The members refuse it (thesis 3.8), so it stays out for
            # the rest of the run: nothing heals it, and restarts keep it refused.
            node, how = self.target(kind == "wipe-leader")
            self.expected_down.add(node)
            node.kill9()
            shutil.rmtree(node.data_dir)
            self.run_.wiped[node] = time.monotonic()
            self.note("wipe %s%s: kill -9, delete its data directory, restart it" % (
                how, node.addr))
            self.restart([node])
        elif kind == "wipe-all":
            # Not a fault raftd must survive: every node loses its disk. It certainly loses
            # acknowledged writes, so a run with it must be found NOT linearizable.
            for n in c.nodes:
                self.expected_down.add(n)
                n.kill9()
                shutil.rmtree(n.data_dir, ignore_errors=True)
            self.note("kill -9 every node and delete every data directory")
            self.heals.append(("restart every node", lambda: self.restart(c.nodes)))
        elif kind == "member":
            membership_change(self, c)
        else:
            raise ValueError("unknown fault %s" % kind)

    def partition(self, kind):
        c = self.run_.cluster
        nodes = list(c.nodes)
        self.rng.shuffle(nodes)
        minority = len(nodes) // 2
        if kind == "bridge":
            # Two halves that cannot talk to each other, and one node that talks to both.
            bridge, rest = nodes[0], nodes[1:]
            a, b = rest[:len(rest) // 2], rest[len(rest) // 2:]
            c.cut([(x, y) for x in a for y in b])
            self.note("bridge: %s | %s | %s, only %s reaches both sides" % (
                names(a), bridge.addr, names(b), bridge.addr))
        else:
            if kind == "partition-random":
                size = 1 + self.rng.randrange(minority)
                small = nodes[:size]
                how = ""
            else:
                leader, how = self.target(True)
                others = [n for n in nodes if n is not leader]
                if kind == "partition-leader-minority":
                    small = [leader] + others[:minority - 1]
                else:
                    small = others[:minority]
                how = " (%s%s)" % (how, leader.addr)
            big = [n for n in nodes if n not in small]
            c.partition(small, big)
            self.note("%s%s: %s | %s" % (kind, how, names(small), names(big)))
        self.heals.append(("heal %s" % kind, self.heal_network))

    def heal_network(self):
        dropped = self.run_.cluster.dropped_packets()
        self.run_.cluster.heal()
        self.note("  (%d packets dropped)" % dropped)

    def restart(self, nodes):
        for n in nodes:
            if not n.alive():
                n.start(wait=False)
        for n in nodes:
            try:
                wait_until(n.ping, 30, "%s to answer PING after restart" % n.addr)
                if not n.alive():  # someone else answers on our address
                    self.problems.append(
                        "%s exited after restart (code %r) yet its address answers: another "
                        "process holds it" % (n.addr, n.proc.poll()))
            except TimeoutError as e:
                self.problems.append("restart failed: %s (exit code %r)" % (e, n.proc.poll()))
            self.expected_down.discard(n)

    def resume(self, node):
        if node.alive() and node.paused:
            node.resume()

    def heal_all(self):
        while self.heals:
            what, fn = self.heals.pop()
            fn()
            self.note(what)

    def check_crashes(self):
        for n in self.run_.cluster.nodes:
            if n not in self.expected_down and n.proc is not None and n.proc.poll() is not None:
                code = n.proc.poll()
                how = "with code %d" % code
                if code < 0:
                    # A signal we did not send, e.g. SIGHUP from the kernel when the shell that
                    # started the run exits while a node is stopped (orphaned process group).
                    how = "killed by %s" % signal.Signals(-code).name
                self.problems.append("%s exited by itself, %s" % (n.addr, how))
                self.expected_down.add(n)


def membership_change(nemesis, cluster):
    """Hook for membership faults: remove a node (or the leader) and add it back, or add a fresh
    node, while clients run. raftd cannot change membership at run time yet; when it can, do it
    here and append a heal that restores the original membership."""
    raise NotImplementedError("membership changes are not available in raftd yet")


def names(nodes):
    return ",".join(n.addr for n in nodes)


class Run:
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.ops_lock = threading.Lock()
        self.ops_left = args.max_ops
        self.value_counter = 0
        self.cluster = None
        self.hist = None
        self.failures = []
        self.children = []  # processes other than raftd that we started
        self.wiped = {}  # node -> monotonic time its empty data directory came up
        self.wiped_answers = {}  # addr -> ops a wiped node acknowledged (must stay empty)

    def members(self):
        """The nodes whose data directory is intact: the cluster as it is now."""
        return [n for n in self.cluster.nodes if n not in self.wiped]

    def note_wiped_answer(self, node, count):
        with self.ops_lock:
            self.wiped_answers[node.addr] = self.wiped_answers.get(node.addr, 0) + count

    def take_op(self):
        with self.ops_lock:
            if self.ops_left <= 0:
                return False
            self.ops_left -= 1
            return True

    def next_value(self):
        with self.ops_lock:
            self.value_counter += 1
            return self.value_counter * VALUE_STRIDE

    def replay_command(self):
        a = self.args
        return " ".join(shlex.quote(x) for x in [
            sys.executable, os.path.abspath(__file__), "--seed", str(a.seed), "--nodes",
            str(a.nodes), "--faults", a.faults, "--duration", str(a.duration), "--clients",
            str(a.clients), "--keys", str(a.keys), "--port", str(a.port), "--base-host",
            str(a.base_host), "--quiet", str(a.quiet[0]), str(a.quiet[1]), "--hold",
            str(a.hold[0]), str(a.hold[1]), "--pipelined", str(a.pipelined)] +
            (["--redirect"] if a.redirect else []) +
            (["--stale-reads"] if a.stale_reads else []) +
            (["--snapshot-interval", str(a.snapshot_interval)]
             if a.snapshot_interval is not None else []) +
            (["--expect", a.expect] if a.expect != "linearizable" else []))


def extra_args_for(binary, op_timeout):
    """Short Raft ticks, so elections fit in a short run (0.5-1 s), and a request timeout below
    the clients' socket timeout, so raftd's own -TIMEOUT replies get exercised too."""
    try:
        out = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    args = []
    if "--tick-ms" in out:
        args += ["--tick-ms", "50"]
    if "--request-timeout" in out:
        args += ["--request-timeout", str(int(op_timeout * 1000 / 2))]
    return args


def settle(run, timeout):
    """Waits until every member runs, follows one leader, and applies the same, unmoving
    index. Wiped nodes are no members: they follow nobody and apply nothing."""
    c = run.cluster
    members = run.members()
    deadline = time.monotonic() + timeout
    left = lambda: max(1.0, deadline - time.monotonic())  # noqa: E731
    leader = c.leader(timeout=left(), among=members)
    # A write in the leader's own term: committing it commits every older entry (Raft thesis
    # 3.6.2), so anything still pending from before the heal is now decided one way or the other.
    wait_until(lambda: leader.call("SET", "fault:settle", "1", timeout=2.0) == "OK", left(),
               "a write through the leader %s" % leader.addr)
    last = [None, 0]

    def stable():
        infos = [parse_info(n.call("INFO", "raft", timeout=2.0)) for n in members]
        sig = tuple((i.get("raft_commit_index"), i.get("raft_last_applied_index")) for i in infos)
        same = len(set(sig)) == 1 and sig[0][0] == sig[0][1] and sig[0][0] is not None
        last[1] = last[1] + 1 if same and sig == last[0] else 0
        last[0] = sig
        return last[1] >= 3  # the same on every node for three polls in a row

    wait_until(stable, left(), "every member to apply the same index", interval=0.2)
    return leader


def final_reads(run, timeout):
    """Reads every key on every member (recorded in the history); returns {key: {node: value}}."""
    seen = {}
    deadline = time.monotonic() + timeout
    for n in run.members():
        for k in range(run.args.keys):
            key = "k%d" % k
            while True:
                try:
                    client = n.client(timeout=run.args.op_timeout)
                except OSError as e:
                    if time.monotonic() > deadline:
                        raise TimeoutError("cannot connect to %s for final reads: %s" % (n.addr, e))
                    time.sleep(0.05)
                    continue
                try:
                    op_id = run.hist.invoke("final-n%d" % n.index, key, "get")
                    try:
                        value = client.call("GET", key)
                    except RespError as e:
                        kind = classify_error(str(e))
                        run.hist.complete(op_id, "fail" if kind == "fail" else "unknown", str(e))
                    except (OSError, ConnectionError, ValueError) as e:
                        run.hist.complete(op_id, "unknown", "%s: %s" % (type(e).__name__, e))
                    else:
                        run.hist.complete(op_id, "ok", reply_token(value))
                        seen.setdefault(key, {})[n.addr] = value
                        break
                finally:
                    client.close()
                if time.monotonic() > deadline:
                    raise TimeoutError("final read of %s on %s did not succeed" % (key, n.addr))
                time.sleep(0.05)
    return seen


def check_wiped(run, timeout):
    """A wiped node must still refuse at the end: a GET is answered with -CLUSTERDOWN naming its
    new data directory. Right after a restart it may still say that the cluster is not formed
    yet, until a member refuses its first handshake. These GETs are checks of the node, not
    ops of the history: the node is no member and holds no copy of the keys."""
    for n, since in sorted(run.wiped.items(), key=lambda kv: kv[0].index):
        deadline = time.monotonic() + timeout
        while True:
            try:
                last = "value %r" % (n.call("GET", "k0", timeout=run.args.op_timeout),)
                run.failures.append("wiped node %s answered GET k0 with a %s at the end: it "
                                    "must refuse" % (n.addr, last))
                break
            except RespError as e:
                last = str(e)
                if last.startswith("CLUSTERDOWN") and "data directory" in last:
                    break
            except (OSError, ConnectionError, ValueError) as e:
                last = "%s: %s" % (type(e).__name__, e)
            if time.monotonic() > deadline:
                run.failures.append("wiped node %s does not refuse as a wiped node: GET k0 got "
                                    "%s" % (n.addr, last))
                break
            time.sleep(0.2)
        print("wiped node %s (wiped at %.1f s): GET -> %s" % (
            n.addr, since - run.hist.t0 / 1e9, last[:200]), flush=True)


def find_lincheck(args):
    for p in (args.lincheck, os.environ.get("LINCHECK_BIN"),
              os.path.join(REPO, "build", "bin", "lincheck"),
              os.path.join(REPO, "build-fault", "bin", "lincheck")):
        if p and os.path.exists(p):
            return p
    raise FileNotFoundError("lincheck not found: build it (target lincheck) or pass --lincheck")


def check(run, path):
    lincheck = find_lincheck(run.args)
    cmd = [lincheck, "--max-seconds", str(run.args.check_seconds), "--max-cache-mb",
           str(run.args.check_cache_mb), path]
    t = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run.children.append(p)  # the hard deadline kills it too
    out, _ = p.communicate()
    secs = time.monotonic() - t
    lines = out.splitlines()
    # Per-key lines and the verdict always; explanations only when something is wrong.
    shown = lines if p.returncode != 0 else [x for x in lines if not x.startswith("  ")]
    for line in shown[:200]:
        print("  " + line)
    verdict = {0: "linearizable", 1: "NOT linearizable", 3: "undecided"}.get(
        p.returncode, "checker error %d" % p.returncode)
    return verdict, secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--nodes", type=int, default=3, choices=(1, 3, 5))
    ap.add_argument("--faults", default="mixed", choices=sorted(MIXES) + ["member"])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of workload")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--keys", type=int, default=4)
    ap.add_argument("--pipelined", type=float, default=0.1,
                    help="share of client turns that send a pipelined burst of 2-8 ops")
    ap.add_argument("--max-ops", type=int, default=100000)
    ap.add_argument("--op-timeout", type=float, default=3.0,
                    help="client socket timeout; an op without a reply by then is unknown")
    ap.add_argument("--quiet", type=float, nargs=2, default=(0.5, 2.5), metavar=("MIN", "MAX"),
                    help="seconds between faults")
    ap.add_argument("--hold", type=float, nargs=2, default=(1.0, 3.5), metavar=("MIN", "MAX"),
                    help="seconds a fault lasts")
    ap.add_argument("--port", type=int, default=25950,
                    help="first client port; nodes use port+10*i and port+10*i+1 (25000-25999)")
    ap.add_argument("--base-host", type=int, default=200,
                    help="nodes listen on 127.0.0.(base_host+1..); use 100+ (cluster tests: 20-90)")
    ap.add_argument("--check-seconds", type=float, default=20.0, help="checker budget per key")
    ap.add_argument("--check-cache-mb", type=int, default=4096,
                    help="checker memo cache per key (pipelined bursts make histories wider: a "
                         "linearizable 5-node run once needed 1.1 GB)")
    ap.add_argument("--hard-timeout", type=float,
                    help="kill everything and fail after this many seconds in all (default: "
                    "the duration + 100 s for start, heal and reads + the checker's budget)")
    ap.add_argument("--out", help="directory for the run directory (default: the temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory even on success")
    ap.add_argument("--lincheck", help="path of the lincheck binary")
    ap.add_argument("--redirect", action="store_true",
                    help="run raftd with --follower-writes redirect: followers answer writes "
                    "with -MOVED (a fail) and clients go to the leader it names")
    ap.add_argument("--stale-reads", action="store_true",
                    help="run raftd with --read-consistency stale (local reads, not "
                    "linearizable by design: a self-check with --expect violation)")
    ap.add_argument("--snapshot-interval", type=int,
                    help="run raftd with --snapshot-interval N (small values put snapshots, log "
                    "compaction and snapshot installs on followers that were down under the "
                    "faults)")
    ap.add_argument("--expect", choices=("linearizable", "violation"), default="linearizable",
                    help="violation: the run passes only if the checker finds the history NOT "
                    "linearizable (a self-check with --faults wipe-all)")
    args = ap.parse_args()
    if args.hard_timeout is None:
        args.hard_timeout = args.duration + 100 + args.keys * args.check_seconds
    if args.faults == "member":
        ap.error("membership changes are not available in raftd yet (see membership_change())")
    if not (25000 <= args.port and args.port + 10 * (args.nodes - 1) + 1 <= 25999):
        ap.error("--port must leave room for the nodes inside 25000-25999")

    run = Run(args)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        tempfile.tempdir = args.out
    binary = os.environ.get("RAFTD_BIN") or os.path.join(REPO, "build", "bin", "raftd")
    extra = extra_args_for(binary, args.op_timeout)
    if args.redirect:
        extra += ["--follower-writes", "redirect"]
    if args.stale_reads:
        extra += ["--read-consistency", "stale"]
    if args.snapshot_interval is not None:
        extra += ["--snapshot-interval", str(args.snapshot_interval)]
    cluster = FaultCluster(args.nodes, args.port, base_host=args.base_host, binary=binary,
                           extra_args=extra,
                           name="fault-s%d-%s" % (args.seed, args.faults))
    run.cluster = cluster
    print("fault run: seed %d, %d nodes, faults %s, %.0f s, %d clients, %d keys; dir %s" % (
        args.seed, args.nodes, args.faults, args.duration, args.clients, args.keys,
        cluster.workdir), flush=True)
    print("replay: " + run.replay_command(), flush=True)
    with open(os.path.join(cluster.workdir, "seed"), "w") as f:
        f.write("%d\n%s\n" % (args.seed, run.replay_command()))

    def give_up(why):
        print("FAIL: %s; killing the cluster" % why, flush=True)
        cluster.keep = True
        try:
            if run.hist:
                run.hist.note("runner gave up: %s" % why)
                run.hist.close()
        except Exception:
            pass
        for p in run.children:
            if p.poll() is None:
                p.kill()
        cluster.cleanup()
        print("kept: %s\nreplay: %s" % (cluster.workdir, run.replay_command()), flush=True)
        os._exit(2)

    watchdog = threading.Timer(args.hard_timeout, give_up,
                               ["hard timeout of %.0f s" % args.hard_timeout])
    watchdog.daemon = True
    watchdog.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))  # so atexit cleans up

    result = {"seed": args.seed, "nodes": args.nodes, "mix": args.faults}
    ok = False
    try:
        ok = execute(run, result)
    except Exception as e:
        run.failures.append("runner: %s: %s" % (type(e).__name__, e))
    finally:
        run.stop.set()
        watchdog.cancel()
    if run.failures:
        ok = False
    result["pass"] = ok
    result["failures"] = run.failures
    if not ok:
        cluster.keep = True
        for f in run.failures:
            print("FAIL: " + f)
        cluster.dump_logs(lines=25)
        print("kept: %s (history.txt, nemesis.log, n*.log, seed)" % cluster.workdir)
        print("replay: " + run.replay_command())
    elif args.keep:
        cluster.keep = True
    result["dir"] = cluster.workdir if cluster.keep else None
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    cluster.cleanup()
    return 0 if ok else 1


def lock_port_range(port, wait_s):
    """Holds a lock on this run's port range for the life of the process (shared by every
    checkout on the machine), so two runs never drive one cluster: a second run on the same
    range waits, and fails clearly if the range stays busy."""
    f = open("/tmp/raftd-fault-ports-%d.lock" % port, "a+")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise RuntimeError("port range %d is busy: another fault run holds %s" % (
                    port, f.name))
            time.sleep(0.2)


def ports_free(cluster):
    """Nothing may listen on our nodes' client or peer ports before we start."""
    busy = []
    for n in cluster.nodes:
        for port in (n.port, n.port + 1):
            s = socket.socket()
            try:
                s.settimeout(0.5)
                if s.connect_ex((n.host, port)) == 0:
                    busy.append("%s:%d" % (n.host, port))
            finally:
                s.close()
    return busy


def execute(run, result):
    args, cluster = run.args, run.cluster
    hist_path = os.path.join(cluster.workdir, "history.txt")
    run.hist = History(hist_path)
    run.hist.addr_index = {n.addr: i for i, n in enumerate(cluster.nodes)}
    run.hist.note("seed %d nodes %d faults %s duration %s clients %d keys %d" % (
        args.seed, args.nodes, args.faults, args.duration, args.clients, args.keys))
    run.port_lock = lock_port_range(args.port, 120)
    busy = ports_free(cluster)
    if busy:
        raise RuntimeError("something already listens on %s: not starting a cluster there" %
                           ", ".join(busy))
    cluster.start()
    dead = [n.addr for n in cluster.nodes if not n.alive()]
    if dead:
        raise RuntimeError("raftd exited right after starting on %s (see its log)" %
                           ", ".join(dead))
    if args.nodes > 1:
        cluster.leader(timeout=30)

    start = time.monotonic()
    run.workload_end = start + args.duration
    run.nemesis_end = start + args.duration - 1.0
    workers = [Worker(run, i) for i in range(args.clients)]
    nemesis = Nemesis(run)
    for w in workers:
        w.start()
    nemesis.start()
    while any(w.is_alive() for w in workers):
        for w in workers:
            w.join(0.5)
    run.stop.set()
    nemesis.join(120)
    if nemesis.is_alive():
        run.failures.append("the nemesis did not finish healing")
        return False
    nemesis.check_crashes()
    with open(os.path.join(cluster.workdir, "nemesis.log"), "w") as f:
        for t, text in nemesis.log:
            f.write("%8.3f %s\n" % (t, text))
    for w in workers:
        if w.error:
            run.failures.append("client %d: %s" % (w.index, w.error))
    if nemesis.error:
        run.failures.append("nemesis: " + nemesis.error)
    run.failures.extend(nemesis.problems)
    workload_s = time.monotonic() - start

    # Heal, settle, and read everything everywhere.
    if args.nodes > 1:
        settle(run, 60)
    run.hist.quiesce()
    seen = final_reads(run, 30)
    check_wiped(run, 15)
    run.hist.close()
    for addr, count in sorted(run.wiped_answers.items()):
        run.failures.append("wiped node %s acknowledged %d ops after its wipe" % (addr, count))
    for key in sorted(seen):
        values = seen[key]
        if len(set(values.values())) != 1:
            run.failures.append("final reads of %s disagree: %s" % (
                key, ", ".join("%s=%r" % kv for kv in sorted(values.items()))))

    counts = run.hist.counts
    fault_total = sum(nemesis.counts.values())
    print("workload: %.1f s, %d ops (%d ok, %d fail, %d unknown) [%s]; %d faults [%s]" % (
        workload_s, counts["invoke"], counts["ok"], counts["fail"], counts["unknown"],
        ", ".join("%s %d" % kv for kv in sorted(run.hist.by_op.items())), fault_total,
        ", ".join("%s %d" % kv for kv in sorted(nemesis.counts.items()))), flush=True)
    if run.hist.unexpected:
        print("unexpected error replies (counted as unknown): %s" % run.hist.unexpected)
    verdict, secs = check(run, hist_path)
    print("checker: %s in %.1f s" % (verdict, secs), flush=True)
    result.update({"ops": counts["invoke"], "ok": counts["ok"], "fail": counts["fail"],
                   "unknown": counts["unknown"], "faults": fault_total,
                   "fault_kinds": nemesis.counts, "verdict": verdict,
                   "unexpected": run.hist.unexpected, "workload_s": round(workload_s, 1),
                   "wiped": sorted(n.addr for n in run.wiped)})
    if args.expect == "violation":
        if verdict != "NOT linearizable":
            run.failures.append("self-check: the history should NOT be linearizable, but the "
                                "checker says %s" % verdict)
        run.failures = [f for f in run.failures if not f.startswith("final reads of")]
    elif verdict != "linearizable":
        run.failures.append("history is %s (see the checker's explanation above)" % verdict)
    if counts["ok"] == 0:
        run.failures.append("no op succeeded: the run checked nothing")
    return not run.failures


if __name__ == "__main__":
    sys.exit(main())
