"""Fault-injection additions to the cluster harness (tests/cluster/raftd_cluster.py).

Kept in a subclass so the shared harness's behaviour stays exactly as the cluster tests expect:
partitions of arbitrary node pairs (a bridge is not a split into groups), packet counts of our
iptables chain (to show a partition really cut traffic), and leader lookup with short timeouts
that never waits (the nemesis must not stall on a paused node).
"""

import os
import subprocess
import sys

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "cluster"))
from raftd_cluster import Cluster, RespError, parse_info, wait_until  # noqa: E402,F401


class FaultCluster(Cluster):
    def cut(self, pairs):
        """Drops all traffic between the two nodes of each pair (both ways); nothing else."""
        self._ensure_chain()
        self._iptables("-F", self.chain)
        for a, b in pairs:
            self._iptables("-A", self.chain, "-s", a.host, "-d", b.host, "-j", "DROP")
            self._iptables("-A", self.chain, "-s", b.host, "-d", a.host, "-j", "DROP")

    def lossy(self, probability):
        """Drops each packet between any two nodes with the given probability (TCP retransmits:
        messages arrive late and in bursts rather than never)."""
        self._ensure_chain()
        self._iptables("-F", self.chain)
        for a in self.nodes:
            for b in self.nodes:
                if a is not b:
                    self._iptables("-A", self.chain, "-s", a.host, "-d", b.host, "-m", "statistic",
                                   "--mode", "random", "--probability", "%.2f" % probability,
                                   "-j", "DROP")

    def dropped_packets(self):
        """Packets our chain's DROP rules have matched since the rules were made."""
        if not self.iptables_ready:
            return 0
        out = subprocess.run(["iptables", "-w", "-L", self.chain, "-v", "-n", "-x"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        total = 0
        for line in out.splitlines():
            words = line.split()
            if len(words) > 2 and words[2] == "DROP" and words[0].isdigit():
                total += int(words[0])
        return total

    def roles(self, timeout=0.5):
        """{node: INFO raft dict} for every live, running node that answers within timeout."""
        out = {}
        for n in self.nodes:
            if not n.alive() or n.paused:
                continue
            try:
                out[n] = parse_info(n.call("INFO", "raft", timeout=timeout))
            except (OSError, RespError, ConnectionError, ValueError):
                pass
        return out

    def current_leader(self, timeout=0.5):
        """The node that says it leads in the highest term, or None; asks once, never waits."""
        best, best_term = None, -1
        for n, info in self.roles(timeout).items():
            if info.get("raft_role") != "leader":
                continue
            try:
                term = int(info.get("raft_current_term", "0"))
            except ValueError:
                term = 0
            if term > best_term:
                best, best_term = n, term
        return best
