// Leadership transfer (thesis 3.10), learners, and single-server membership changes (thesis 4.1).
#include <catch2/catch.hpp>

#include "tests/raft/cluster.h"

using namespace rafttest;
using raft::ConfChange;
using raft::ConfChangeType;
using raft::ProposeError;
using raft::Role;

namespace {

std::vector<NodeId> voters_of(Cluster& c, NodeId id) {
  return c.node(id).status().conf.voters;
}
std::vector<NodeId> learners_of(Cluster& c, NodeId id) {
  return c.node(id).status().conf.learners;
}

}  // namespace

// ---- leadership transfer ----------------------------------------------------------------------

TEST_CASE("thesis 3.10: leadership transfer to an up-to-date follower needs no election timeout",
          "[raft][transfer]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  const Term t = c.node(1).term();
  std::vector<Message> sent;
  c.observe = [&](const Message& m) { sent.push_back(m); };
  c.node(1).transfer_leadership(2);
  c.stabilize();
  REQUIRE(c.leader() == 2);
  REQUIRE(c.node(2).term() == t + 1);
  REQUIRE(c.node(1).role() == Role::kFollower);
  bool timeout_now = false;
  for (const Message& m : sent) {
    if (m.type == MessageType::kTimeoutNow) {
      timeout_now = true;
      REQUIRE(m.to == 2);
    }
    if (m.type == MessageType::kVote) REQUIRE(m.context == "transfer");
    REQUIRE(m.type != MessageType::kPreVote);  // the target skips pre-vote
  }
  REQUIRE(timeout_now);
  REQUIRE(c.propose(2, "after") != 0);
  REQUIRE(c.peer(1).sm.back() == "after");
}

TEST_CASE("leadership transfer first catches a lagging target up, refusing proposals meanwhile",
          "[raft][transfer]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  c.cut(1, 3);
  for (int i = 0; i < 5; ++i) REQUIRE(c.propose(1, "x" + std::to_string(i)) != 0);
  REQUIRE(c.peer(3).storage->last_index() < c.peer(1).storage->last_index());
  std::vector<Message> sent;
  c.observe = [&](const Message& m) { sent.push_back(m); };
  c.node(1).transfer_leadership(3);
  c.stabilize();
  // Still cut off: no TimeoutNow can be sent to a target that is behind.
  for (const Message& m : sent) REQUIRE(m.type != MessageType::kTimeoutNow);
  REQUIRE(c.node(1).propose("refused") == ProposeError::kTransferring);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kRemoveNode, 2, ""}) ==
          ProposeError::kTransferring);
  c.heal();
  c.tick(1);  // heartbeat -> response -> catch-up Appends -> TimeoutNow
  c.stabilize();
  REQUIRE(c.leader() == 3);
  REQUIRE(c.peer(3).sm.size() == 5);
}

TEST_CASE("thesis 3.10: a transfer that does not finish within an election timeout is aborted",
          "[raft][transfer]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  REQUIRE(c.propose(1, "x") != 0);
  c.node(1).transfer_leadership(3);
  REQUIRE(c.node(1).propose("y") == ProposeError::kTransferring);
  for (int i = 0; i < 10; ++i) {
    c.tick(1);
    c.tick(2);
    c.stabilize();
  }
  REQUIRE(c.node(1).role() == Role::kLeader);
  REQUIRE(c.node(1).propose("z") == ProposeError::kOk);
}

TEST_CASE("leadership transfer to a learner or a non-member is ignored", "[raft][transfer]") {
  Cluster c({1, 2, 3}, {4});
  REQUIRE(c.elect(1) == 1);
  c.node(1).transfer_leadership(4);
  c.node(1).transfer_leadership(9);
  REQUIRE(c.node(1).propose("ok") == ProposeError::kOk);
  c.stabilize();
  REQUIRE(c.leader() == 1);
}

// ---- learners ---------------------------------------------------------------------------------

TEST_CASE("learners replicate but never campaign and never count toward a quorum",
          "[raft][learner]") {
  Cluster c({1, 2, 3}, {4});
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.propose(1, "a") != 0);
  REQUIRE(c.peer(4).sm == std::vector<std::string>{"a"});

  // A learner that never hears from the leader does not campaign.
  c.isolate(4);
  c.tick(4, 100);
  REQUIRE(c.node(4).role() == Role::kFollower);
  REQUIRE(c.node(4).term() == c.node(1).term());
  c.node(4).campaign();
  REQUIRE(c.node(4).role() == Role::kFollower);
  c.heal();

  // The leader plus the learner are not a majority of {1,2,3}.
  c.cut(1, 2);
  c.cut(1, 3);
  const Index commit = c.node(1).status().hard_state.commit;
  REQUIRE(c.node(1).propose("b") == ProposeError::kOk);
  c.stabilize();
  REQUIRE(c.peer(4).storage->last_index() == commit + 1);   // the learner has it...
  REQUIRE(c.node(1).status().hard_state.commit == commit);  // ...but it is not committed
  c.heal();
  c.tick(1);
  c.stabilize();
  REQUIRE(c.node(1).status().hard_state.commit == commit + 1);

  raft::Status st = c.node(1).status();
  bool found = false;
  for (const auto& p : st.progress) {
    if (p.id == 4) {
      found = true;
      REQUIRE(p.learner);
    }
  }
  REQUIRE(found);
}

TEST_CASE("a learner's vote is never counted", "[raft][learner]") {
  Solo s(
      1, {1, 2, 3},
      [](raft::MemoryStorage& st) {
        st.set_conf_state({{1, 2, 3}, {4, 5}});
      },
      [](raft::Config& cfg) { cfg.pre_vote = false; });
  s.node->campaign();
  s.next();  // own vote persisted: 1 of 3
  s.step(msg(MessageType::kVoteResp, 4, 1, 1));
  s.step(msg(MessageType::kVoteResp, 5, 1, 1));
  REQUIRE(s.node->role() == Role::kCandidate);
  s.step(msg(MessageType::kVoteResp, 2, 1, 1));
  REQUIRE(s.node->role() == Role::kLeader);
}

TEST_CASE("a learner is promoted to voter with kAddVoter", "[raft][learner][membership]") {
  Cluster c({1, 2, 3}, {4});
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kAddVoter, 4, "host4:7000"}) ==
          ProposeError::kOk);
  c.stabilize();
  for (NodeId id : {1, 2, 3, 4}) {
    REQUIRE(voters_of(c, id) == std::vector<NodeId>{1, 2, 3, 4});
    REQUIRE(learners_of(c, id).empty());
  }
  // Now 4 votes and can lead.
  c.node(1).transfer_leadership(4);
  c.stabilize();
  REQUIRE(c.leader() == 4);
}

// ---- membership changes -----------------------------------------------------------------------

TEST_CASE("thesis 4.1: adding a server; its address travels untouched in the context",
          "[raft][membership]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.propose(1, "before") != 0);
  c.add_empty_node(4);
  Index idx = 0;
  const ConfChange cc{ConfChangeType::kAddVoter, 4, std::string("10.0.0.4:6380\0bin", 17)};
  REQUIRE(c.node(1).propose_conf_change(cc, &idx) == ProposeError::kOk);
  // In effect on the leader as soon as it is appended.
  REQUIRE(voters_of(c, 1) == std::vector<NodeId>{1, 2, 3, 4});
  c.stabilize();
  c.tick(1);
  c.stabilize();
  REQUIRE(c.peer(4).sm == std::vector<std::string>{"before"});
  REQUIRE(voters_of(c, 4) == std::vector<NodeId>{1, 2, 3, 4});
  // The applied entry carries the context byte for byte.
  std::vector<raft::Entry> e;
  REQUIRE(c.peer(4).storage->entries(idx, idx + 1, 1 << 20, e) == raft::StorageError::kOk);
  REQUIRE(e[0].type == raft::EntryType::kConfChange);
  REQUIRE(raft::decode_conf_change(e[0].data) == cc);
  // The new voter counts: with 1 and 2 cut off, 3 and 4 and the leader still commit... and a
  // majority of four now needs three.
  c.isolate(2);
  c.isolate(3);
  REQUIRE(c.node(1).propose("needs3") == ProposeError::kOk);
  c.stabilize();
  REQUIRE(c.peer(4).storage->last_index() > idx);
  REQUIRE(c.peer(1).sm.back() == "before");  // 1 + 4 is not a majority of 4
  c.heal();
  c.tick(1);
  c.stabilize();
  REQUIRE(c.peer(1).sm.back() == "needs3");
}

TEST_CASE("thesis 4.1: one change at a time: a second change waits for the first to commit",
          "[raft][membership]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kAddLearner, 4, ""}) == ProposeError::kOk);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kAddLearner, 5, ""}) ==
          ProposeError::kConfChangePending);
  c.stabilize();
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kAddLearner, 5, ""}) == ProposeError::kOk);
}

TEST_CASE("a new leader makes no change before committing an entry of its term",
          "[raft][membership]") {
  Cluster c = Cluster::of(3);
  c.drop = [](const Message& m) { return m.type == MessageType::kAppendResp; };
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kRemoveNode, 3, ""}) ==
          ProposeError::kConfChangePending);
  c.drop = nullptr;
  c.tick(1);
  c.stabilize();
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kRemoveNode, 3, ""}) == ProposeError::kOk);
}

TEST_CASE("thesis 4.1: a change is in effect on a follower once appended, before it commits",
          "[raft][membership]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  // Only node 2 receives the change; its ack is lost, so nothing commits.
  c.cut(1, 3);
  c.drop = [](const Message& m) { return m.type == MessageType::kAppendResp; };
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kRemoveNode, 3, ""}) == ProposeError::kOk);
  c.stabilize();
  REQUIRE(c.node(2).status().hard_state.commit < c.peer(2).storage->last_index());
  REQUIRE(voters_of(c, 2) == std::vector<NodeId>{1, 2});
  REQUIRE(voters_of(c, 3) == std::vector<NodeId>{1, 2, 3});
}

TEST_CASE("thesis 4.1: a change whose entry is truncated is reverted", "[raft][membership]") {
  // restart: 0 = none; 1 = storage reports the applied membership; 2 = storage reports the
  // membership as of the last (uncommitted) conf change in its log.
  for (int restart : {0, 1, 2}) {
    INFO("restart before truncation: " << restart);
    Solo s(2, {1, 2, 3}, {}, [](raft::Config& cfg) { cfg.pre_vote = false; });
    // Leader 1 (term 1) appends "remove 3" at index 2 without committing it.
    Message a = msg(MessageType::kAppend, 1, 2, 1);
    a.entries = {raft::Entry{1, 1, raft::EntryType::kNormal, ""},
                 raft::Entry{1, 2, raft::EntryType::kConfChange,
                             raft::encode_conf_change_entry({ConfChangeType::kRemoveNode, 3, ""},
                                                            {{1, 2}, {}}, {{1, 2, 3}, {}})}};
    a.commit = 1;
    s.step(a);
    s.next();
    REQUIRE(s.node->status().conf.voters == std::vector<NodeId>{1, 2});
    if (restart != 0) {
      s.storage.set_conf_state(restart == 1 ? raft::ConfState{{1, 2, 3}, {}}
                                            : raft::ConfState{{1, 2}, {}});
      s.node = std::make_unique<raft::Node>(raft::Config{[&] {
                                              raft::Config cfg;
                                              cfg.id = 2;
                                              cfg.pre_vote = false;
                                              cfg.rand = [&](std::uint64_t n) { return s.rng(n); };
                                              return cfg;
                                            }()},
                                            s.storage);
      REQUIRE(s.node->status().conf.voters == std::vector<NodeId>{1, 2});
    }
    // Leader 3 of term 2 overwrites index 2 with a normal entry.
    Message b = msg(MessageType::kAppend, 3, 2, 2);
    b.index = 1;
    b.log_term = 1;
    b.entries = {raft::Entry{2, 2, raft::EntryType::kNormal, "x"}};
    s.step(b);
    raft::Ready rd = s.next();
    REQUIRE(rd.entries.size() == 1);
    REQUIRE(s.node->status().conf.voters == std::vector<NodeId>{1, 2, 3});
  }
}

TEST_CASE("removing a follower", "[raft][membership]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kRemoveNode, 3, ""}) == ProposeError::kOk);
  c.stabilize();
  REQUIRE(voters_of(c, 1) == std::vector<NodeId>{1, 2});
  // The removed node gets nothing more and never campaigns (it is not a voter itself either).
  c.crash(3);
  REQUIRE(c.propose(1, "two") != 0);
  REQUIRE(c.peer(2).sm.back() == "two");
  c.restart(3);
  c.tick(3, 100);
  REQUIRE(c.node(3).role() == Role::kFollower);
  raft::Status st = c.node(1).status();
  for (const auto& p : st.progress) REQUIRE(p.id != 3);
}

TEST_CASE("thesis 4.2.2: a leader that removes itself steps down once the change commits",
          "[raft][membership]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  Index idx = 0;
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kRemoveNode, 1, ""}, &idx) ==
          ProposeError::kOk);
  // Until it commits, the leader keeps leading but takes no new proposals.
  REQUIRE(c.node(1).role() == Role::kLeader);
  REQUIRE(c.node(1).propose("x") == ProposeError::kDropped);
  c.stabilize();
  REQUIRE(c.node(1).role() == Role::kFollower);
  // It handed over with TimeoutNow: a new leader among {2, 3} without waiting for a timeout.
  const NodeId l = c.leader();
  REQUIRE((l == 2 || l == 3));
  REQUIRE(voters_of(c, l) == std::vector<NodeId>{2, 3});
  REQUIRE(c.propose(l, "next") != 0);
  for (NodeId id : {2, 3}) REQUIRE(c.peer(id).sm.back() == "next");
  c.tick_all(50);
  REQUIRE(c.node(1).role() == Role::kFollower);
}

TEST_CASE("a self-removing leader commits using the new configuration's majority",
          "[raft][membership]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  // With 3 unreachable, 2 alone is a majority of {2, 3}? No: two voters need both. The change
  // must not commit with only 1 (not a member) and 2.
  c.isolate(3);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kRemoveNode, 1, ""}) == ProposeError::kOk);
  c.stabilize();
  REQUIRE(c.node(1).role() == Role::kLeader);
  c.heal();
  c.tick(1);
  c.stabilize();
  REQUIRE(c.node(1).role() == Role::kFollower);
}

TEST_CASE("a conf change that would leave no voters is refused", "[raft][membership]") {
  Cluster c = Cluster::of(1);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kRemoveNode, 1, ""}) ==
          ProposeError::kDropped);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kAddLearner, 1, ""}) ==
          ProposeError::kDropped);
}

TEST_CASE("membership survives a restart", "[raft][membership]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).propose_conf_change({ConfChangeType::kAddLearner, 4, ""}) == ProposeError::kOk);
  c.stabilize();
  c.restart(2);
  REQUIRE(voters_of(c, 2) == std::vector<NodeId>{1, 2, 3});
  REQUIRE(learners_of(c, 2) == std::vector<NodeId>{4});
}
