// The node host's snapshots: taken, streamed, received, installed, loaded
// (snapshot_coordinator.h).
#include "server/node/snapshot_coordinator.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "server/keyspace/keyspace.h"
#include "server/log.h"
#include "server/node/member_directory.h"
#include "server/node/replies.h"
#include "storage/data_dir.h"

namespace raftd {

namespace {

std::int64_t ms_since(std::chrono::steady_clock::time_point started) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               started)
      .count();
}

}  // namespace

SnapshotCoordinator::SnapshotCoordinator(storage::DataDir& dir, Keyspace& keyspace,
                                         const AppliedState& applied,
                                         const MemberDirectory& members)
    : dir_(dir),
      keyspace_(keyspace),
      applied_(applied),
      members_(members),
      snapshotter_(std::make_unique<Snapshotter>(dir)) {}

SnapshotCoordinator::~SnapshotCoordinator() = default;

Result<LoadedSnapshot> SnapshotCoordinator::load_at_start() {
  auto file = dir_.snapshots().current();
  if (!file) return LoadedSnapshot{};
  const auto started = std::chrono::steady_clock::now();
  if (Status st = load_snapshot(*file, keyspace_); !st) {
    return Status::error(
        fmt::format("snapshot {} cannot be loaded: {}", file->path(), st.message()));
  }
  log::info("loaded snapshot {} term {} ({} keys, {} bytes) in {} ms; replaying the log after it",
            file->meta().index, file->meta().term, keyspace_.size(), file->file_size(),
            ms_since(started));
  return LoadedSnapshot{file->meta(), file->header().context};
}

raft::Index SnapshotCoordinator::newest_index() const {
  auto file = dir_.snapshots().current();
  return std::max(file ? file->meta().index : 0, dir_.log().snapshot_meta().index);
}

void SnapshotCoordinator::checkpoint(Completion done) {
  if (applied_.index <= newest_index() && !snapshotter_->running()) {
    done("+OK\r\n");  // the current snapshot already holds everything applied
    return;
  }
  checkpoint_next_.push_back(std::move(done));
  tick();
}

void SnapshotCoordinator::tick() {
  if (snapshotter_->running()) {
    if (auto outcome = snapshotter_->poll()) finish(*outcome);
    if (snapshotter_->running()) return;
  }
  const raft::Index snap = newest_index();
  const bool due = (interval_ > 0 && applied_.index >= snap + interval_) || streamed_damaged_;
  if (!due && checkpoint_next_.empty()) return;
  // Nothing new, or still replaying the log at start.
  if (applied_.index < replay_until_ || applied_.index <= snap) return;
  if (Status st = start(); !st) {
    log::debug("snapshot at {} not started: {}", applied_.index, st.message());
    return;  // tried again at the next tick
  }
  checkpoint_waiting_ = std::move(checkpoint_next_);
  checkpoint_next_.clear();
}

Status SnapshotCoordinator::start() {
  // The log is compacted to the snapshot when it is adopted, which needs our entry at that
  // index durable (the host applies committed entries before its own copy is synced).
  raft::Term t = 0;
  if (dir_.log().term(applied_.index, t) != raft::StorageError::kOk || t != applied_.term) {
    return Status::error("the applied entry is not durable in the local log yet");
  }
  storage::SnapshotHeader header;
  header.meta.index = applied_.index;
  header.meta.term = applied_.term;
  header.meta.conf = applied_.conf;
  header.context = members_.encode(applied_.conf);
  if (Status st = snapshotter_->start(header, keyspace_); !st) return st;
  log::info("snapshot at index {} started ({} keys)", applied_.index, keyspace_.size());
  return Status::ok();
}

void SnapshotCoordinator::finish(const Snapshotter::Outcome& o) {
  auto ms = [](std::chrono::microseconds us) { return static_cast<double>(us.count()) / 1000.0; };
  std::vector<Completion> waiting = std::move(checkpoint_waiting_);
  checkpoint_waiting_.clear();
  if (o.ok()) {
    ++taken_;
    last_info_ = fmt::format("index={},bytes={},fork_ms={:.1f},write_ms={:.1f}", o.meta.index,
                             o.body_bytes, ms(o.fork_time), ms(o.child_time));
    log::info(
        "snapshot at index {} term {} done: {} bytes, fork {:.1f} ms, child {:.1f} ms{}; log "
        "compacted",
        o.meta.index, o.meta.term, o.body_bytes, ms(o.fork_time), ms(o.child_time),
        o.raised ? " (raised from idle to normal priority: the CPU was busy all along)" : "");
    to_report_ = o.meta;
    if (on_taken_) on_taken_();
    for (auto& done : waiting) done("+OK\r\n");
    if (streamed_damaged_) compact_past_damaged_file();
  } else {
    log::error("snapshot at index {} failed: {}", o.meta.index, o.status.message());
    const std::string reply =
        replies::error(fmt::format("ERR snapshot failed: {}", o.status.message()));
    for (auto& done : waiting) done(reply);
  }
}

std::optional<raft::SnapshotMeta> SnapshotCoordinator::take_report(raft::Index core_applied) {
  if (!to_report_ || core_applied < to_report_->index) return std::nullopt;
  auto meta = to_report_;
  to_report_.reset();
  return meta;
}

void SnapshotCoordinator::on_chunk_sent(const raft::Message& m) {
  if (m.snapshot_offset != 0) return;
  if (m.snapshot.index != streamed_index_) {
    streamed_index_ = m.snapshot.index;
    streamed_restarts_ = 0;
  }
  // A transfer starts over when the follower rejected the whole file (or lost its copy). A few
  // restarts are normal (a follower restarting mid-transfer); many mean the file itself may be
  // bad, and resending it forever would never help the follower.
  if (++streamed_restarts_ < 4 || streamed_verified_ == m.snapshot.index || streamed_damaged_) {
    return;
  }
  auto file = dir_.snapshots().open_verified(m.snapshot);
  if (file) {
    streamed_verified_ = m.snapshot.index;
    return;
  }
  log::error("the snapshot streamed to followers is damaged: {}; taking a new one", file.message());
  streamed_damaged_ = true;
  compact_past_damaged_file();
}

void SnapshotCoordinator::compact_past_damaged_file() {
  auto now_streamed = dir_.compact_to_current();
  if (now_streamed) {
    log::warn("log compacted to snapshot {}, which followers get from now on",
              (*now_streamed)->path());
    streamed_damaged_ = false;
    streamed_restarts_ = 0;
    to_report_ = (*now_streamed)->meta();
    if (on_taken_) on_taken_();
    return;
  }
  // No newer good snapshot yet: take one; finish() comes back here.
  if (!snapshotter_->running()) {
    if (Status st = start(); !st) log::warn("cannot start a snapshot: {}", st.message());
  }
}

bool SnapshotCoordinator::receive_chunk(const raft::SnapshotChunk& chunk) {
  if (chunk.offset == 0 || !incoming_ || incoming_->meta() != chunk.meta) {
    incoming_ = dir_.snapshots().receive(chunk.meta, chunk.total_size);
    received_path_.clear();
  }
  if (Status st = incoming_->write(chunk.offset, chunk.data); !st) {
    log::warn("snapshot chunk at offset {} refused: {}", chunk.offset, st.message());
    incoming_.reset();
    return false;
  }
  if (!chunk.done) return true;
  // The last chunk: the whole file is checked (header, body CRC, that it is the snapshot the
  // leader announced) before the core is told it arrived; a bad one is asked for again.
  auto path = incoming_->finish();
  incoming_.reset();
  if (!path) {
    log::warn("snapshot {} from the leader failed verification, asking again: {}", chunk.meta.index,
              path.message());
    return false;
  }
  received_path_ = *path;
  return true;
}

Result<LoadedSnapshot> SnapshotCoordinator::install(const raft::SnapshotMeta& meta) {
  if (received_path_.empty()) {
    return Status::error(
        fmt::format("asked to install snapshot {} but no verified file was received", meta.index));
  }
  const auto started = std::chrono::steady_clock::now();
  // Our own snapshot in progress is older than this one: adopting it would be refused anyway.
  if (snapshotter_->running()) snapshotter_->cancel();
  std::string path = std::move(received_path_);
  received_path_.clear();
  // The file first, then the log (DataDir::install_snapshot's order): a crash in between leaves
  // a snapshot ahead of the log, which DataDir::open repairs.
  auto file = dir_.snapshots().adopt_finished(path);
  if (!file) {
    return Status::error(
        fmt::format("received snapshot {} not adopted: {}", meta.index, file.message()));
  }
  dir_.log().install_snapshot(meta);
  dir_.log().set_snapshot_file(*file);
  // The log now starts after the snapshot, so the state machine must hold exactly its state:
  // replace it in place (no second copy of the keyspace in memory).
  keyspace_.clear();
  if (Status st = load_snapshot(**file, keyspace_); !st) {
    // The file passed its checksums, so it is what the leader wrote; a body we cannot decode
    // means a raftd that writes another format.
    log::error("snapshot {} passed verification but cannot be loaded: {}; stopping",
               (*file)->path(), st.message());
    std::abort();
  }
  replay_until_ = 0;
  ++installed_;
  log::info("installed snapshot {} term {} from the leader ({} keys, {} bytes) in {} ms",
            meta.index, meta.term, keyspace_.size(), (*file)->file_size(), ms_since(started));
  return LoadedSnapshot{meta, (*file)->header().context};
}

void SnapshotCoordinator::fail_waiting(std::string_view reply) {
  std::vector<Completion> waiting = std::move(checkpoint_waiting_);
  checkpoint_waiting_.clear();
  for (auto& done : checkpoint_next_) waiting.push_back(std::move(done));
  checkpoint_next_.clear();
  for (auto& done : waiting) done(reply);
}

}  // namespace raftd
