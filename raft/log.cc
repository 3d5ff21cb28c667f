#include "raft/log.h"

#include <algorithm>

namespace raft {

namespace {
std::string idx(Index i) {
  return std::to_string(i);
}
}  // namespace

RaftLog::RaftLog(const Storage& storage, FailFn fail) : storage_(storage), fail_(std::move(fail)) {
  offset_ = storage_.last_index() + 1;
  offset_in_progress_ = offset_;
  // Everything up to the snapshot is applied by definition: the host restores its state machine
  // from the snapshot at start-up and replays committed entries after it.
  committed_ = storage_.first_index() - 1;
  applying_ = committed_;
  applied_ = committed_;
}

void RaftLog::fail(const std::string& what) const {
  fail_("raft log: " + what);
  std::abort();  // fail_ must not return; make sure of it
}

Index RaftLog::first_index() const {
  if (snapshot_) return snapshot_->index + 1;
  return storage_.first_index();
}

Index RaftLog::last_index() const {
  if (!entries_.empty()) return offset_ + entries_.size() - 1;
  if (snapshot_) return snapshot_->index;
  return storage_.last_index();
}

Term RaftLog::last_term() const {
  Term t = 0;
  if (term(last_index(), t) != StorageError::kOk)
    fail("no term for last index " + idx(last_index()));
  return t;
}

StorageError RaftLog::term(Index i, Term& out) const {
  const Index dummy = first_index() - 1;
  if (i < dummy) return StorageError::kCompacted;
  if (i > last_index()) return StorageError::kUnavailable;
  if (snapshot_ && i == snapshot_->index) {
    out = snapshot_->term;
    return StorageError::kOk;
  }
  if (i >= offset_ && i - offset_ < entries_.size()) {
    out = entries_[i - offset_].term;
    return StorageError::kOk;
  }
  return storage_.term(i, out);
}

Term RaftLog::term_or_zero(Index i) const {
  Term t = 0;
  return term(i, t) == StorageError::kOk ? t : 0;
}

bool RaftLog::match_term(Index i, Term t) const {
  Term ours = 0;
  return term(i, ours) == StorageError::kOk && ours == t;
}

StorageError RaftLog::entries(Index lo, Index hi, std::size_t max_bytes,
                              std::vector<Entry>& out) const {
  if (lo > hi) fail("entries: lo " + idx(lo) + " > hi " + idx(hi));
  if (lo < first_index()) return StorageError::kCompacted;
  if (hi > last_index() + 1) return StorageError::kUnavailable;
  if (lo == hi) return StorageError::kOk;

  const std::size_t start = out.size();
  std::size_t bytes = 0;
  if (lo < offset_) {
    const Index stored_hi = std::min(hi, offset_);
    const StorageError err = storage_.entries(lo, stored_hi, max_bytes, out);
    if (err != StorageError::kOk) return err;
    for (std::size_t k = start; k < out.size(); ++k) bytes += out[k].data.size();
    // The size limit stopped the storage read early: the unstable part must not follow.
    if (out.size() - start < stored_hi - lo) return StorageError::kOk;
  }
  for (Index i = std::max(lo, offset_); i < hi; ++i) {
    const Entry& e = entries_[i - offset_];
    bytes += e.data.size();
    if (out.size() > start && bytes > max_bytes) break;
    out.push_back(e);
  }
  return StorageError::kOk;
}

bool RaftLog::is_up_to_date(Index index, Term term) const {
  const Term lt = last_term();
  return term > lt || (term == lt && index >= last_index());
}

Index RaftLog::find_conflict(const std::vector<Entry>& ents) const {
  for (const Entry& e : ents) {
    if (!match_term(e.index, e.term)) return e.index;
  }
  return 0;
}

RaftLog::AppendResult RaftLog::maybe_append(Index prev_index, Term prev_term, Index commit,
                                            const std::vector<Entry>& ents) {
  AppendResult r;
  if (!match_term(prev_index, prev_term)) return r;
  r.ok = true;
  r.last_new = prev_index + ents.size();
  const Index ci = find_conflict(ents);
  if (ci != 0) {
    // Figure 2, AppendEntries rule 3: delete the conflicting entry and all that follow it. A
    // conflict at or below commit would mean a committed entry differs: never legal.
    if (ci <= committed_) {
      fail("entry " + idx(ci) + " conflicts with committed entry (commit " + idx(committed_) + ")");
    }
    std::vector<Entry> tail(ents.begin() + static_cast<long>(ci - (prev_index + 1)), ents.end());
    truncate_and_append(std::move(tail));
    r.truncated_at = ci;
  }
  // Figure 2, AppendEntries rule 5: commit = min(leaderCommit, index of last new entry).
  commit_to(std::min(commit, r.last_new));
  return r;
}

Index RaftLog::append(std::vector<Entry> ents) {
  if (ents.empty()) return last_index();
  if (ents.front().index <= committed_) {
    fail("append at " + idx(ents.front().index) + " would overwrite committed " + idx(committed_));
  }
  truncate_and_append(std::move(ents));
  return last_index();
}

void RaftLog::truncate_and_append(std::vector<Entry> ents) {
  if (ents.empty()) return;
  const Index after = ents.front().index;
  if (after > last_index() + 1) {
    fail("append at " + idx(after) + " leaves a gap after " + idx(last_index()));
  }
  if (after < first_index()) fail("append at " + idx(after) + " below first index");
  for (std::size_t k = 1; k < ents.size(); ++k) {
    if (ents[k].index != after + k) fail("append of non-contiguous entries at " + idx(after));
  }
  if (after == offset_ + entries_.size()) {
    entries_.insert(entries_.end(), std::make_move_iterator(ents.begin()),
                    std::make_move_iterator(ents.end()));
  } else if (after <= offset_) {
    // Replaces the whole unstable tail (and logically the stored entries from `after` on; the
    // host truncates them when it persists these entries).
    offset_ = after;
    entries_ = std::move(ents);
    offset_in_progress_ = offset_;
  } else {
    entries_.resize(after - offset_);
    entries_.insert(entries_.end(), std::make_move_iterator(ents.begin()),
                    std::make_move_iterator(ents.end()));
    offset_in_progress_ = std::min(offset_in_progress_, after);
  }
}

std::pair<Index, Term> RaftLog::find_conflict_by_term(Index index, Term term) const {
  for (; index > 0; --index) {
    Term ours = 0;
    // Unknown (compacted) terms might match: let the caller probe there.
    if (this->term(index, ours) != StorageError::kOk) return {index, 0};
    if (ours <= term) return {index, ours};
  }
  return {0, 0};
}

void RaftLog::commit_to(Index i) {
  // Commit never decreases (thesis 3.5).
  if (i <= committed_) return;
  if (i > last_index()) fail("commit " + idx(i) + " beyond last index " + idx(last_index()));
  committed_ = i;
}

void RaftLog::applying_to(Index i) {
  if (i > committed_ || i < applying_) {
    fail("applying " + idx(i) + " outside (" + idx(applying_) + ", " + idx(committed_) + "]");
  }
  applying_ = i;
}

void RaftLog::applied_to(Index i) {
  if (i == 0) return;
  if (i > committed_ || i < applied_) {
    fail("applied " + idx(i) + " outside [" + idx(applied_) + ", " + idx(committed_) + "]");
  }
  applied_ = i;
  applying_ = std::max(applying_, i);
}

std::vector<Entry> RaftLog::next_unstable_entries() const {
  if (offset_in_progress_ >= offset_ + entries_.size()) return {};
  return std::vector<Entry>(entries_.begin() + static_cast<long>(offset_in_progress_ - offset_),
                            entries_.end());
}

bool RaftLog::has_next_unstable_entries() const {
  return offset_in_progress_ < offset_ + entries_.size();
}

void RaftLog::accept_unstable() {
  offset_in_progress_ = offset_ + entries_.size();
}

void RaftLog::stable_to(Index i, Term t) {
  if (i < offset_ || i - offset_ >= entries_.size()) return;
  // The entry was replaced after it was handed out: its new version is persisted by a later
  // Ready, whose advance() will stabilise it.
  if (entries_[i - offset_].term != t) return;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<long>(i + 1 - offset_));
  offset_ = i + 1;
  offset_in_progress_ = std::max(offset_in_progress_, offset_);
}

Index RaftLog::persisted_index() const {
  if (snapshot_) return 0;
  return offset_ - 1;
}

std::vector<Entry> RaftLog::next_committed(std::size_t max_bytes) const {
  std::vector<Entry> out;
  if (snapshot_ || committed_ <= applying_) return out;
  if (applying_ + 1 < first_index()) {
    fail("committed entries from " + idx(applying_ + 1) + " are compacted (first index " +
         idx(first_index()) + ")");
  }
  const StorageError err = entries(applying_ + 1, committed_ + 1, max_bytes, out);
  if (err != StorageError::kOk) {
    fail("cannot read committed entries from " + idx(applying_ + 1) + " to " + idx(committed_));
  }
  return out;
}

bool RaftLog::has_next_committed() const {
  return !snapshot_ && committed_ > applying_;
}

void RaftLog::restore(const SnapshotMeta& meta) {
  if (meta.index <= committed_) {
    fail("restore of snapshot " + idx(meta.index) + " at or below commit " + idx(committed_));
  }
  snapshot_ = meta;
  snapshot_in_progress_ = false;
  entries_.clear();
  offset_ = meta.index + 1;
  offset_in_progress_ = offset_;
  committed_ = meta.index;
  applying_ = meta.index;
}

void RaftLog::stable_snap_to(Index i) {
  if (!snapshot_ || snapshot_->index != i) return;
  snapshot_.reset();
  snapshot_in_progress_ = false;
}

}  // namespace raft
