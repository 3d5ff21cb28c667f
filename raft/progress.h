// What a leader knows about one follower's log (thesis 3.5, 10.2): match/next index plus the
// flow-control state that bounds how much is in flight to it. Modelled on etcd's tracker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "raft/types.h"

namespace raft {

/// A bounded window of in-flight Appends, remembered by the last index each one carried.
class Inflights {
 public:
  explicit Inflights(std::size_t capacity = 1) : capacity_(capacity == 0 ? 1 : capacity) {}

  void add(Index last);
  /// Forgets every Append whose last index is <= `index` (the follower acknowledged it).
  void free_le(Index index);
  void reset() { q_.clear(); }
  bool full() const { return q_.size() >= capacity_; }
  std::size_t count() const { return q_.size(); }
  std::size_t capacity() const { return capacity_; }

 private:
  std::size_t capacity_;
  std::deque<Index> q_;
};

enum class ProgressState : std::uint8_t {
  kProbe,      ///< one Append at a time until the match point is found
  kReplicate,  ///< optimistic pipelining within the Inflights window
  kSnapshot,   ///< entries it needs are compacted: streaming InstallSnapshot chunks
};

const char* to_string(ProgressState s);

/// Leader-side state of one InstallSnapshot transfer (offsets into the snapshot body).
struct SnapshotTransfer {
  SnapshotMeta meta;
  std::uint64_t total = 0;  ///< body size
  std::uint64_t next = 0;   ///< next offset to send
  std::uint64_t acked = 0;  ///< offset the follower asked for last (it has everything before)
  bool started = false;     ///< at least one chunk went out (an empty body still needs one)
  bool cautious = false;    ///< after a reject: one chunk at a time until an ack arrives
  int stall_ticks = 0;      ///< ticks without any answer from the follower
};

struct Progress {
  explicit Progress(std::size_t max_inflight = 1) : inflights(max_inflight) {}

  Index match = 0;
  Index next = 1;
  ProgressState state = ProgressState::kProbe;
  /// Probe state: an Append is outstanding, wait for its answer (or a heartbeat response).
  bool probe_sent = false;
  Inflights inflights;
  /// Heard from since the last check-quorum round (thesis 6.2).
  bool recent_active = false;
  bool learner = false;
  /// Highest commit index already sent to it, so commit-only Appends are not repeated.
  Index sent_commit = 0;
  /// Snapshot state: index of the snapshot being sent.
  Index pending_snapshot = 0;
  /// Index of the conf-change entry that removed this node (0 while it is a member). The
  /// leader keeps replicating to it, without counting it, until that entry commits, so the
  /// removed server learns that it was removed instead of campaigning (thesis 4.2.3).
  Index removed_at = 0;
  SnapshotTransfer snap;

  void become_probe();
  void become_replicate();
  void become_snapshot(Index snapshot_index);
  /// An ack for `n`: returns true if match advanced.
  bool maybe_update(Index n);
  /// A rejection of the Append whose prev index was `rejected`; `hint` is the largest index the
  /// leader believes may match. Returns false for a stale rejection.
  bool maybe_decr_to(Index rejected, Index hint);
  /// Records that an Append ending at `last` (with `n` entries) went out.
  void sent_entries(Index last, std::size_t n);
  bool is_paused() const;
};

}  // namespace raft
