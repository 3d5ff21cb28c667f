// ReadIndex (thesis 6.4): batching into heartbeat rounds, waiting for a current-term commit,
// follower reads forwarded to the leader, single-voter shortcut.
#include <catch2/catch.hpp>

#include "raft/read_only.h"
#include "tests/raft/cluster.h"

using namespace rafttest;
using raft::Role;

namespace {

int count_read_heartbeats(const std::vector<Message>& sent) {
  int n = 0;
  for (const Message& m : sent) n += (m.type == MessageType::kHeartbeat && !m.context.empty());
  return n;
}

}  // namespace

TEST_CASE("thesis 6.4: N reads on the leader are confirmed by one heartbeat round",
          "[raft][readindex]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.propose(1, "a") != 0);
  std::vector<Message> sent;
  c.observe = [&](const Message& m) { sent.push_back(m); };
  for (int i = 0; i < 10; ++i) c.node(1).read_index("r" + std::to_string(i));
  c.stabilize();
  REQUIRE(count_read_heartbeats(sent) == 2);  // one per follower: a single round
  auto& reads = c.peer(1).reads;
  REQUIRE(reads.size() == 10);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(reads[i].context == "r" + std::to_string(i));
    REQUIRE(reads[i].index == 2);
  }
}

TEST_CASE("ReadIndex: reads arriving while a round is in flight start their own round at once",
          "[raft][readindex]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  std::vector<Message> sent;
  c.observe = [&](const Message& m) { sent.push_back(m); };
  c.node(1).read_index("first");
  c.process(1);  // round 1 is out
  REQUIRE(count_read_heartbeats(sent) == 2);
  for (int i = 0; i < 5; ++i) c.node(1).read_index("later" + std::to_string(i));
  c.process(1);
  // Pipelined: the five do not wait a round trip for round 1 to come back.
  REQUIRE(count_read_heartbeats(sent) == 4);
  c.stabilize();
  REQUIRE(count_read_heartbeats(sent) == 4);  // one round for all five
  auto& reads = c.peer(1).reads;
  REQUIRE(reads.size() == 6);
  REQUIRE(reads[0].context == "first");
  REQUIRE(reads[0].index == 1);
  for (int i = 1; i < 6; ++i) {
    REQUIRE(reads[i].context == "later" + std::to_string(i - 1));
    REQUIRE(reads[i].index == 1);
  }
}

TEST_CASE("ReadIndex: an ack for a later round confirms the earlier rounds too",
          "[raft][readindex]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  std::string first_ctx;
  c.observe = [&](const Message& m) {
    if (m.type == MessageType::kHeartbeat && !m.context.empty() && first_ctx.empty()) {
      first_ctx = m.context;
    }
  };
  // Every ack of round 1 is lost.
  c.drop = [&](const Message& m) {
    return m.type == MessageType::kHeartbeatResp && m.context == first_ctx;
  };
  c.node(1).read_index("a");
  c.process(1);
  REQUIRE(!first_ctx.empty());
  c.stabilize();
  REQUIRE(c.peer(1).reads.empty());
  c.node(1).read_index("b");
  c.stabilize();
  auto& reads = c.peer(1).reads;
  REQUIRE(reads.size() == 2);
  REQUIRE(reads[0].context == "a");  // in order: round 1 is answered before round 2
  REQUIRE(reads[1].context == "b");
}

TEST_CASE("ReadIndex: rounds in flight are bounded; later reads queue for a free round",
          "[raft][readindex]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  std::vector<Message> sent;
  c.observe = [&](const Message& m) { sent.push_back(m); };
  c.drop = [](const Message& m) { return m.type == MessageType::kHeartbeatResp; };
  const int max_rounds = static_cast<int>(raft::Config{}.max_read_rounds);
  const int n = max_rounds + 5;
  for (int i = 0; i < n; ++i) {
    c.node(1).read_index("r" + std::to_string(i));
    c.stabilize();
  }
  REQUIRE(count_read_heartbeats(sent) == 2 * max_rounds);
  REQUIRE(c.peer(1).reads.empty());
  c.drop = nullptr;
  c.tick(1);  // a heartbeat carrying the newest round's context confirms all of them
  c.stabilize();
  auto& reads = c.peer(1).reads;
  REQUIRE(reads.size() == static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) REQUIRE(reads[i].context == "r" + std::to_string(i));
}

TEST_CASE("ReadIndex: with one round in flight, reads arriving meanwhile share the next",
          "[raft][readindex]") {
  Cluster c = Cluster::of(3, [](raft::Config& cfg) { cfg.max_read_rounds = 1; });
  REQUIRE(c.elect(1) == 1);
  std::vector<Message> sent;
  c.observe = [&](const Message& m) { sent.push_back(m); };
  c.drop = [](const Message& m) { return m.type == MessageType::kHeartbeatResp; };
  for (int i = 0; i < 5; ++i) {
    c.node(1).read_index("r" + std::to_string(i));
    c.stabilize();
  }
  REQUIRE(count_read_heartbeats(sent) == 2);  // one round, to both followers
  c.drop = nullptr;
  c.tick(1);  // confirms round 1; the four queued reads start round 2 at once
  c.stabilize();
  auto& reads = c.peer(1).reads;
  REQUIRE(reads.size() == 5);
  for (int i = 0; i < 5; ++i) REQUIRE(reads[i].context == "r" + std::to_string(i));
  REQUIRE(count_read_heartbeats(sent) <= 2 + 2 + 2);  // round 1, the tick, round 2
}

TEST_CASE("ReadIndex: a lost round is completed by later heartbeats", "[raft][readindex]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  c.drop = [](const Message& m) { return m.type == MessageType::kHeartbeatResp; };
  c.node(1).read_index("r");
  c.stabilize();
  REQUIRE(c.peer(1).reads.empty());
  c.drop = nullptr;
  c.tick(1);
  c.stabilize();
  REQUIRE(c.peer(1).reads.size() == 1);
}

TEST_CASE("ReadIndex: a leader answers only after committing an entry of its own term",
          "[raft][readindex]") {
  Cluster c = Cluster::of(3);
  // Hold back all Append acks so the new leader's no-op cannot commit.
  c.drop = [](const Message& m) { return m.type == MessageType::kAppendResp; };
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).status().hard_state.commit == 0);
  c.node(1).read_index("early");
  c.stabilize();
  c.tick(1);
  c.stabilize();
  REQUIRE(c.peer(1).reads.empty());
  c.drop = nullptr;
  c.tick(1);  // heartbeat responses trigger the Append retry, the no-op commits
  c.stabilize();
  REQUIRE(c.node(1).status().hard_state.commit == 1);
  REQUIRE(c.peer(1).reads.size() == 1);
  REQUIRE(c.peer(1).reads[0].index == 1);
}

TEST_CASE(
    "ReadIndex: a follower's read is forwarded to the leader and answered with a "
    "ReadState",
    "[raft][readindex]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.propose(1, "a") == 2);
  std::vector<Message> sent;
  c.observe = [&](const Message& m) { sent.push_back(m); };
  c.node(2).read_index("f1");
  c.node(2).read_index("f2");
  c.process(2);
  // Both requests reach the leader in one event-loop turn (before it drains a Ready).
  REQUIRE(c.queue().size() == 2);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(c.queue().front().type == MessageType::kReadIndex);
    c.node(1).step(c.queue().front());
    c.queue().pop_front();
  }
  c.stabilize();
  int forwarded = 0;
  int answers = 0;
  for (const Message& m : sent) {
    forwarded += m.type == MessageType::kReadIndex;
    answers += m.type == MessageType::kReadIndexResp;
  }
  REQUIRE(forwarded == 2);
  REQUIRE(answers == 2);
  REQUIRE(count_read_heartbeats(sent) == 2);  // both forwarded reads shared one round
  auto& reads = c.peer(2).reads;
  REQUIRE(reads.size() == 2);
  REQUIRE(reads[0] == raft::ReadState{2, "f1"});
  REQUIRE(reads[1] == raft::ReadState{2, "f2"});
  REQUIRE(c.peer(1).reads.empty());
}

TEST_CASE("ReadIndex: a follower without a leader drops the request", "[raft][readindex]") {
  Cluster c = Cluster::of(3);
  c.node(2).read_index("x");
  c.stabilize();
  REQUIRE(c.queue().empty());
  REQUIRE(c.peer(2).reads.empty());
}

TEST_CASE("ReadIndex: a single-voter cluster answers immediately", "[raft][readindex]") {
  Cluster c = Cluster::of(1);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.propose(1, "a") == 2);
  c.node(1).read_index("solo");
  raft::Ready rd = c.node(1).ready();
  REQUIRE(rd.messages.empty());
  REQUIRE(rd.read_states.size() == 1);
  REQUIRE(rd.read_states[0] == raft::ReadState{2, "solo"});
  c.node(1).advance(rd);
}

TEST_CASE("ReadIndex: a deposed leader does not confirm reads", "[raft][readindex]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  c.isolate(1);
  c.node(1).read_index("stale");
  c.stabilize();
  REQUIRE(c.tick_until([&] { return c.leader() != 0 && c.leader() != 1; }, 200));
  c.heal();
  c.tick_all(5);
  REQUIRE(c.peer(1).reads.empty());
  REQUIRE(c.node(1).role() == Role::kFollower);
}
