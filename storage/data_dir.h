// The data directory given with -d DIR:
//   DIR/LOCK           flock()ed while a raftd uses the directory; holds that raftd's pid
//   DIR/IDENTITY       cluster id (empty until the cluster is formed), node id, the directory's
//                      own random id, address; written when the directory is created and once
//                      more when its cluster is formed (the commit point of formation)
//   DIR/CLUSTER        the founding record (who formed the cluster with whom), from formation on
//   DIR/SECRET         the cluster secret (mode 0600), from formation on
//   DIR/FORMATION_KEY  the key a new node receives its copy of the secret with (0600), until
//                      formation
//   DIR/log/           the RocksDB log store
//   DIR/snapshots/     snapshot files
// DataDir opens all of it, and reconciles the log with the snapshot files after a crash.
//
// A node never takes part with less than it promised (thesis 3.8): a directory whose identity
// says its cluster was formed but whose log is gone is refused at open, and a new directory has
// a new random id, by which the other members know it is not the one they formed the cluster
// with (server/membership.h).
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
  std::string cluster_id;  ///< empty: the cluster is not formed yet
  raft::NodeId node_id = raft::kNoNode;
  std::string address;
  /// Random, fixed when the directory was created: a new or wiped directory has another one.
  /// 0 in an expected identity (nothing to compare).
  std::uint64_t dir_id = 0;

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
  bool formed() const { return !identity_.cluster_id.empty(); }
  /// The identity file was written by a raftd from before formation (format 1): its cluster id
  /// was derived from the member list, and it has no founding record or secret.
  bool legacy() const { return legacy_; }
  /// What DIR/CLUSTER, DIR/SECRET and DIR/FORMATION_KEY hold (empty when absent; the host
  /// decides whether that is acceptable). Each file is checksummed; a damaged one fails open().
  const std::string& cluster_record() const { return cluster_record_; }
  const std::string& secret() const { return secret_; }
  const std::string& formation_key() const { return formation_key_; }
  /// Keeps the key a new node's copy of the cluster secret will be sealed for, across restarts.
  void save_formation_key(std::string_view key);
  /// The cluster was formed: writes the founding record and the secret (if not empty), then the
  /// identity with `cluster_id`, which commits it; a crash before that leaves a directory that
  /// is still new. Forgets the formation key. Fails if the directory is formed already.
  Status form(const std::string& cluster_id, std::string_view cluster_record,
              std::string_view secret);
  /// For a legacy directory: writes the founding record (and secret) it lacks, keeping its id.
  Status complete_legacy(std::string_view cluster_record, std::string_view secret);
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

  Status load_private_files();

  std::string dir_;
  Options options_;
  int lock_fd_ = -1;
  Identity identity_;
  bool legacy_ = false;
  std::string cluster_record_;
  std::string secret_;
  std::string formation_key_;
  std::unique_ptr<SnapshotStore> snapshots_;
  std::unique_ptr<LogStore> log_;
  std::vector<std::string> diagnostics_;
};

/// The identity file's contents for `id` (exposed for tests).
std::string encode_identity(const Identity& id);
/// Parses an identity file; the error names `path`. `legacy` is set for format 1.
Result<Identity> decode_identity(const std::string& path, std::string_view text,
                                 bool* legacy = nullptr);

}  // namespace storage
