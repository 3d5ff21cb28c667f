// Leader election: figure 2's rules for all servers, followers, candidates and RequestVote,
// randomized timeouts, pre-vote (thesis 9.6), check-quorum (6.2) and leader stickiness (4.2.3).
#include <catch2/catch.hpp>

#include "tests/raft/cluster.h"

using namespace rafttest;
using raft::ProposeError;
using raft::Role;

namespace {

void no_prevote(raft::Config& c) {
  c.pre_vote = false;
  c.check_quorum = false;
}

std::vector<Message> of_type(const std::vector<Message>& ms, MessageType t) {
  std::vector<Message> out;
  for (const Message& m : ms) {
    if (m.type == t) out.push_back(m);
  }
  return out;
}

}  // namespace

TEST_CASE("smoke: three nodes elect a leader and replicate", "[raft][election]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  const Index i = c.propose(1, "hello");
  REQUIRE(i == 2);
  for (NodeId id : c.ids()) {
    INFO("node " << id);
    REQUIRE(c.peer(id).sm == std::vector<std::string>{"hello"});
  }
}

TEST_CASE("a single-voter cluster elects itself and commits once its own disk write is done",
          "[raft][election]") {
  Solo s(1, {1});
  s.node->campaign();
  // Pre-vote is won alone; the real vote for itself counts only once persisted.
  raft::Ready rd = s.node->ready();
  REQUIRE(s.node->role() == Role::kCandidate);
  REQUIRE(rd.hard_state);
  REQUIRE(rd.hard_state->vote == 1);
  s.storage.set_hard_state(*rd.hard_state);
  s.node->advance(rd);
  REQUIRE(s.node->role() == Role::kLeader);
  rd = s.next();  // the no-op
  REQUIRE(rd.entries.size() == 1);
  REQUIRE(rd.entries[0].data.empty());
  rd = s.next();  // committed after the leader's own append was acknowledged in advance()
  REQUIRE(rd.committed.size() == 1);
  REQUIRE(s.node->status().hard_state.commit == 1);

  Index idx = 0;
  REQUIRE(s.node->propose("x", &idx) == ProposeError::kOk);
  REQUIRE(idx == 2);
  rd = s.node->ready();
  REQUIRE(rd.entries.size() == 1);
  REQUIRE(rd.committed.empty());  // not durable on the leader yet
  REQUIRE(s.node->status().hard_state.commit == 1);
  s.storage.append(rd.entries);
  s.node->advance(rd);
  REQUIRE(s.node->status().hard_state.commit == 2);
  rd = s.next();
  REQUIRE(rd.committed.size() == 1);
  REQUIRE(rd.committed[0].data == "x");
}

TEST_CASE(
    "figure 2, candidates: on conversion to candidate, increment currentTerm, vote for "
    "self, send RequestVote RPCs to all other servers",
    "[raft][election][figure2]") {
  Solo s(1, {1, 2, 3}, {}, no_prevote);
  s.node->campaign();
  raft::Ready rd = s.node->ready();
  REQUIRE(s.node->term() == 1);
  REQUIRE(s.node->role() == Role::kCandidate);
  REQUIRE(rd.hard_state == raft::HardState{1, 1, 0});
  auto votes = of_type(rd.messages, MessageType::kVote);
  REQUIRE(votes.size() == 2);
  REQUIRE(votes[0].to == 2);
  REQUIRE(votes[1].to == 3);
  for (const Message& m : votes) {
    REQUIRE(m.term == 1);
    REQUIRE(m.index == 0);
    REQUIRE(m.log_term == 0);
  }
}

TEST_CASE("thesis 3.8: a candidate counts its own vote only once it is persisted",
          "[raft][election][persist]") {
  Solo s(1, {1, 2, 3}, {}, no_prevote);
  s.node->campaign();
  raft::Ready rd = s.node->ready();
  // A grant arrives before the host has written term and vote: one vote is not a majority.
  s.step(msg(MessageType::kVoteResp, 2, 1, 1));
  REQUIRE(s.node->role() == Role::kCandidate);
  s.storage.set_hard_state(*rd.hard_state);
  s.node->advance(rd);
  REQUIRE(s.node->role() == Role::kLeader);
}

TEST_CASE(
    "figure 2, candidates: if votes received from majority of servers, become leader; "
    "a majority of rejections returns to follower",
    "[raft][election][figure2]") {
  SECTION("won") {
    Solo s(1, {1, 2, 3, 4, 5}, {}, no_prevote);
    s.node->campaign();
    s.next();
    s.step(msg(MessageType::kVoteResp, 2, 1, 1));
    REQUIRE(s.node->role() == Role::kCandidate);
    s.step(msg(MessageType::kVoteResp, 3, 1, 1));
    REQUIRE(s.node->role() == Role::kLeader);
  }
  SECTION("lost") {
    Solo s(1, {1, 2, 3, 4, 5}, {}, no_prevote);
    s.node->campaign();
    s.next();
    for (NodeId from : {2, 3}) {
      Message r = msg(MessageType::kVoteResp, from, 1, 1);
      r.reject = true;
      s.step(r);
    }
    REQUIRE(s.node->role() == Role::kCandidate);
    Message r = msg(MessageType::kVoteResp, 4, 1, 1);
    r.reject = true;
    s.step(r);
    REQUIRE(s.node->role() == Role::kFollower);
    REQUIRE(s.node->term() == 1);
  }
}

TEST_CASE(
    "figure 2, candidates: if AppendEntries RPC received from new leader, convert to "
    "follower",
    "[raft][election][figure2]") {
  Solo s(1, {1, 2, 3}, {}, no_prevote);
  s.node->campaign();
  s.next();
  Message hb = msg(MessageType::kHeartbeat, 2, 1, 1);
  s.step(hb);
  REQUIRE(s.node->role() == Role::kFollower);
  REQUIRE(s.node->leader() == 2);
}

TEST_CASE(
    "figure 2, all servers: if RPC request or response contains term T > currentTerm, set "
    "currentTerm = T, convert to follower",
    "[raft][election][figure2]") {
  Cluster c = Cluster::of(3, no_prevote);
  REQUIRE(c.elect(1) == 1);
  const Term t = c.node(1).term();
  c.node(1).step(msg(MessageType::kAppendResp, 2, 1, t + 5));
  REQUIRE(c.node(1).role() == Role::kFollower);
  REQUIRE(c.node(1).term() == t + 5);
  REQUIRE(c.node(1).status().hard_state.vote == 0);
}

TEST_CASE("figure 2, RequestVote: reply false if term < currentTerm", "[raft][election][figure2]") {
  Solo s(
      1, {1, 2, 3},
      [](raft::MemoryStorage& st) {
        st.set_hard_state({5, 0, 0});
      },
      no_prevote);
  Message v = msg(MessageType::kVote, 2, 1, 4);
  s.step(v);
  auto out = s.next_msgs();
  // Rejected with our term, so that the candidate updates itself.
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].type == MessageType::kVoteResp);
  REQUIRE(out[0].reject);
  REQUIRE(out[0].term == 5);
  REQUIRE(s.node->status().hard_state.vote == 0);
}

TEST_CASE(
    "figure 2, RequestVote: grant if votedFor is null or candidateId, and candidate's log "
    "is at least as up-to-date as receiver's log",
    "[raft][election][figure2]") {
  auto setup = [](raft::MemoryStorage& st) {
    st.append(entries_with_terms(1, {1, 1, 2}));
    st.set_hard_state({2, 0, 0});
  };
  struct Case {
    Index index;
    Term log_term;
    bool grant;
  };
  // Our log ends at index 3, term 2.
  for (const Case& k : {Case{3, 2, true}, Case{5, 2, true}, Case{2, 2, false}, Case{9, 1, false},
                        Case{1, 3, true}}) {
    Solo s(1, {1, 2, 3}, setup, no_prevote);
    Message v = msg(MessageType::kVote, 2, 1, 3);
    v.index = k.index;
    v.log_term = k.log_term;
    s.step(v);
    raft::Ready rd = s.next();
    INFO("candidate last " << k.index << "/" << k.log_term);
    REQUIRE(rd.messages_after_persist.size() == 1);
    REQUIRE(rd.messages_after_persist[0].type == MessageType::kVoteResp);
    REQUIRE(rd.messages_after_persist[0].reject == !k.grant);
    REQUIRE(s.node->status().hard_state.vote == (k.grant ? 2u : 0u));
  }

  SECTION("only one vote per term") {
    Solo s(1, {1, 2, 3}, setup, no_prevote);
    Message v = msg(MessageType::kVote, 2, 1, 3);
    v.index = 3;
    v.log_term = 2;
    s.step(v);
    s.next();
    Message w = v;
    w.from = 3;
    s.step(w);
    auto out = s.next_msgs();
    REQUIRE(out.size() == 1);
    REQUIRE(out[0].reject);
    // The same candidate asking again (a retransmission) is granted again.
    s.step(v);
    out = s.next_msgs();
    REQUIRE(out.size() == 1);
    REQUIRE_FALSE(out[0].reject);
  }
}

TEST_CASE("figure 2, persistent state: updated on stable storage before responding to RPCs",
          "[raft][election][persist]") {
  Solo s(1, {1, 2, 3}, {}, no_prevote);
  Message v = msg(MessageType::kVote, 2, 1, 1);
  s.step(v);
  raft::Ready rd = s.node->ready();
  REQUIRE(rd.hard_state == raft::HardState{1, 2, 0});
  REQUIRE(rd.messages.empty());
  REQUIRE(rd.messages_after_persist.size() == 1);
  REQUIRE(rd.messages_after_persist[0].type == MessageType::kVoteResp);
  s.node->advance(rd);
}

TEST_CASE(
    "figure 2, followers: if election timeout elapses without hearing from the leader, "
    "convert to candidate; timeouts are randomized in [T, 2T)",
    "[raft][election][figure2]") {
  std::set<int> seen;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    Rng rng(seed);
    raft::MemoryStorage st(raft::ConfState{{1, 2, 3}, {}});
    raft::Config cfg;
    cfg.id = 1;
    cfg.election_ticks = 10;
    cfg.pre_vote = false;
    cfg.rand = [&](std::uint64_t n) { return rng(n); };
    raft::Node n(cfg, st);
    int ticks = 0;
    while (n.role() == Role::kFollower) {
      n.tick();
      ++ticks;
      REQUIRE(ticks < 20);
    }
    REQUIRE(ticks >= 10);
    seen.insert(ticks);
  }
  REQUIRE(seen.size() > 3);  // actually random, not one fixed value
}

TEST_CASE("thesis 9.6: pre-vote keeps a partitioned node from disrupting a stable leader",
          "[raft][election][prevote]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  const Term t = c.node(1).term();
  c.isolate(3);
  for (int i = 0; i < 100; ++i) {
    c.tick(3);
    c.tick(1);
    c.tick(2);
    c.stabilize();
  }
  // It kept pre-campaigning but never raised its term.
  REQUIRE(c.node(3).term() == t);
  REQUIRE(c.node(3).role() != Role::kLeader);
  c.heal();
  c.tick_all(30);
  REQUIRE(c.leader() == 1);
  REQUIRE(c.node(1).term() == t);
  REQUIRE(c.propose(1, "after") != 0);
  REQUIRE(c.peer(3).sm.back() == "after");
}

TEST_CASE("pre-vote: a granted pre-vote does not change the voter's term or vote",
          "[raft][election][prevote]") {
  Solo s(1, {1, 2, 3});
  Message v = msg(MessageType::kPreVote, 2, 1, 1);
  s.step(v);
  auto out = s.next_msgs();
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].type == MessageType::kPreVoteResp);
  REQUIRE_FALSE(out[0].reject);
  REQUIRE(out[0].term == 1);
  REQUIRE(s.node->term() == 0);
  REQUIRE(s.node->status().hard_state.vote == 0);
}

TEST_CASE(
    "thesis 6.2 check-quorum: a leader that hears from no majority for an election "
    "timeout steps down",
    "[raft][election][checkquorum]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  // While connected it stays leader however long it runs.
  for (int i = 0; i < 50; ++i) {
    c.tick(1);
    c.stabilize();
  }
  REQUIRE(c.node(1).role() == Role::kLeader);
  c.isolate(1);
  int ticks = 0;
  while (c.node(1).role() == Role::kLeader) {
    c.tick(1);
    ++ticks;
    REQUIRE(ticks <= 20);
  }
  REQUIRE(ticks <= 2 * 10);
  REQUIRE(c.node(1).role() == Role::kFollower);
  REQUIRE(c.node(1).leader() == 0);
  REQUIRE(c.node(1).propose("x") == ProposeError::kNotLeader);
}

TEST_CASE(
    "leader stickiness: a follower that heard from its leader within the election "
    "timeout ignores (pre)votes unless they are for a leadership transfer",
    "[raft][election][lease]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  const Term t = c.node(1).term();
  for (MessageType type : {MessageType::kVote, MessageType::kPreVote}) {
    Message v = msg(type, 3, 2, t + 1);
    v.index = 100;
    v.log_term = t;
    c.node(2).step(v);
    raft::Ready rd = c.node(2).ready();
    REQUIRE(rd.messages_after_persist.empty());
    c.node(2).advance(rd);
    REQUIRE(c.node(2).term() == t);
    REQUIRE(c.node(2).leader() == 1);
  }
  Message v = msg(MessageType::kVote, 3, 2, t + 1);
  v.index = 100;
  v.log_term = t;
  v.context = "transfer";
  c.node(2).step(v);
  REQUIRE(c.node(2).term() == t + 1);
  REQUIRE(c.node(2).status().hard_state.vote == 3);
}

TEST_CASE("a campaign with check-quorum and pre-vote elects a new leader after the old one dies",
          "[raft][election]") {
  Cluster c = Cluster::of(5);
  REQUIRE(c.elect(1) == 1);
  c.crash(1);
  REQUIRE(c.tick_until([&] { return c.leader() != 0 && c.leader() != 1; }, 100));
  const NodeId l = c.leader();
  REQUIRE(c.propose(l, "v") != 0);
  for (NodeId id : {2, 3, 4, 5}) REQUIRE(c.peer(id).sm.back() == "v");
}

TEST_CASE("proposals on a non-leader fail with kNotLeader", "[raft][election]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.node(1).propose("x") == ProposeError::kNotLeader);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(2).propose("x") == ProposeError::kNotLeader);
  REQUIRE(c.node(2).propose_conf_change({raft::ConfChangeType::kRemoveNode, 3, ""}) ==
          ProposeError::kNotLeader);
}

TEST_CASE("log lines name the node id, term and role; status is filled", "[raft][election]") {
  Solo s(1, {1});
  s.node->campaign();
  s.next();
  s.next();
  s.next();
  REQUIRE_FALSE(s.logs.empty());
  bool saw_leader = false;
  for (const std::string& l : s.logs) {
    REQUIRE(l.rfind("[1 t", 0) == 0);
    if (l.find("leader]") != std::string::npos) saw_leader = true;
  }
  REQUIRE(saw_leader);
  raft::Status st = s.node->status();
  REQUIRE(st.id == 1);
  REQUIRE(st.role == Role::kLeader);
  REQUIRE(st.leader == 1);
  REQUIRE(st.hard_state == raft::HardState{1, 1, 1});
  REQUIRE(st.applied == 1);
  REQUIRE(st.last_index == 1);
  REQUIRE(st.conf.voters == std::vector<NodeId>{1});
  REQUIRE(st.progress.size() == 1);
  REQUIRE(st.progress[0].match == 1);
}
