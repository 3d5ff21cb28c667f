// The consensus core: a pure, single-threaded, deterministic state machine (modelled on etcd/raft).
//
// The host drives it with tick(), step(), propose() and friends, then drains a Ready:
//   1. write ready.entries and ready.hard_state to storage (one synced batch), and any snapshot
//   chunk;
//   2. send ready.messages at once (the leader replicates in parallel with its own disk write,
//   thesis 10.2.1);
//   3. after step 1 is durable, send ready.messages_after_persist (votes and acks, thesis 3.8);
//   4. install ready.snapshot if set, then apply ready.committed in order;
//   5. call advance(ready).
// There are no clocks, sockets, threads or disk here: randomness and logging are injected.
//
// Details of the contract:
//  - Readys are handled strictly in order. ready() may be called again before advance() (the
//    next Ready only holds what is new), but each Ready's step 1 must be durable before its
//    messages_after_persist leave, and advance() is called once per Ready, in order.
//  - Proposals and acks are only turned into Appends when ready() is called, so everything
//    proposed in one event-loop turn leaves as one Append per follower.
//  - The leader's own entries count toward a commit quorum only after advance() reports them
//    durable (the leader writes its disk in parallel with replication, thesis 10.2.1); likewise
//    a candidate's vote for itself counts only once its term and vote are durable (thesis 3.8).
//  - A SnapshotChunk with offset 0 starts a new incoming snapshot file. Persisting the chunk
//    with done=true includes verifying the whole file; if that fails the host calls
//    snapshot_rejected() before advance() of that Ready. A later Ready then carries only
//    `snapshot` (plus soft state, messages and read states): the host installs it (replacing
//    its state machine and storage, e.g. MemoryStorage::apply_snapshot) before advance().
//  - For kConfChange entries, decode_conf_change() gives the change (and its context, e.g. an
//    address) and decode_conf_state() the membership in effect after it: what a host records
//    as its applied membership and puts into SnapshotMeta::conf.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/message.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace raft {

enum class Role : std::uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* to_string(Role r);

enum class LogLevel : std::uint8_t { kDebug, kInfo, kWarn, kError };

struct Config {
  NodeId id = kNoNode;
  /// Ticks without hearing from a leader before a follower campaigns; the actual timeout is
  /// drawn uniformly from [election_ticks, 2 * election_ticks) (thesis 3.4).
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  bool pre_vote = true;      ///< thesis 9.6
  bool check_quorum = true;  ///< thesis 6.2: a leader without a recent majority steps down
  std::size_t max_msg_bytes = 1 << 20;       ///< bound on entry bytes per Append
  int max_inflight_msgs = 256;               ///< pipelined Appends per follower
  std::size_t max_snapshot_chunk = 1 << 20;  ///< bytes per InstallSnapshot chunk
  int max_inflight_snapshot_chunks = 4;      ///< unacknowledged chunks in flight per follower
  std::size_t max_committed_bytes_per_ready = 16 << 20;
  /// When true, a newer commit index alone never makes the leader send an Append: followers
  /// learn it with the next entries or the next heartbeat (within heartbeat_ticks). Under load
  /// this saves an Append and its response per follower per batch; what it costs is follower
  /// apply lag while the leader is idle (a follower's ReadIndex round carries the commit index
  /// in its heartbeats anyway).
  bool lazy_commit = false;
  /// ReadIndex rounds in flight at most (at least 1); reads arriving meanwhile queue and share
  /// the next round. Fewer rounds mean bigger batches: fewer heartbeats per read under load.
  std::size_t max_read_rounds = 8;

  /// Injected randomness: returns a uniform integer in [0, n). Must be set.
  std::function<std::uint64_t(std::uint64_t n)> rand;
  /// Injected logger; may be empty.
  std::function<void(LogLevel, const std::string&)> log;
};

struct SoftState {
  NodeId leader = kNoNode;
  Role role = Role::kFollower;
  bool operator==(const SoftState&) const = default;
};

/// A read whose index is confirmed (thesis 6.4): serve it once applied >= index.
struct ReadState {
  Index index = 0;
  std::string context;
  bool operator==(const ReadState&) const = default;
};

/// An InstallSnapshot chunk the follower's host must append to its incoming snapshot file.
struct SnapshotChunk {
  SnapshotMeta meta;
  std::uint64_t offset = 0;
  std::uint64_t total_size = 0;
  std::string data;
  bool done = false;  ///< last chunk: once persisted, the host verifies the file and installs it
};

struct Ready {
  std::optional<SoftState> soft_state;  ///< set when leader or role changed
  std::optional<HardState> hard_state;  ///< set when it must be persisted
  std::vector<Entry> entries;           ///< to append (may overwrite a conflicting suffix)
  std::optional<SnapshotChunk> snapshot_chunk;
  std::optional<SnapshotMeta> snapshot;  ///< a fully received snapshot to install before applying
  std::vector<Entry> committed;          ///< to apply, in index order
  std::vector<Message> messages;         ///< send now
  std::vector<Message> messages_after_persist;  ///< send once entries/hard state/chunk are durable
  std::vector<ReadState> read_states;

  bool empty() const;
};

enum class ProposeError { kOk = 0, kNotLeader, kTransferring, kConfChangePending, kDropped };

struct Status {
  NodeId id = kNoNode;
  Role role = Role::kFollower;
  NodeId leader = kNoNode;
  HardState hard_state;
  Index applied = 0;
  Index last_index = 0;
  ConfState conf;
  struct Progress {
    NodeId id = kNoNode;
    Index match = 0;
    Index next = 0;
    bool learner = false;
    bool recent_active = false;
  };
  std::vector<Progress> progress;  ///< leader only
};

class Node {
 public:
  /// `storage` must outlive the node. The node restarts from storage.initial_state() and the log
  /// it holds; a brand-new node starts with the membership in storage (a host bootstraps a
  /// cluster by persisting an initial ConfState, see the storage implementations).
  Node(Config config, const Storage& storage);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  void tick();
  /// Messages from peers. Bad messages (unknown sender, stale term...) are ignored, never fatal.
  void step(const Message& m);
  /// Appends `data` as a normal entry if this node is the leader. Returns the entry's index
  /// through `index` so the host can match the apply result to the waiting client.
  ProposeError propose(std::string data, Index* index = nullptr);
  ProposeError propose_conf_change(const ConfChange& cc, Index* index = nullptr);
  /// Requests a linearizable read index for `context`; the answer arrives as a ReadState
  /// (possibly after a heartbeat round, thesis 6.4; followers ask the leader).
  void read_index(std::string context);
  void transfer_leadership(NodeId to);
  /// Campaign now (e.g. a single-node cluster at start, or tests).
  void campaign();

  bool has_ready() const;
  Ready ready();
  /// Everything in `rd` is persisted, sent and applied. `applied` defaults to the last committed
  /// entry handed out.
  void advance(const Ready& rd);

  /// The host has stored a snapshot of the state up to `meta.index` (which must be applied) and
  /// compacted storage accordingly; the core forgets the entries it covers.
  void snapshot_taken(const SnapshotMeta& meta);
  /// The incoming snapshot failed verification on the host; ask the leader to send it again
  /// (from offset 0). Must be called before advance() of the Ready whose chunk was `done`.
  void snapshot_rejected();
  /// The host could not reach `id` (connection lost); the leader probes instead of pipelining.
  void report_unreachable(NodeId id);

  Status status() const;
  NodeId id() const;
  Role role() const;
  NodeId leader() const;
  Term term() const;
  /// The membership in effect: the newest configuration change appended (changes take effect
  /// when appended, thesis 4.1). Cheaper than status().conf, which copies.
  const ConfState& conf() const;
  /// The index of the last entry in the log, appended or not yet persisted (status().last_index).
  Index last_index() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace raft
