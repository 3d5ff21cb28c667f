// Snapshots: log compaction, chunked InstallSnapshot with flow control, rejection, lost
// chunks, and restart from a snapshot.
#include <catch2/catch.hpp>

#include "tests/raft/cluster.h"

using namespace rafttest;
using raft::ProposeError;
using raft::Role;

namespace {

constexpr std::size_t kChunk = 16;

void small_chunks(raft::Config& c) {
  c.max_snapshot_chunk = kChunk;
  c.max_inflight_snapshot_chunks = 3;
}

// Leader 1 commits `n` entries while node 3 is cut off, then snapshots and compacts.
void lag_and_compact(Cluster& c, int n) {
  REQUIRE(c.elect(1) == 1);
  c.isolate(3);
  for (int i = 0; i < n; ++i) REQUIRE(c.propose(1, "value-" + std::to_string(i)) != 0);
  c.take_snapshot(1);
  c.take_snapshot(2);
  REQUIRE(c.peer(1).storage->first_index() > 2);
}

}  // namespace

TEST_CASE("a follower that needs compacted entries gets the snapshot in chunks",
          "[raft][snapshot]") {
  Cluster c = Cluster::of(3, small_chunks);
  lag_and_compact(c, 20);
  const std::string body = c.peer(1).storage->snapshot_data();
  const raft::SnapshotMeta meta = c.peer(1).storage->snapshot_meta();
  int chunks = 0;
  std::size_t max_in_flight = 0;
  c.observe = [&](const Message& m) {
    if (m.type == MessageType::kSnapshot) {
      ++chunks;
      REQUIRE(m.snapshot_data.size() <= kChunk);
      REQUIRE(m.snapshot == meta);
      REQUIRE(m.snapshot_size == body.size());
    }
  };
  c.heal();
  c.tick(1);
  while (c.deliver_one()) {
    std::size_t n = 0;
    for (const Message& m : c.queue()) n += m.type == MessageType::kSnapshot;
    max_in_flight = std::max(max_in_flight, n);
  }
  REQUIRE(chunks == static_cast<int>((body.size() + kChunk - 1) / kChunk));
  REQUIRE(max_in_flight <= 3);  // the window of chunks in flight
  REQUIRE(c.peer(3).installed == std::vector<raft::SnapshotMeta>{meta});
  REQUIRE(c.peer(3).sm == c.peer(1).sm);
  REQUIRE(c.peer(3).storage->first_index() == meta.index + 1);
  REQUIRE(c.node(3).status().applied >= meta.index);
  // Replication resumes with entries after the snapshot.
  REQUIRE(c.propose(1, "after") != 0);
  REQUIRE(c.peer(3).sm.back() == "after");
  for (const auto& p : c.node(1).status().progress)
    REQUIRE(p.match == c.node(1).status().last_index);
}

TEST_CASE("each received chunk goes to the host in a Ready and is acked after the persist",
          "[raft][snapshot]") {
  Cluster c = Cluster::of(3, small_chunks);
  lag_and_compact(c, 10);
  c.heal();
  c.tick(1);
  // Run the network until the first chunk is about to reach node 3; step it by hand.
  Message first;
  while (!c.queue().empty()) {
    const Message& m = c.queue().front();
    if (m.type == MessageType::kSnapshot && m.to == 3 && m.snapshot_offset == 0) {
      first = m;
      c.queue().pop_front();
      break;
    }
    c.deliver_one();
  }
  REQUIRE(first.type == MessageType::kSnapshot);
  c.node(3).step(first);
  raft::Ready rd = c.node(3).ready();
  REQUIRE(rd.snapshot_chunk);
  REQUIRE(rd.snapshot_chunk->offset == 0);
  REQUIRE(rd.snapshot_chunk->data == first.snapshot_data);
  REQUIRE_FALSE(rd.snapshot_chunk->done);
  REQUIRE_FALSE(rd.snapshot);
  REQUIRE(rd.messages_after_persist.size() == 1);
  const Message& ack = rd.messages_after_persist[0];
  REQUIRE(ack.type == MessageType::kSnapshotResp);
  REQUIRE(ack.snapshot_offset == first.snapshot_data.size());
  REQUIRE_FALSE(ack.reject);
  c.node(3).advance(rd);
}

TEST_CASE(
    "a chunk at an unexpected offset is rejected with the offset wanted; a lost chunk is "
    "sent again",
    "[raft][snapshot]") {
  Cluster c = Cluster::of(3, small_chunks);
  lag_and_compact(c, 20);
  bool dropped = false;
  int rejects = 0;
  c.drop = [&](const Message& m) {
    if (!dropped && m.type == MessageType::kSnapshot && m.snapshot_offset == kChunk) {
      dropped = true;
      return true;
    }
    return false;
  };
  c.observe = [&](const Message& m) {
    if (m.type == MessageType::kSnapshotResp && m.reject) {
      ++rejects;
      REQUIRE(m.snapshot_offset == kChunk);
    }
  };
  c.heal();
  c.tick(1);
  c.stabilize();
  REQUIRE(dropped);
  REQUIRE(rejects >= 1);
  REQUIRE(c.peer(3).installed.size() == 1);
  REQUIRE(c.peer(3).sm == c.peer(1).sm);
}

TEST_CASE("a snapshot whose every chunk is lost is retransmitted after a stall",
          "[raft][snapshot]") {
  Cluster c = Cluster::of(3, small_chunks);
  lag_and_compact(c, 10);
  c.heal();
  c.drop = [](const Message& m) { return m.type == MessageType::kSnapshot; };
  c.tick(1);
  c.stabilize();
  c.drop = nullptr;
  REQUIRE(c.tick_until([&] { return c.peer(3).installed.size() == 1; }, 50));
  REQUIRE(c.peer(3).sm == c.peer(1).sm);
}

TEST_CASE("snapshot_rejected(): a corrupt snapshot is fetched again from offset 0",
          "[raft][snapshot]") {
  Cluster c = Cluster::of(3, small_chunks);
  lag_and_compact(c, 10);
  c.peer(3).corrupt_next_snapshot = true;
  c.heal();
  c.tick(1);
  c.stabilize();
  int starts = 0;
  for (const raft::SnapshotChunk& ch : c.peer(3).chunks_seen) starts += ch.offset == 0;
  REQUIRE(starts == 2);
  REQUIRE(c.peer(3).installed.size() == 1);
  REQUIRE(c.peer(3).sm == c.peer(1).sm);
}

TEST_CASE(
    "a leader that snapshots again mid-transfer restarts the transfer with the new "
    "snapshot",
    "[raft][snapshot]") {
  Cluster c = Cluster::of(3, small_chunks);
  lag_and_compact(c, 10);
  c.heal();
  c.tick(1);
  // Deliver a few messages, then the leader moves on and snapshots again.
  for (int i = 0; i < 3; ++i) c.deliver_one();
  c.cut(1, 3);
  REQUIRE(c.propose(1, "more") != 0);
  c.take_snapshot(1);
  c.heal();
  c.tick_all(30);
  const raft::SnapshotMeta meta = c.peer(1).storage->snapshot_meta();
  REQUIRE(c.peer(3).installed.back() == meta);
  REQUIRE(c.peer(3).sm == c.peer(1).sm);
}

TEST_CASE("a follower restarts from its installed snapshot", "[raft][snapshot]") {
  Cluster c = Cluster::of(3, small_chunks);
  lag_and_compact(c, 10);
  c.heal();
  c.tick(1);
  c.stabilize();
  REQUIRE(c.peer(3).installed.size() == 1);
  const Index snap = c.peer(3).installed[0].index;
  c.restart(3);
  REQUIRE(c.node(3).status().applied == snap);
  REQUIRE(c.node(3).status().hard_state.commit >= snap);
  REQUIRE(c.propose(1, "post-restart") != 0);
  REQUIRE(c.peer(3).sm == c.peer(1).sm);
}

TEST_CASE("a leader restarts from its own snapshot and keeps leading the cluster",
          "[raft][snapshot]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  for (int i = 0; i < 5; ++i) REQUIRE(c.propose(1, "v" + std::to_string(i)) != 0);
  c.take_snapshot(1);
  c.restart(1);
  const raft::Status st = c.node(1).status();
  REQUIRE(st.applied == c.peer(1).storage->snapshot_meta().index);
  REQUIRE(c.peer(1).sm.size() == 5);  // restored from the snapshot body
  REQUIRE(c.tick_until([&] { return c.leader() != 0; }, 100));
  const NodeId l = c.leader();
  REQUIRE(c.propose(l, "w") != 0);
  for (NodeId id : c.ids()) REQUIRE(c.peer(id).sm.back() == "w");
}

TEST_CASE("snapshot_taken() compacts the log view and keeps membership", "[raft][snapshot]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.node(1).propose_conf_change({raft::ConfChangeType::kAddLearner, 7, "x"}) ==
          ProposeError::kOk);
  c.stabilize();
  for (int i = 0; i < 3; ++i) REQUIRE(c.propose(1, "v") != 0);
  c.take_snapshot(1);
  REQUIRE(c.peer(1).storage->snapshot_meta().conf.learners == std::vector<NodeId>{7});
  c.restart(1);
  REQUIRE(c.node(1).status().conf.learners == std::vector<NodeId>{7});
  REQUIRE(c.node(1).status().conf.voters == std::vector<NodeId>{1, 2, 3});
}

TEST_CASE("a stale snapshot (already covered by the follower's commit) is not installed",
          "[raft][snapshot]") {
  Cluster c = Cluster::of(3, small_chunks);
  REQUIRE(c.elect(1) == 1);
  for (int i = 0; i < 3; ++i) REQUIRE(c.propose(1, "v") != 0);
  const Index commit = c.node(2).status().hard_state.commit;
  Message m = msg(MessageType::kSnapshot, 1, 2, c.node(1).term());
  m.snapshot.index = commit - 1;
  m.snapshot.term = c.node(1).term();
  m.snapshot_size = 4;
  m.snapshot_data = "abcd";
  m.snapshot_done = true;
  c.node(2).step(m);
  raft::Ready rd = c.node(2).ready();
  REQUIRE_FALSE(rd.snapshot_chunk);
  REQUIRE(rd.messages_after_persist.size() == 1);
  REQUIRE(rd.messages_after_persist[0].type == MessageType::kAppendResp);
  REQUIRE(rd.messages_after_persist[0].index == commit);
  c.node(2).advance(rd);
}

TEST_CASE("pipelined Readys: a snapshot is restored only from the transfer the host's file holds",
          "[raft][snapshot]") {
  Solo f(3, {1, 2, 3});
  auto chunk = [](Index index, const std::string& body) {
    Message m = msg(MessageType::kSnapshot, 1, 3, 1);
    m.snapshot = raft::SnapshotMeta{index, 1, raft::ConfState{{1, 2, 3}, {}}};
    m.snapshot_size = body.size();
    m.snapshot_data = body;
    m.snapshot_done = true;
    return m;
  };
  // Transfer A completes and is handed out; before the host's disk finishes, transfer B (an
  // older snapshot) starts and completes, then A starts over.
  f.step(chunk(17, "seventeen"));
  raft::Ready r1 = f.node->ready();
  REQUIRE(r1.snapshot_chunk);
  f.step(chunk(13, "thirteen"));
  raft::Ready r2 = f.node->ready();
  REQUIRE(r2.snapshot_chunk);
  REQUIRE(r2.snapshot_chunk->meta.index == 13);
  f.step(chunk(17, "seventeen"));
  // The disk finishes r1: the host's file now holds snapshot 13, so 17 must not be installed.
  f.node->advance(r1);
  raft::Ready r3 = f.node->ready();
  REQUIRE_FALSE(r3.snapshot);
  REQUIRE(r3.snapshot_chunk);
  REQUIRE(r3.snapshot_chunk->meta.index == 17);
  f.node->advance(r2);  // 13's transfer was superseded: nothing to install either
  raft::Ready r4 = f.node->ready();
  REQUIRE_FALSE(r4.snapshot);
  f.node->advance(r3);  // now the file holds 17 again, complete
  f.node->advance(r4);
  raft::Ready r5 = f.node->ready();
  REQUIRE(r5.snapshot);
  REQUIRE(r5.snapshot->index == 17);
}

TEST_CASE("snapshot acks never claim data the host was not handed", "[raft][snapshot]") {
  Solo f(3, {1, 2, 3});
  auto chunk = [](Index index, std::uint64_t off, const std::string& data, bool done) {
    Message m = msg(MessageType::kSnapshot, 1, 3, 1);
    m.snapshot = raft::SnapshotMeta{index, 1, raft::ConfState{{1, 2, 3}, {}}};
    m.snapshot_size = 8;
    m.snapshot_offset = off;
    m.snapshot_data = data;
    m.snapshot_done = done;
    return m;
  };
  f.step(chunk(12, 0, "abcd", false));
  f.step(chunk(12, 0, "abcd", false));  // a duplicate: answered with where we are...
  f.step(chunk(18, 0, "wxyz", false));  // ...but a newer transfer replaces the unsent data
  raft::Ready rd = f.node->ready();
  REQUIRE(rd.snapshot_chunk);
  REQUIRE(rd.snapshot_chunk->meta.index == 18);
  for (const Message& m : rd.messages_after_persist) {
    REQUIRE(m.type == MessageType::kSnapshotResp);
    REQUIRE(m.index == 18);  // nothing about snapshot 12, whose bytes never reached the host
    REQUIRE(m.snapshot_offset == 4);
  }
  REQUIRE(rd.messages_after_persist.size() == 1);
  f.node->advance(rd);
}
