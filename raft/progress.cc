#include "raft/progress.h"

#include <algorithm>

namespace raft {

void Inflights::add(Index last) {
  q_.push_back(last);
}

void Inflights::free_le(Index index) {
  while (!q_.empty() && q_.front() <= index) q_.pop_front();
}

const char* to_string(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "unknown";
}

void Progress::become_probe() {
  // After a snapshot the follower has at least the snapshot's entries: probe right after them.
  if (state == ProgressState::kSnapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  probe_sent = false;
  pending_snapshot = 0;
  snap = SnapshotTransfer{};
  inflights.reset();
}

void Progress::become_replicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  probe_sent = false;
  pending_snapshot = 0;
  snap = SnapshotTransfer{};
  inflights.reset();
}

void Progress::become_snapshot(Index snapshot_index) {
  state = ProgressState::kSnapshot;
  probe_sent = false;
  pending_snapshot = snapshot_index;
  snap = SnapshotTransfer{};
  inflights.reset();
}

bool Progress::maybe_update(Index n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::maybe_decr_to(Index rejected, Index hint) {
  switch (state) {
    case ProgressState::kReplicate:
      // A rejection at or below match is a reordered answer to an older Append.
      if (rejected <= match) return false;
      become_probe();
      next = std::max(std::min(rejected, hint + 1), match + 1);
      return true;
    case ProgressState::kProbe:
      // Only the answer to the outstanding probe moves next; others are stale.
      if (next == 0 || next - 1 != rejected) return false;
      next = std::max(std::min(rejected, hint + 1), match + 1);
      probe_sent = false;
      return true;
    case ProgressState::kSnapshot:
      return false;
  }
  return false;
}

void Progress::sent_entries(Index last, std::size_t n) {
  switch (state) {
    case ProgressState::kReplicate:
      if (n > 0) {
        next = last + 1;
        inflights.add(last);
      }
      break;
    case ProgressState::kProbe:
      probe_sent = true;
      break;
    case ProgressState::kSnapshot:
      break;
  }
}

bool Progress::is_paused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

}  // namespace raft
