// The data directory given with -d DIR:
//   DIR/LOCK        flock()ed while a raftd uses the directory; holds that raftd's pid
//   DIR/IDENTITY    cluster id, node id, address; written once, atomically
//   DIR/log/        the RocksDB log store
//   DIR/snapshots/  snapshot files
// DataDir opens all of it, and reconciles the log with the snapshot files after a crash.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "raft/types.h"
#include "storage/log_store.h"
#include "storage/snapshot_store.h"
#include "storage/status.h"

namespace storage {

struct Identity {
  std::string cluster_id;
  raft::NodeId node_id = raft::kNoNode;
  std::string address;

  bool operator==(const Identity&) const = default;
};

class DataDir {
 public:
  struct Options {
    LogStore::Options log;
    /// When a new snapshot is taken, compact the log only up to the previous one (and stream
    /// that one to followers), so the log always reaches back to an older snapshot: if the
    /// newest file is ever found damaged, the older one plus the log rebuild the same state.
    /// Costs at most one snapshot interval of extra log. raftd turns it on.
    bool keep_log_to_previous_snapshot = false;
  };

  /// Creates or opens DIR. Fails (with a message naming DIR) when another process holds the
  /// lock, when the stored identity differs from `expected` in any field that `expected` sets
  /// (a node from another cluster must not join with this data), when a record or file is
  /// damaged beyond what a fallback can cover, or when the log needs a snapshot that is missing.
  /// A new directory needs expected.node_id.
  static Result<std::unique_ptr<DataDir>> open(const std::string& dir, const Identity& expected,
                                               const Options& options);
  static Result<std::unique_ptr<DataDir>> open(const std::string& dir, const Identity& expected) {
    return open(dir, expected, Options());
  }
  ~DataDir();
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;

  const std::string& path() const { return dir_; }
  const Identity& identity() const { return identity_; }
  LogStore& log() { return *log_; }
  SnapshotStore& snapshots() { return *snapshots_; }
  /// Problems found at open and worked around, for the host to log (e.g. a damaged newest
  /// snapshot that was skipped for an older one).
  const std::vector<std::string>& diagnostics() const { return diagnostics_; }

  /// The host took a snapshot of its state machine: make the file durable and current, then
  /// compact the log to it. In this order, so that a crash in between leaves a snapshot the log
  /// has not caught up with, which open() repairs.
  Result<std::shared_ptr<const SnapshotFile>> commit_snapshot(SnapshotWriter& writer);
  /// Same as commit_snapshot() for a snapshot whose writer was finished elsewhere (a forked
  /// child renamed it to `final_path` in snapshots().dir()); refused if older than the current.
  Result<std::shared_ptr<const SnapshotFile>> adopt_snapshot(const std::string& final_path);
  /// The file the log starts at (the one streamed to followers) turned out damaged: compact the
  /// log to the current snapshot instead, if that one is newer and valid. Returns the file now
  /// streamed, or an error when there is none better.
  Result<std::shared_ptr<const SnapshotFile>> compact_to_current();
  /// A snapshot from the leader was fully received: verify it, make it current, and install it
  /// into the log. On error nothing changed (ask the leader again).
  Result<std::shared_ptr<const SnapshotFile>> install_snapshot(IncomingSnapshot& incoming);

 private:
  DataDir() = default;
  Status reconcile();

  /// The log is compacted to `newest`, or (keep_log_to_previous_snapshot) to `previous`.
  void compact_after_snapshot(const std::shared_ptr<const SnapshotFile>& newest,
                              const std::shared_ptr<const SnapshotFile>& previous);

  std::string dir_;
  Options options_;
  int lock_fd_ = -1;
  Identity identity_;
  std::unique_ptr<SnapshotStore> snapshots_;
  std::unique_ptr<LogStore> log_;
  std::vector<std::string> diagnostics_;
};

/// The identity file's contents for `id` (exposed for tests).
std::string encode_identity(const Identity& id);
/// Parses an identity file; the error names `path`.
Result<Identity> decode_identity(const std::string& path, std::string_view text);

}  // namespace storage
