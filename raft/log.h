// The core's view of its log: the durable part read through Storage plus an in-memory "unstable"
// tail of entries (and possibly a received snapshot) that the host has not persisted yet
// (etcd's raftLog + unstable). Also tracks commit and apply progress.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "raft/storage.h"
#include "raft/types.h"

namespace raft {

class RaftLog {
 public:
  /// Fatal-error reporter: called with a description of a broken invariant, never returns.
  using FailFn = std::function<void(const std::string&)>;

  RaftLog(const Storage& storage, FailFn fail);

  Index first_index() const;
  Index last_index() const;
  Term last_term() const;
  StorageError term(Index i, Term& out) const;
  /// Term of entry i, or 0 if it is compacted or not there.
  Term term_or_zero(Index i) const;
  bool match_term(Index i, Term t) const;
  /// Appends the entries [lo, hi) to `out`, stopping once more than max_bytes of data were
  /// gathered (at least one entry). kCompacted if lo is below first_index().
  StorageError entries(Index lo, Index hi, std::size_t max_bytes, std::vector<Entry>& out) const;

  /// Raft's election restriction (thesis 3.6.1): is a log ending at (index, term) at least as
  /// up to date as ours?
  bool is_up_to_date(Index index, Term term) const;

  /// Result of an AppendEntries consistency check.
  struct AppendResult {
    bool ok = false;
    Index last_new = 0;      ///< index of the last entry the message covered
    Index truncated_at = 0;  ///< first index rewritten (0 if nothing new was written)
  };
  /// AppendEntries on a follower (thesis 3.5): if our entry at prev_index has prev_term, writes
  /// the entries that are new or conflicting and advances commit to min(commit, last new).
  AppendResult maybe_append(Index prev_index, Term prev_term, Index commit,
                            const std::vector<Entry>& ents);
  /// Appends entries that follow our last index or rewrite an uncommitted suffix. Returns the
  /// new last index.
  Index append(std::vector<Entry> ents);

  /// Fast backtracking (thesis 5.3 optimisation, etcd findConflictByTerm): the largest index
  /// <= `index` whose term is <= `term`, with that term (0 when unknown/compacted).
  std::pair<Index, Term> find_conflict_by_term(Index index, Term term) const;

  Index committed() const { return committed_; }
  void commit_to(Index i);
  Index applied() const { return applied_; }
  Index applying() const { return applying_; }
  void applying_to(Index i);
  void applied_to(Index i);

  /// Entries the host has not been handed yet (for Ready::entries).
  std::vector<Entry> next_unstable_entries() const;
  bool has_next_unstable_entries() const;
  /// Marks every unstable entry as handed out.
  void accept_unstable();
  /// The host persisted entries up to (i, t); ignored if that entry has since been replaced.
  void stable_to(Index i, Term t);
  /// Highest index known durable in storage and still part of our log.
  Index persisted_index() const;

  /// Committed entries not yet handed out for applying, bounded by max_bytes.
  std::vector<Entry> next_committed(std::size_t max_bytes) const;
  bool has_next_committed() const;

  /// Replaces the whole log with a received snapshot (not yet installed by the host).
  void restore(const SnapshotMeta& meta);
  /// The received snapshot that the host must install (Ready::snapshot), if any.
  const std::optional<SnapshotMeta>& unstable_snapshot() const { return snapshot_; }
  bool snapshot_handed_out() const { return snapshot_in_progress_; }
  void accept_snapshot() { snapshot_in_progress_ = true; }
  /// The host installed the snapshot.
  void stable_snap_to(Index i);

 private:
  /// Takes the entries' data (moved, not copied: a leader's entry may be megabytes).
  void truncate_and_append(std::vector<Entry> ents);
  Index find_conflict(const std::vector<Entry>& ents) const;
  [[noreturn]] void fail(const std::string& what) const;

  const Storage& storage_;
  FailFn fail_;
  // Unstable tail: entries_[k] has index offset_ + k. Entries below offset_ live in storage.
  Index offset_ = 1;
  std::vector<Entry> entries_;
  Index offset_in_progress_ = 1;  ///< entries below this were handed out in a Ready
  std::optional<SnapshotMeta> snapshot_;
  bool snapshot_in_progress_ = false;

  Index committed_ = 0;
  Index applying_ = 0;  ///< handed out for applying
  Index applied_ = 0;   ///< the host confirmed applying
};

}  // namespace raft
