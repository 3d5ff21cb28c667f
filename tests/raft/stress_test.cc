// A randomized but deterministic run of the in-test cluster under loss, reordering,
// partitions, crashes and snapshots. The cluster helper checks election safety, commit
// monotonicity, state machine safety and the after-persist rule after every Ready; at the end
// the cluster must heal and converge. (The full simulation lives in tests/sim.)
#include <catch2/catch.hpp>

#include "tests/raft/cluster.h"

using namespace rafttest;
using raft::ProposeError;

TEST_CASE("randomized faults keep the safety invariants and the cluster converges",
          "[raft][stress]") {
  std::size_t installs = 0;
  std::size_t reads = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    INFO("seed " << seed);
    Cluster c(
        {1, 2, 3, 4, 5}, {6},
        [](raft::Config& cfg) {
          cfg.max_msg_bytes = 64;
          cfg.max_inflight_msgs = 4;
          cfg.max_snapshot_chunk = 32;
          cfg.max_committed_bytes_per_ready = 64;
        },
        seed);
    Rng r(seed * 7919);
    c.reorder = true;
    int loss = 0;
    c.drop = [&](const Message&) { return loss > 0 && r(100) < static_cast<std::uint64_t>(loss); };
    int proposed = 0;
    std::map<std::string, Index> required;
    for (int step = 0; step < 1500; ++step) {
      const std::uint64_t dice = r(1000);
      const NodeId victim = 1 + r(6);
      if (dice < 10) {
        c.isolate(victim);
      } else if (dice < 25) {
        c.heal();
      } else if (dice < 30) {
        c.crash(victim);
      } else if (dice < 45) {
        c.restart(victim);
      } else if (dice < 55) {
        if (c.peer(victim).applied > c.peer(victim).storage->first_index() + 5) {
          c.take_snapshot(victim);
        }
      } else if (dice < 60) {
        loss = static_cast<int>(r(30));
      } else if (dice < 70) {
        // Linearizable reads: the index must cover everything committed anywhere before the
        // request was made.
        Index committed = 0;
        for (NodeId id : c.ids()) {
          committed = std::max(committed, c.node(id).status().hard_state.commit);
        }
        const std::string ctx = "r" + std::to_string(step);
        required[ctx] = committed;
        c.node(victim).read_index(ctx);
      } else if (dice < 73) {
        const NodeId l = c.leader();
        if (l != 0) c.node(l).transfer_leadership(1 + r(5));
      }
      const NodeId l = c.leader();
      if (l != 0 && c.node(l).propose("v" + std::to_string(step)) == ProposeError::kOk) {
        ++proposed;
      }
      for (NodeId id : c.ids()) {
        if (r(3) == 0) c.tick(id);
      }
      for (int k = 0; k < 20 && c.deliver_one(); ++k) {
      }
    }
    // Heal everything and let it settle.
    loss = 0;
    c.heal();
    for (NodeId id : c.ids()) {
      if (c.peer(id).down) c.restart(id);
    }
    REQUIRE(c.tick_until([&] { return c.leader() != 0; }, 300));
    const NodeId l = c.leader();
    REQUIRE(c.propose(l, "final") != 0);
    c.tick_all(20);
    for (NodeId id : c.ids()) {
      INFO("node " << id);
      REQUIRE(c.peer(id).sm == c.peer(l).sm);
    }
    REQUIRE(proposed > 100);
    for (NodeId id : c.ids()) {
      installs += c.peer(id).installed.size();
      reads += c.peer(id).reads.size();
      for (const raft::ReadState& rs : c.peer(id).reads) {
        INFO("read " << rs.context << " on node " << id);
        REQUIRE(rs.index >= required.at(rs.context));
      }
    }
  }
  // The run really exercised snapshots and reads.
  REQUIRE(installs > 0);
  REQUIRE(reads > 0);
}
