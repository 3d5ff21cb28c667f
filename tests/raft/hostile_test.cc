// Messages no correct peer sends: the core refuses them before any arithmetic on their numbers,
// keeps its term, and keeps working (the cluster that received one still elects and commits).
#include <catch2/catch.hpp>
#include <limits>

#include "tests/raft/cluster.h"

using namespace rafttest;
using raft::kMaxIndex;
using raft::kMaxTerm;
using raft::Role;

namespace {

bool logged(const Solo& s, const std::string& needle) {
  for (const auto& line : s.logs) {
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("message_problem accepts what correct peers send", "[raft][hostile]") {
  Message m = msg(MessageType::kAppend, 2, 1, 5);
  m.index = 10;
  m.log_term = 4;
  m.entries = entries_with_terms(11, {4, 5, 5});
  m.commit = 9;
  CHECK(raft::message_problem(m) == nullptr);
  Message v = msg(MessageType::kPreVote, 2, 1, kMaxTerm - 1);
  v.log_term = kMaxTerm - 2;
  v.index = kMaxIndex;
  CHECK(raft::message_problem(v) == nullptr);
  Message s = msg(MessageType::kSnapshot, 2, 1, 3);
  s.snapshot.index = 100;
  s.snapshot.term = 3;
  s.snapshot_size = 10;
  s.snapshot_offset = 4;
  s.snapshot_data = "abcdef";
  CHECK(raft::message_problem(s) == nullptr);
}

TEST_CASE("message_problem names each forged shape", "[raft][hostile]") {
  auto problem = [](const Message& m) {
    const char* p = raft::message_problem(m);
    return std::string(p == nullptr ? "" : p);
  };
  Message m = msg(MessageType::kHeartbeat, 2, 1, std::numeric_limits<raft::Term>::max());
  CHECK_THAT(problem(m), Catch::Contains("term"));
  m.term = kMaxTerm;
  CHECK_THAT(problem(m), Catch::Contains("term"));

  Message a = msg(MessageType::kAppend, 2, 1, 5);
  a.index = 10;
  a.log_term = 6;  // above the message's term
  CHECK_THAT(problem(a), Catch::Contains("log term"));
  a.log_term = 4;
  a.entries = entries_with_terms(12, {5});  // a gap after index 10
  CHECK_THAT(problem(a), Catch::Contains("consecutive"));
  a.entries = entries_with_terms(11, {5, 4});
  CHECK_THAT(problem(a), Catch::Contains("decrease"));
  a.entries = entries_with_terms(11, {3});  // below the previous entry's term
  CHECK_THAT(problem(a), Catch::Contains("decrease"));
  a.entries = entries_with_terms(11, {7});
  CHECK_THAT(problem(a), Catch::Contains("above"));
  a.entries.clear();
  a.index = std::numeric_limits<raft::Index>::max();  // index + 1 would wrap
  CHECK_THAT(problem(a), Catch::Contains("index"));
  a.index = kMaxIndex;
  a.entries = entries_with_terms(kMaxIndex + 1, {5});
  CHECK_THAT(problem(a), Catch::Contains("index"));

  Message s = msg(MessageType::kSnapshot, 2, 1, 3);
  s.snapshot.index = 100;
  s.snapshot.term = 3;
  s.snapshot_size = 10;
  s.snapshot_offset = std::numeric_limits<std::uint64_t>::max();
  s.snapshot_data = "x";
  CHECK_THAT(problem(s), Catch::Contains("snapshot"));
  s.snapshot_offset = 8;
  s.snapshot_data = "xyz";
  CHECK_THAT(problem(s), Catch::Contains("snapshot"));
}

TEST_CASE("a heartbeat with term 2^64-1 is refused and the term stays", "[raft][hostile]") {
  // The attack that once stopped a cluster for good: every node moved to the maximum term, the
  // next campaign wrapped to 0, and peers discarded every message of term 0.
  Solo s(1, {1, 2, 3});
  Message hb = msg(MessageType::kHeartbeat, 2, 1, std::numeric_limits<raft::Term>::max());
  s.step(hb);
  (void)s.next();
  CHECK(s.node->term() == 0);
  CHECK(logged(s, "term at or beyond the maximum"));
  // It still campaigns normally, in term 1.
  for (int i = 0; i < 40 && s.node->role() == Role::kFollower; ++i) {
    s.node->tick();
    (void)s.next();
  }
  CHECK(s.node->role() != Role::kFollower);
  CHECK(s.node->term() <= 1);
}

TEST_CASE("a node whose stored term is at the maximum does not campaign", "[raft][hostile]") {
  Solo s(1, {1}, [](raft::MemoryStorage& st) {
    st.set_hard_state(raft::HardState{kMaxTerm - 1, raft::kNoNode, 0});
  });
  s.node->campaign();
  (void)s.next();
  CHECK(s.node->role() == Role::kFollower);
  CHECK(s.node->term() == kMaxTerm - 1);
  CHECK(logged(s, "at the maximum"));
}

TEST_CASE("a cluster shown a forged maximum term still elects and commits", "[raft][hostile]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.propose(1, "before") != 0);
  for (NodeId to : {2, 3}) {
    Message hb = msg(MessageType::kHeartbeat, 1, to, std::numeric_limits<raft::Term>::max());
    c.node(to).step(hb);
  }
  c.stabilize();
  // A new election happens at an ordinary term.
  c.isolate(1);
  REQUIRE(c.tick_until([&] { return c.leader() == 2 || c.leader() == 3; }));
  const NodeId l = c.leader();
  CHECK(c.node(l).term() < 10);
  c.heal();
  REQUIRE(c.propose(l, "after") != 0);
  REQUIRE(c.tick_until([&] { return c.peer(1).sm.size() == 2; }));
  for (NodeId id : c.ids()) {
    INFO("node " << id);
    CHECK(c.peer(id).sm == std::vector<std::string>{"before", "after"});
  }
}
