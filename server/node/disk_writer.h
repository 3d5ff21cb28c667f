// The Raft log's writer thread: the event loop hands it each Ready's entries and hard state and
// goes on serving (collecting the next batch, replicating, answering reads) while the fsync
// runs. Jobs are written strictly in order; whatever queued up during one fsync is merged into
// the next write, so the number of fsyncs adapts to the disk's speed (group commit).
//
// A follower, and a lone voter, write on the loop thread itself (write_now), which keeps the
// order with any job still queued from an earlier time as a cluster's leader.
//
// Completion is reported on the event loop (posted to the io_context) with the sequence number
// of the newest job written and the log's last index after it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>  // before boost/asio: Boost 1.74 + g++ 12 (asio/awaitable.hpp)
#include <vector>

#include "raft/types.h"

namespace storage {
class LogStore;
}  // namespace storage

namespace raftd {

class DiskWriter {
 public:
  /// Runs on the io_context's thread: every job up to `seq` is durable and the log ends at
  /// `last_index`.
  using OnDurable = std::function<void(std::uint64_t seq, raft::Index last_index)>;

  DiskWriter(boost::asio::io_context& io, storage::LogStore& log, OnDurable on_durable);
  /// Finishes the queued writes, then stops the thread.
  ~DiskWriter();
  DiskWriter(const DiskWriter&) = delete;
  DiskWriter& operator=(const DiskWriter&) = delete;

  /// Queues a write and returns its sequence number (increasing from 1).
  std::uint64_t submit(std::optional<raft::HardState> hard_state, std::vector<raft::Entry> entries);
  /// Writes and syncs on the calling (loop) thread when nothing is queued, returning the job's
  /// sequence number, already durable; otherwise queues it like submit() and returns nullopt.
  std::optional<std::uint64_t> write_now(std::optional<raft::HardState> hard_state,
                                         std::vector<raft::Entry> entries);
  /// Blocks until every queued job is durable; returns the newest sequence number written (its
  /// completion is posted as well, and harmless to receive late).
  std::uint64_t drain();
  std::uint64_t last_submitted() const { return next_seq_ - 1; }
  /// Number of synced writes so far (INFO).
  std::uint64_t writes() const;

 private:
  struct Job {
    std::uint64_t seq = 0;
    std::optional<raft::HardState> hard_state;
    std::vector<raft::Entry> entries;
  };

  void run();

  boost::asio::io_context& io_;
  storage::LogStore& log_;
  OnDurable on_durable_;
  std::uint64_t next_seq_ = 1;  // loop thread only

  mutable std::mutex mu_;
  std::condition_variable wake_;  // a job arrived, or stop
  std::condition_variable idle_;  // the queue ran empty
  std::deque<Job> queue_;
  bool busy_ = false;
  bool stop_ = false;
  std::uint64_t done_seq_ = 0;
  std::uint64_t writes_ = 0;
  std::thread thread_;
};

}  // namespace raftd
