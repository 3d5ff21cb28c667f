// The Raft log and hard state on RocksDB (DIR/log/): raft::Storage for the core, plus the write
// side the host drives from each Ready. RocksDB stays inside log_store.cc.
//
// On disk (keys sort as byte strings):
//   default family: 'b' + big-endian u64 first index -> one record per save() batch:
//        CRC32C(4) | count(4) | count x (term(8) | type(1) | length(4) | data)
//        A record's entries run up to the next record's first index: a save() that replaces a
//        suffix starting inside a record writes a record from there and deletes the records
//        after it, so the older record's tail is never read again.
//   "meta" family:  "m:" + name -> CRC32C(4) | payload
//        names: version, hard_state, conf_state, snapshot (meta of the newest snapshot),
//        first_index (always snapshot.index + 1; kept as a cross-check)
// One WriteBatch spans both families, so a batch of entries and its hard state land together.
// A record per batch, not per entry: RocksDB's cost is mostly per key (memtable insert, flush),
// and a leader's batch under load holds hundreds of entries.
// compact() writes no range tombstone: nothing reads below the first index, the entry files
// cover disjoint index ranges, and the files wholly below the record holding the first index
// are deleted once RocksDB has moved them out of level 0 (a move, not a rewrite). Stores of
// format 1 (a record per entry, metadata beside them) and 2 (a record per entry, metadata in
// its family) are migrated by open().
// Each CRC covers the key and the rest of the value, so a flipped bit or a record under the
// wrong key is caught. RocksDB's block and WAL checksums are on as well: they catch damage to
// its own files, ours catches a value that is wrong however it got there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "raft/storage.h"
#include "raft/types.h"
#include "storage/status.h"

namespace storage {

class SnapshotFile;

class LogStore final : public raft::Storage {
 public:
  struct Options {
    /// Bytes of the most recent entries kept in memory: a leader re-reads what it just appended
    /// to send it to followers.
    std::size_t entry_cache_bytes = 8 << 20;
    /// RocksDB memtable size. The WAL is the durability; the memtable only needs to absorb
    /// appends between flushes, and a small one keeps recovery (WAL replay) short.
    std::size_t write_buffer_bytes = 16 << 20;
    /// A saved batch is one record unless its entries hold more bytes than this; then it is cut
    /// into records of at most this size (an entry alone may be bigger: up to 512 MB values).
    /// Reading one entry that is not cached reads its whole record, so records stay small; a
    /// leader's batch of a few hundred small writes is far below this.
    std::size_t max_record_bytes = 4 << 20;
    /// Read every record at open and check its CRC, that indexes are contiguous and terms never
    /// decrease. Costs one sequential read of the log; off only for benchmarks.
    bool verify_on_open = true;
    /// fsync each write. Only tests that do not care about power loss turn this off.
    bool sync = true;
  };

  /// Opens or creates the store in `dir`. A damaged record or inconsistent metadata is an error
  /// naming `dir` and the index or key; the store never serves it.
  static Result<std::unique_ptr<LogStore>> open(const std::string& dir, const Options& options);
  static Result<std::unique_ptr<LogStore>> open(const std::string& dir) {
    return open(dir, Options());
  }
  ~LogStore() override;
  LogStore(const LogStore&) = delete;
  LogStore& operator=(const LogStore&) = delete;

  // raft::Storage (read side). Thread-safe. A record that fails its checks on read aborts with
  // the directory and index: the interface has no error for it, and serving it is never right.
  raft::InitialState initial_state() const override;
  raft::StorageError entries(raft::Index lo, raft::Index hi, std::size_t max_bytes,
                             std::vector<raft::Entry>& out) const override;
  raft::StorageError term(raft::Index i, raft::Term& out) const override;
  raft::Index first_index() const override;
  raft::Index last_index() const override;
  raft::SnapshotMeta snapshot_meta() const override;
  /// Streams the current snapshot FILE image (see SnapshotFile::read_raw), so the follower
  /// checks our CRCs; 0 bytes and total_size 0 when no snapshot file was set.
  std::size_t snapshot_chunk(std::uint64_t offset, std::size_t max_bytes, std::string& out,
                             std::uint64_t& total_size) const override;

  // Write side. Each call is one RocksDB WriteBatch written with sync: durable on return.
  // Writers are serialised among themselves and may run on another thread than the readers
  // (raftd's disk thread); readers are not blocked while a batch syncs.
  // Violating a Raft invariant (a gap, decreasing terms, overwriting a committed entry)
  // aborts with context.

  /// Persists `hard_state` (if not null) and `entries` in one batch (thesis 3.8: both must be
  /// durable before we answer). Entries must be contiguous and start at or below
  /// last_index() + 1; any existing entries from entries.front().index on are replaced (the
  /// conflicting suffix is deleted in the same batch). Entries covered by the snapshot are
  /// ignored.
  void save(const raft::HardState* hard_state, const std::vector<raft::Entry>& entries);
  /// Records that a snapshot covers everything up to meta.index (which must be in the log,
  /// with that term) and drops those entries.
  void compact(const raft::SnapshotMeta& meta);
  /// Adopts a snapshot received from the leader: if the log holds meta.index with meta.term the
  /// suffix after it is kept, otherwise the log is emptied. Membership becomes meta.conf and the
  /// commit index rises to meta.index.
  void install_snapshot(const raft::SnapshotMeta& meta);
  /// Membership reported by initial_state(); the host sets it at bootstrap and when it applies
  /// a configuration change.
  void set_conf_state(const raft::ConfState& conf);
  /// The file snapshot_chunk() streams from (the SnapshotStore's current one).
  void set_snapshot_file(std::shared_ptr<const SnapshotFile> file);

  raft::HardState hard_state() const;
  const std::string& dir() const;

  // Test-only hooks to damage or inspect the stored bytes. They bypass every check and the
  // in-memory caches: reopen the store to observe their effect.
  /// Writes `value` as the raw record that starts at `index` (RocksDB's own checksums stay
  /// valid); testing_get_raw() reads it, empty when no record starts there.
  void testing_put_raw(raft::Index index, std::string_view value);
  std::string testing_get_raw(raft::Index index) const;
  /// Flushes the memtable to an SST file (so a test can find records there).
  void testing_flush();

 private:
  struct Impl;
  explicit LogStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace storage
