// A deterministic in-process cluster for raft unit tests: every node is a raft::Node over a
// MemoryStorage, driven exactly as a host would (persist, send, install, apply, advance), with a
// FIFO network that tests can filter, cut and inspect. No threads, no sleeps, no clocks.
//
// The helper also checks invariants as it goes (LogCabin style): at most one leader per term,
// commit never decreasing, identical entries applied at each index on every node, and that
// messages released after persistence really only depend on persisted state.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raft.h"

namespace rafttest {

using raft::Entry;
using raft::Index;
using raft::Message;
using raft::MessageType;
using raft::NodeId;
using raft::Term;

/// Deterministic pseudo-random source (splitmix64) for Config::rand.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next();
  std::uint64_t operator()(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

 private:
  std::uint64_t s_;
};

struct Peer {
  NodeId id = 0;
  std::unique_ptr<raft::MemoryStorage> storage;
  std::unique_ptr<raft::Node> node;
  raft::Config config;

  // The replicated "state machine": data of applied normal entries, in order.
  std::vector<std::string> sm;
  Index applied = 0;
  std::vector<raft::ReadState> reads;
  // Incoming snapshot body assembled from chunks.
  std::string incoming;
  std::vector<raft::SnapshotChunk> chunks_seen;
  std::vector<raft::SnapshotMeta> installed;
  // If set, the host "finds" the next completed incoming snapshot corrupt and rejects it.
  bool corrupt_next_snapshot = false;
  Index last_commit = 0;
  bool down = false;
};

/// One node driven by hand: tests step crafted messages in and inspect each Ready, which
/// `next()` persists to the node's MemoryStorage before advancing (a minimal host).
struct Solo {
  Solo(NodeId id, std::vector<NodeId> voters,
       const std::function<void(raft::MemoryStorage&)>& setup = {},
       const std::function<void(raft::Config&)>& tweak = {});

  /// ready(), persist entries/hard state/snapshot, advance(). Returns the Ready.
  raft::Ready next();
  /// Everything sent (both queues) by the next Ready.
  std::vector<Message> next_msgs();
  void step(Message m);

  Rng rng{7};
  raft::MemoryStorage storage;
  std::unique_ptr<raft::Node> node;
  std::vector<std::string> logs;
};

/// Builds a message from `from` to `to`.
Message msg(MessageType type, NodeId from, NodeId to, Term term);
/// Entries with the given terms at consecutive indexes starting at `first`.
std::vector<Entry> entries_with_terms(Index first, const std::vector<Term>& terms);

class Cluster {
 public:
  /// Creates `voters` (ids 1..n unless given) plus `learners`, all bootstrapped with that
  /// membership. `tweak` may adjust each node's Config.
  explicit Cluster(std::vector<NodeId> voters, std::vector<NodeId> learners = {},
                   std::function<void(raft::Config&)> tweak = {}, std::uint64_t seed = 1);
  static Cluster of(int n, std::function<void(raft::Config&)> tweak = {});

  Peer& peer(NodeId id) { return *peers_.at(id); }
  raft::Node& node(NodeId id) { return *peers_.at(id)->node; }
  std::vector<NodeId> ids() const;

  /// Adds a node with an empty storage and empty membership (a joining server).
  void add_empty_node(NodeId id);
  /// Simulates a crash and restart: the node is rebuilt from its storage (the state machine
  /// from the storage's snapshot).
  void restart(NodeId id);
  /// Stops the node (its messages are dropped, it is not ticked) until restart().
  void crash(NodeId id);

  /// Drains every pending Ready of `id` as a host would. Returns the number of Readys.
  int process(NodeId id);
  /// Processes all nodes and delivers messages until the network is quiet (or `max_steps`).
  void stabilize(int max_steps = 100000);
  /// Delivers one queued message (after processing the sender). Returns false if none.
  bool deliver_one();
  void tick(NodeId id, int n = 1);
  void tick_all(int n = 1);
  /// Ticks everyone, stabilizing between ticks, until `pred` holds (or `max_ticks`).
  bool tick_until(const std::function<bool()>& pred, int max_ticks = 1000);

  /// Makes `id` campaign and runs the network until quiet. Returns the leader afterwards.
  NodeId elect(NodeId id);
  /// The node that is leader in the highest term, or 0.
  NodeId leader() const;

  /// Proposes on `id` and stabilizes; returns the entry's index (0 if refused).
  Index propose(NodeId id, const std::string& data);
  /// Takes a snapshot of `id`'s applied state and compacts its storage up to `index`
  /// (default: applied).
  void take_snapshot(NodeId id, Index index = 0);

  // Network control.
  void isolate(NodeId id);
  void cut(NodeId a, NodeId b);
  void heal();
  /// Messages for which `drop` returns true are discarded (tests count and shape traffic).
  std::function<bool(const Message&)> drop;
  /// Called for every message as it is handed to the network (before filtering).
  std::function<void(const Message&)> observe;
  std::deque<Message>& queue() { return queue_; }
  /// When set, deliver_one() picks a pseudo-random queued message instead of the oldest
  /// (reordering, as a real network with several connections may).
  bool reorder = false;
  Rng& rng() { return rng_; }

 private:
  void make_node(Peer& p);
  void handle_ready(Peer& p, raft::Ready& rd);
  void enqueue(const Message& m);
  void check_invariants(Peer& p);
  std::string snapshot_body(const Peer& p) const;
  void load_snapshot_body(Peer& p, const std::string& body, Index index);

  std::map<NodeId, std::unique_ptr<Peer>> peers_;
  std::deque<Message> queue_;
  std::set<std::pair<NodeId, NodeId>> cuts_;
  std::function<void(raft::Config&)> tweak_;
  Rng rng_;
  // Invariant state.
  std::map<Term, NodeId> leaders_;
  std::map<Index, std::pair<Term, std::string>> applied_log_;
};

}  // namespace rafttest
