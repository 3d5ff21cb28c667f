// An in-memory Storage for tests and simulation: the same contract as the RocksDB log store,
// with the write side the host would use. Not thread-safe (nothing in raft/ is).
#pragma once

#include <vector>

#include "raft/storage.h"

namespace raft {

class MemoryStorage final : public Storage {
 public:
  /// A fresh node whose cluster starts with membership `conf` (bootstrap).
  explicit MemoryStorage(ConfState conf = {});

  // Storage (read side).
  InitialState initial_state() const override;
  StorageError entries(Index lo, Index hi, std::size_t max_bytes,
                       std::vector<Entry>& out) const override;
  StorageError term(Index i, Term& out) const override;
  Index first_index() const override;
  Index last_index() const override;
  SnapshotMeta snapshot_meta() const override;
  std::size_t snapshot_chunk(std::uint64_t offset, std::size_t max_bytes, std::string& out,
                             std::uint64_t& total_size) const override;

  // Write side (what a host does with a Ready).
  void set_hard_state(const HardState& hs);
  /// Appends entries, first truncating any existing suffix from entries.front().index on.
  /// Entries below first_index() are ignored (already covered by the snapshot).
  void append(const std::vector<Entry>& entries);
  /// Drops entries up to and including `index` (which must be <= last_index()) after the host
  /// took a snapshot at `meta`, whose body is `data`.
  void compact(const SnapshotMeta& meta, std::string data);
  /// Replaces everything with a snapshot received from the leader: log emptied unless the
  /// log already holds a matching entry at meta.index (then the suffix after it is kept).
  void apply_snapshot(const SnapshotMeta& meta, std::string data);
  /// Membership recorded for initial_state(); the host updates it when it applies a conf change.
  void set_conf_state(const ConfState& conf) { conf_ = conf; }

  const std::string& snapshot_data() const { return snapshot_data_; }

 private:
  HardState hard_state_;
  ConfState conf_;
  SnapshotMeta snapshot_;
  std::string snapshot_data_;
  // entries_[0] is a dummy holding snapshot_.index/term; real entries follow.
  std::vector<Entry> entries_;
};

}  // namespace raft
