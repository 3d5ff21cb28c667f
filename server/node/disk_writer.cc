// The leader's log writer thread (disk_writer.h).
#include "server/node/disk_writer.h"

#include <boost/asio/post.hpp>

#include "storage/log_store.h"

namespace raftd {

DiskWriter::DiskWriter(boost::asio::io_context& io, storage::LogStore& log, OnDurable on_durable)
    : io_(io), log_(log), on_durable_(std::move(on_durable)), thread_([this] { run(); }) {}

DiskWriter::~DiskWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::uint64_t DiskWriter::submit(std::optional<raft::HardState> hard_state,
                                 std::vector<raft::Entry> entries) {
  const std::uint64_t seq = next_seq_++;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(Job{seq, hard_state, std::move(entries)});
  }
  wake_.notify_one();
  return seq;
}

std::optional<std::uint64_t> DiskWriter::write_now(std::optional<raft::HardState> hard_state,
                                                   std::vector<raft::Entry> entries) {
  bool idle = false;
  {
    std::lock_guard lock(mu_);
    idle = queue_.empty() && !busy_;
  }
  // Order: a queued or running job must land first. Only the loop thread submits, so an idle
  // writer stays idle while we write here.
  if (!idle) {
    submit(hard_state, std::move(entries));
    return std::nullopt;
  }
  const std::uint64_t seq = next_seq_++;
  if (hard_state || !entries.empty()) log_.save(hard_state ? &*hard_state : nullptr, entries);
  std::lock_guard lock(mu_);
  ++writes_;
  done_seq_ = seq;
  return seq;
}

std::uint64_t DiskWriter::drain() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
  return done_seq_;
}

std::uint64_t DiskWriter::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

void DiskWriter::run() {
  std::vector<raft::Entry> entries;
  for (;;) {
    std::deque<Job> jobs;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop requested and nothing left to write
      jobs.swap(queue_);
      busy_ = true;
    }
    // Merge everything queued into one batch. A later job may rewrite a suffix of an earlier one
    // (a follower whose uncommitted tail was replaced): its entries win from their first index.
    entries.clear();
    std::optional<raft::HardState> hard_state;
    for (Job& job : jobs) {
      if (job.hard_state) hard_state = job.hard_state;
      if (job.entries.empty()) continue;
      const raft::Index from = job.entries.front().index;
      while (!entries.empty() && entries.back().index >= from) entries.pop_back();
      for (raft::Entry& e : job.entries) entries.push_back(std::move(e));
    }
    if (hard_state || !entries.empty()) {
      log_.save(hard_state ? &*hard_state : nullptr, entries);
    }
    const std::uint64_t seq = jobs.back().seq;
    const raft::Index last_index = log_.last_index();
    {
      std::lock_guard lock(mu_);
      ++writes_;
      done_seq_ = seq;
      busy_ = false;
    }
    idle_.notify_all();
    boost::asio::post(io_, [this, seq, last_index] { on_durable_(seq, last_index); });
  }
}

}  // namespace raftd
