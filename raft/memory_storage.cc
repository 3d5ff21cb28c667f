#include "raft/memory_storage.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace raft {

namespace {
[[noreturn]] void fail(const char* what, Index a, Index b) {
  std::fprintf(stderr, "MemoryStorage: %s (%llu, %llu)\n", what, static_cast<unsigned long long>(a),
               static_cast<unsigned long long>(b));
  std::abort();
}
}  // namespace

MemoryStorage::MemoryStorage(ConfState conf) : conf_(std::move(conf)) {
  entries_.push_back(Entry{});  // dummy at index 0, term 0
}

InitialState MemoryStorage::initial_state() const {
  return InitialState{hard_state_, conf_};
}

StorageError MemoryStorage::entries(Index lo, Index hi, std::size_t max_bytes,
                                    std::vector<Entry>& out) const {
  const Index offset = entries_.front().index;
  if (lo <= offset) return StorageError::kCompacted;
  if (hi > last_index() + 1) return StorageError::kUnavailable;
  std::size_t bytes = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - offset];
    bytes += e.data.size();
    if (i > lo && bytes > max_bytes) break;
    out.push_back(e);
  }
  return StorageError::kOk;
}

StorageError MemoryStorage::term(Index i, Term& out) const {
  const Index offset = entries_.front().index;
  if (i < offset) return StorageError::kCompacted;
  if (i > last_index()) return StorageError::kUnavailable;
  out = entries_[i - offset].term;
  return StorageError::kOk;
}

Index MemoryStorage::first_index() const {
  return entries_.front().index + 1;
}

Index MemoryStorage::last_index() const {
  return entries_.front().index + entries_.size() - 1;
}

SnapshotMeta MemoryStorage::snapshot_meta() const {
  return snapshot_;
}

std::size_t MemoryStorage::snapshot_chunk(std::uint64_t offset, std::size_t max_bytes,
                                          std::string& out, std::uint64_t& total_size) const {
  total_size = snapshot_data_.size();
  if (offset >= snapshot_data_.size()) return 0;
  const std::size_t n = std::min<std::size_t>(max_bytes, snapshot_data_.size() - offset);
  out.append(snapshot_data_, offset, n);
  return n;
}

void MemoryStorage::set_hard_state(const HardState& hs) {
  hard_state_ = hs;
}

void MemoryStorage::append(const std::vector<Entry>& entries) {
  for (const Entry& e : entries) {
    const Index offset = entries_.front().index;
    if (e.index <= offset) continue;  // covered by the snapshot
    if (e.index > last_index() + 1) fail("append leaves a gap", e.index, last_index());
    entries_.resize(e.index - offset);  // truncate a conflicting suffix
    entries_.push_back(e);
  }
}

void MemoryStorage::compact(const SnapshotMeta& meta, std::string data) {
  const Index offset = entries_.front().index;
  if (meta.index <= offset) return;
  if (meta.index > last_index()) fail("compact beyond last index", meta.index, last_index());
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<long>(meta.index - offset));
  entries_.front().data.clear();
  entries_.front().type = EntryType::kNormal;
  snapshot_ = meta;
  snapshot_data_ = std::move(data);
}

void MemoryStorage::apply_snapshot(const SnapshotMeta& meta, std::string data) {
  Term t = 0;
  if (term(meta.index, t) == StorageError::kOk && t == meta.term && meta.index >= first_index()) {
    compact(meta, std::move(data));
  } else {
    entries_.clear();
    entries_.push_back(Entry{meta.term, meta.index, EntryType::kNormal, {}});
    snapshot_ = meta;
    snapshot_data_ = std::move(data);
  }
  conf_ = meta.conf;
  if (hard_state_.commit < meta.index) hard_state_.commit = meta.index;
}

}  // namespace raft
