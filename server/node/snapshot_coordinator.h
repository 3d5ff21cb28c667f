// Snapshots of the node host, every way they come and go:
//   taken: every snapshot-interval applied entries, or at CHECKPOINT, in a forked child
//          (server/node/snapshotter.h); adopted when it ends, which compacts the log;
//   streamed: followers that fell behind the log get the newest file, chunk by chunk (the
//          transport sends it); one that keeps starting over makes us verify our own file,
//          and a damaged one is replaced by a new snapshot;
//   received: a leader's chunks are written to a file checked whole (header, CRC, the
//          snapshot the leader announced) before the core hears it arrived;
//   installed: the received file replaces the state machine and the log's start;
//   loaded: at start, the current file is the state the log replays after.
// It reads what the host has applied (AppliedState) and owns nothing of the Raft core: the
// host tells the core about a snapshot taken (take_report) and about one installed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/raft.h"
#include "server/node/proposer.h"
#include "server/node/snapshotter.h"
#include "server/status.h"

namespace storage {
class DataDir;
class IncomingSnapshot;
}  // namespace storage

namespace raftd {

class Keyspace;
class MemberDirectory;

/// What the host has applied: a snapshot taken now holds exactly this.
struct AppliedState {
  raft::Index index = 0;
  raft::Term term = 0;
  raft::ConfState conf;  ///< membership in effect at `index`
};

/// A snapshot now in the state machine (loaded at start or installed): what the host adopts.
struct LoadedSnapshot {
  raft::SnapshotMeta meta;  ///< meta.index 0: there was none
  std::string members;      ///< the members' addresses (MemberDirectory::encode's format)
};

class SnapshotCoordinator {
 public:
  using Completion = Proposer::Completion;

  /// All four must outlive the coordinator.
  SnapshotCoordinator(storage::DataDir& dir, Keyspace& keyspace, const AppliedState& applied,
                      const MemberDirectory& members);
  ~SnapshotCoordinator();
  SnapshotCoordinator(const SnapshotCoordinator&) = delete;
  SnapshotCoordinator& operator=(const SnapshotCoordinator&) = delete;

  /// Called as soon as a snapshot is taken and adopted (or the log is compacted to a newer
  /// good file), before CHECKPOINTs waiting for it are answered: the host tells the core then
  /// (take_report).
  void set_on_taken(std::function<void()> hook) { on_taken_ = std::move(hook); }
  /// Applied entries between snapshots (snapshot-interval); 0: only at CHECKPOINT.
  void set_interval(std::uint64_t entries) { interval_ = entries; }
  std::uint64_t interval() const { return interval_; }
  /// No snapshot is taken before the log is replayed up to `index` (the commit index at start).
  void set_replay_until(raft::Index index) { replay_until_ = index; }

  /// At start: loads the current snapshot, if any, into the (empty) keyspace.
  Result<LoadedSnapshot> load_at_start();

  /// Once per tick: adopts a finished snapshot, starts one when due.
  void tick();
  /// CHECKPOINT: answered +OK once a snapshot holding everything applied now is durable.
  void checkpoint(Completion done);
  /// A snapshot taken and adopted that the core has not been told of yet, once the core has
  /// applied that far (`core_applied`; it may lag the host, which applies entries before their
  /// Ready is advanced).
  std::optional<raft::SnapshotMeta> take_report(raft::Index core_applied);

  /// Called for each InstallSnapshot chunk the core sends.
  void on_chunk_sent(const raft::Message& m);
  /// A chunk from the leader; false if it was refused (the core asks for the file again).
  bool receive_chunk(const raft::SnapshotChunk& chunk);
  /// Installs the file received for `meta` into the log and the keyspace (replacing it).
  /// A file that was verified but does not load stops the node: serving anything now would be
  /// wrong. An error means nothing changed.
  Result<LoadedSnapshot> install(const raft::SnapshotMeta& meta);

  /// Answers every CHECKPOINT waiting (shutdown).
  void fail_waiting(std::string_view reply);

  /// The newest snapshot index: the current file's or the log's start.
  raft::Index newest_index() const;
  bool running() const { return snapshotter_->running(); }
  std::uint64_t taken() const { return taken_; }
  std::uint64_t installed() const { return installed_; }
  /// INFO: how the last snapshot went ("index=..,bytes=..,fork_ms=..,write_ms=..").
  const std::string& last_info() const { return last_info_; }

 private:
  Status start();
  void finish(const Snapshotter::Outcome& outcome);
  void compact_past_damaged_file();

  storage::DataDir& dir_;
  Keyspace& keyspace_;
  const AppliedState& applied_;
  const MemberDirectory& members_;
  std::unique_ptr<Snapshotter> snapshotter_;
  std::uint64_t interval_ = 0;
  raft::Index replay_until_ = 0;

  std::vector<Completion> checkpoint_waiting_;  ///< answered when the running snapshot ends
  std::vector<Completion> checkpoint_next_;     ///< need a snapshot started after they came
  std::optional<raft::SnapshotMeta> to_report_;
  std::function<void()> on_taken_;

  std::unique_ptr<storage::IncomingSnapshot> incoming_;
  std::string received_path_;  ///< verified incoming file, not installed yet

  /// Transfers of the streamed snapshot started (offset 0 sent) since it was last checked: a
  /// follower that keeps rejecting it makes us verify our own file.
  raft::Index streamed_index_ = 0;
  int streamed_restarts_ = 0;
  raft::Index streamed_verified_ = 0;  ///< streamed snapshot already verified good
  bool streamed_damaged_ = false;      ///< take a snapshot and compact the log past the file

  std::uint64_t taken_ = 0;
  std::uint64_t installed_ = 0;
  std::string last_info_;
};

}  // namespace raftd
