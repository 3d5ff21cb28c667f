// The directory of snapshot files (DIR/snapshots/): finds the newest valid snapshot at start,
// creates new ones (written locally or received from the leader), and prunes old ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "raft/types.h"
#include "storage/snapshot_file.h"
#include "storage/status.h"

namespace storage {

class SnapshotStore {
 public:
  /// Opens (creating if needed) the directory `dir`, removes temporary files left by a crash,
  /// and makes the newest snapshot that passes full verification current. Each newer file that
  /// fails (truncated, bit-flipped, unknown version) is skipped and described in `diagnostics`
  /// by name; it is kept on disk for inspection. Older files beyond the two newest are removed.
  static std::unique_ptr<SnapshotStore> open(const std::string& dir,
                                             std::vector<std::string>& diagnostics);

  const std::string& dir() const { return dir_; }

  /// The current snapshot (nullptr when there is none). Thread-safe.
  std::shared_ptr<const SnapshotFile> current() const;
  /// Opens and fully verifies the stored snapshot for `meta` (not necessarily the current one:
  /// the log may start at an older snapshot). An error names the file and what is wrong.
  Result<std::shared_ptr<const SnapshotFile>> open_verified(const raft::SnapshotMeta& meta) const;

  /// Starts writing a snapshot taken locally; finish it with commit(). May be used from a
  /// background thread while the store serves current().
  std::unique_ptr<SnapshotWriter> create(const SnapshotHeader& header);
  /// Starts receiving a snapshot from the leader (the file image announced as `total_size`
  /// bytes describing `meta`); feed it chunks, then commit().
  std::unique_ptr<IncomingSnapshot> receive(const raft::SnapshotMeta& meta,
                                            std::uint64_t total_size);

  /// Makes a fully written snapshot durable and current, then prunes all but it and the previous
  /// current one. A snapshot older than the current one is refused.
  Result<std::shared_ptr<const SnapshotFile>> commit(SnapshotWriter& writer);
  /// Same for a received snapshot, after verifying it; on failure nothing changed and the caller
  /// asks the leader again (raft::Node::snapshot_rejected()).
  Result<std::shared_ptr<const SnapshotFile>> commit(IncomingSnapshot& incoming);
  /// Same for a snapshot whose SnapshotWriter was finished elsewhere (raftd: in a forked child,
  /// which renamed it into dir() itself): `path` is that final path. An older snapshot than the
  /// current one is refused and its file removed; the current snapshot stays as it was.
  Result<std::shared_ptr<const SnapshotFile>> adopt_finished(const std::string& path);

  /// Names (not paths) of the snapshot files present, oldest first. For tests and diagnostics.
  std::vector<std::string> list() const;

 private:
  explicit SnapshotStore(std::string dir) : dir_(std::move(dir)) {}
  std::string temp_path();
  // Opens a file just renamed into place, makes it current and prunes. Holds commit_mu_.
  Result<std::shared_ptr<const SnapshotFile>> adopt(const std::string& path);

  const std::string dir_;
  std::mutex commit_mu_;  // serialises commits, so pruning never races a concurrent commit
  mutable std::mutex mu_;
  std::shared_ptr<const SnapshotFile> current_;  // guarded by mu_
  std::uint64_t temp_seq_ = 0;                   // guarded by mu_
};

}  // namespace storage
