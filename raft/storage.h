// The narrow read interface through which the core sees its durable log.
// The host owns the write side (append, truncate, compact); the core only reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "raft/types.h"

namespace raft {

/// Outcome of a storage read. Expected conditions are values, never exceptions.
enum class StorageError {
  kOk = 0,
  kCompacted,    ///< the requested index is at or below the snapshot: the entry is gone
  kUnavailable,  ///< the requested index is above last_index()
};

/// What the core needs at start-up.
struct InitialState {
  HardState hard_state;
  /// Membership at the snapshot or at a committed index after it, never including an
  /// uncommitted change: the founding membership of a new cluster, then what the host records
  /// when it applies a conf change (MemoryStorage and the RocksDB store both work this way).
  /// The core replays the log's conf-change entries over it (or over the snapshot's
  /// membership when there is a snapshot) to find the membership in effect.
  ConfState conf;
};

/// Read-only view of the persisted log. Invariants an implementation keeps:
///  - entries exist for every index in [first_index(), last_index()], none outside;
///  - first_index() == snapshot_meta().index + 1 (index 0 / term 0 when there is no snapshot);
///  - term(snapshot_meta().index) answers the snapshot's term (the "dummy" entry).
/// Implementations may do disk I/O; an I/O failure is fatal (abort with context), not an error
/// value.
class Storage {
 public:
  virtual ~Storage() = default;

  virtual InitialState initial_state() const = 0;

  /// Appends to `out` the entries [lo, hi), stopping early once their data exceeds `max_bytes`
  /// (but always at least one entry if lo < hi). lo must be >= first_index().
  virtual StorageError entries(Index lo, Index hi, std::size_t max_bytes,
                               std::vector<Entry>& out) const = 0;

  /// Term of the entry at index i (i may be snapshot_meta().index).
  virtual StorageError term(Index i, Term& out) const = 0;

  virtual Index first_index() const = 0;
  virtual Index last_index() const = 0;

  /// Metadata of the newest snapshot (all zero when there is none).
  virtual SnapshotMeta snapshot_meta() const = 0;

  /// Reads up to `max_bytes` of the current snapshot's serialized body starting at `offset`,
  /// for streaming InstallSnapshot. Returns the number of bytes appended to `out` (0 at end).
  /// `total_size` receives the body's full size.
  virtual std::size_t snapshot_chunk(std::uint64_t offset, std::size_t max_bytes, std::string& out,
                                     std::uint64_t& total_size) const = 0;
};

}  // namespace raft
