// Taking and loading snapshots of the keyspace (ARCHITECTURE.md, "snapshots ... must not stop
// the node from serving").
//
// Snapshotter takes one the way Redis's BGSAVE does: fork(), and the child writes the file from
// its copy-on-write view of the keyspace while the parent goes on serving. The parent's cost is
// the fork itself (copying page tables: a few ms per GB) plus the pages its writes copy while the
// child runs. The child writes the whole file (SnapshotWriter: temp name, fsync, rename, fsync of
// the directory) and _exit()s; the parent notices with a non-blocking waitpid() from its timer,
// and adopts the finished file: it becomes the current snapshot and the log is compacted to it.
//
// The child runs only code that is safe after fork() in a threaded process: it never takes a lock
// another thread may have held (no logger, no RocksDB, no SnapshotStore mutex - the temp file is
// created by the parent before the fork), touches only the keyspace and one file, and leaves by
// _exit(), so no atexit handler, destructor or LeakSanitizer pass runs in it. It dies with the
// parent (PR_SET_PDEATHSIG), so it never outlives it holding the data directory's lock or the
// listening sockets it inherited. A disk error in the child is fatal to the child only: it prints
// the file and error on stderr and aborts; the parent reports that, and the current snapshot and
// the log stay as they were.
//
// Constraint on the rest of the process: nothing else may reap our child (waitpid(-1, ...), or
// SIGCHLD set to SIG_IGN), or poll() reports an error instead of adopting.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "raft/types.h"
#include "server/keyspace/keyspace.h"
#include "server/status.h"
#include "storage/data_dir.h"
#include "storage/snapshot_file.h"

namespace raftd {

/// Loads the body of a snapshot read through `reader` into `into`, which must be a fresh
/// keyspace the caller throws away on error. Ok once the whole body decoded AND its CRC matched;
/// else the error (the keyspace body's own, or the reader's naming the file).
Status load_snapshot_body(storage::SnapshotBodyReader& reader, Keyspace& into,
                          std::optional<std::uint64_t> body_size = {});
/// Same for a whole snapshot file; errors name the file.
Status load_snapshot(const storage::SnapshotFile& file, Keyspace& into);

/// Writes a snapshot of `ks` for `header` on the calling thread and commits it through
/// DataDir::commit_snapshot (current, log compacted). Blocks for as long as the write takes: for
/// tests, tools, and small keyspaces. Refused (as commit is) if older than the current snapshot.
Result<std::shared_ptr<const storage::SnapshotFile>> write_snapshot_now(
    storage::DataDir& dir, const storage::SnapshotHeader& header, const Keyspace& ks);

class Snapshotter {
 public:
  struct Options {
    /// Test hook: a file size limit (RLIMIT_FSIZE) set in the child, so that its writes fail
    /// with EFBIG like a full disk. 0: none.
    std::uint64_t testing_child_file_limit = 0;
    /// The child runs at SCHED_IDLE and idle I/O priority: it gets only the CPU and disk that
    /// the event loop, the clients and the Raft log leave, so serving keeps its latency while a
    /// snapshot is written (tools/bench/snapshot.sh, 2 cores, 1M keys, snapshots back to back:
    /// SET p99 5.6x its p99 without snapshots at normal priority, 1.7-2.5x with this and 1 MB
    /// writeback steps). So that a machine busy all the time still finishes its snapshots (and
    /// compacts its log), poll() raises a child still running after this long back to normal
    /// priority. 0: the child runs at normal priority from the start.
    std::chrono::milliseconds idle_priority_for{10'000};
  };

  /// How a snapshot attempt ended.
  struct Outcome {
    raft::SnapshotMeta meta;  ///< what the snapshot was for
    /// The adopted file (now current, log compacted to it); null on error.
    std::shared_ptr<const storage::SnapshotFile> file;
    Status status;  ///< ok, or why no snapshot was adopted
    /// Time the parent spent inside fork(): the only stop of the event loop.
    std::chrono::microseconds fork_time{0};
    /// The child's own run (serialize, write, fsync, rename); 0 if it did not get to report.
    std::chrono::microseconds child_time{0};
    /// From start() until poll()/wait() saw the child end (includes polling delay).
    std::chrono::microseconds elapsed{0};
    std::uint64_t body_bytes = 0;  ///< as reported by the child
    bool ran_idle = false;         ///< the child started at SCHED_IDLE
    bool raised = false;           ///< it was raised to normal priority before it ended

    bool ok() const { return status.is_ok(); }
  };

  explicit Snapshotter(storage::DataDir& dir) : Snapshotter(dir, Options{}) {}
  Snapshotter(storage::DataDir& dir, Options options);
  /// Kills and reaps a child still running; its temporary file is removed.
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  bool running() const { return pid_ > 0; }
  /// The running child's pid (0 when none).
  pid_t child_pid() const { return pid_; }

  /// Forks a child that writes the snapshot of `ks` described by `header` (whose meta must be
  /// the state `ks` holds right now: the applied index, its term and the membership then).
  /// An error, and nothing started, when a snapshot is already running, when the current
  /// snapshot already covers header.meta.index, or when fork() fails.
  Status start(const storage::SnapshotHeader& header, const Keyspace& ks);

  /// Non-blocking: nullopt while the child runs (or when none was started); once it ended, the
  /// outcome, after adopting the file on success. Call it from a periodic timer.
  std::optional<Outcome> poll();
  /// Blocking form of poll() (shutdown, tests); nullopt if no snapshot was running.
  std::optional<Outcome> wait();
  /// Kills a running child and forgets it (its temporary file is removed). No-op when idle.
  void cancel();

 private:
  struct ChildReport;

  [[noreturn]] void run_child(const Keyspace& ks);
  Outcome finish(int wait_status);
  /// Back to normal priority (SCHED_OTHER) if the child runs at SCHED_IDLE.
  void raise_priority();
  void release();

  storage::DataDir& dir_;
  Options options_;
  pid_t pid_ = 0;
  pid_t parent_pid_ = 0;
  raft::SnapshotMeta meta_;
  std::string final_path_;
  std::unique_ptr<storage::SnapshotWriter> writer_;
  ChildReport* report_ = nullptr;  // a shared anonymous mapping the child fills in
  std::chrono::steady_clock::time_point started_;
  std::chrono::microseconds fork_time_{0};
  bool idle_ = false;    // the child was set to SCHED_IDLE
  bool raised_ = false;  // and raised back to SCHED_OTHER
};

}  // namespace raftd
