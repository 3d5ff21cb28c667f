// The node host's request tracker (requests.h).
#include "server/node/requests.h"

#include <iterator>
#include <utility>

#include "server/node/replies.h"

namespace raftd {

namespace {

/// Empties `c` and returns what it held (see the file comment on re-entrant completions).
template <class Container>
Container take(Container& c) {
  Container out;
  out.swap(c);
  return out;
}

}  // namespace

RequestTracker::RequestTracker(std::uint64_t incarnation)
    : next_read_ctx_((incarnation * 0x9E3779B97F4A7C15ull) | 1),
      next_forward_id_(incarnation | 1) {}

void RequestTracker::add_write(raft::Index index, raft::Term term, Completion done,
                               std::int64_t deadline) {
  writes_[index] = Write{term, std::move(done), deadline};
}

void RequestTracker::write_applied(raft::Index index, raft::Term term, std::string_view reply) {
  while (!writes_.empty() && writes_.begin()->first <= index) {
    auto node = writes_.extract(writes_.begin());
    if (node.key() == index && node.mapped().term == term) {
      node.mapped().done(reply);
    } else {
      node.mapped().done(replies::cluster_down(
          "leader changed before the command was committed; it was not applied"));
    }
  }
}

void RequestTracker::writes_replaced(raft::Index index) {
  while (!writes_.empty() && writes_.begin()->first <= index) {
    writes_.extract(writes_.begin())
        .mapped()
        .done(replies::timeout("the command's outcome is unknown (the log was replaced by a "
                               "snapshot)"));
  }
}

void RequestTracker::add_read(ReadFn run, Completion done, std::int64_t deadline) {
  unsent_reads_.push_back(Read{std::move(run), std::move(done), deadline});
}

std::optional<std::uint64_t> RequestTracker::open_read_round(bool leader_known) {
  if (leader_known && !reads_awaiting_leader_.empty()) {
    // Asked again after a leader change: they arrived before anything unsent, so they go first.
    std::vector<Read> reads = take(reads_awaiting_leader_);
    for (auto& r : unsent_reads_) reads.push_back(std::move(r));
    unsent_reads_ = std::move(reads);
  }
  if (unsent_reads_.empty()) return std::nullopt;
  if (!leader_known) {
    const std::string reply = replies::cluster_down("no leader");
    for (auto& r : take(unsent_reads_)) r.done(reply);
    return std::nullopt;
  }
  const std::uint64_t ctx = next_read_ctx_++;
  ++read_rounds_;
  Round& round = rounds_[ctx];
  round.reads = take(unsent_reads_);
  // In arrival order, so the first read's deadline is the round's, and deadlines still grow
  // along rounds_.
  round.deadline = round.reads.front().deadline;
  return ctx;
}

void RequestTracker::read_round_confirmed(std::uint64_t ctx, raft::Index index) {
  auto it = rounds_.find(ctx);
  if (it == rounds_.end()) return;  // timed out meanwhile, or asked again of a new leader
  for (auto& r : it->second.reads) confirmed_.emplace(index, std::move(r));
  rounds_.erase(it);
}

void RequestTracker::run_confirmed_reads(raft::Index applied, std::string& scratch) {
  while (!confirmed_.empty() && confirmed_.begin()->first <= applied) {
    auto node = confirmed_.extract(confirmed_.begin());
    scratch.clear();
    node.mapped().run(scratch);
    node.mapped().done(scratch);
  }
}

bool RequestTracker::leader_changed() {
  if (rounds_.empty()) return false;
  // Until a leader is known they wait (each until its own deadline): a client whose read was
  // already under way gets its answer after the election rather than an error at its start.
  for (auto& [ctx, round] : take(rounds_)) {
    for (auto& r : round.reads) reads_awaiting_leader_.push_back(std::move(r));
  }
  return true;
}

void RequestTracker::add_forward(std::uint64_t id, raft::NodeId to, Completion done,
                                 std::int64_t deadline) {
  forwards_[id] = Forward{to, std::move(done), deadline};
}

void RequestTracker::forward_replied(std::uint64_t id, std::string_view reply) {
  auto it = forwards_.find(id);
  if (it == forwards_.end()) return;
  auto done = std::move(it->second.done);
  forwards_.erase(it);
  done(reply);
}

void RequestTracker::forwards_lost(raft::NodeId node, std::string_view reply) {
  std::vector<Forward> lost;
  for (auto it = forwards_.begin(); it != forwards_.end();) {
    if (it->second.to == node) {
      lost.push_back(std::move(it->second));
      it = forwards_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& f : lost) f.done(reply);
}

void RequestTracker::expire(std::int64_t now) {
  if (!writes_.empty() && writes_.begin()->second.deadline <= now) {
    const std::string reply =
        replies::timeout("the command was proposed but its outcome is unknown (no commit in time)");
    while (!writes_.empty() && writes_.begin()->second.deadline <= now) {
      writes_.extract(writes_.begin()).mapped().done(reply);
    }
  }
  if (!rounds_.empty() && rounds_.begin()->second.deadline <= now) {
    const std::string reply = replies::timeout("the read could not be confirmed in time");
    while (!rounds_.empty() && rounds_.begin()->second.deadline <= now) {
      auto round = rounds_.extract(rounds_.begin());
      for (auto& r : round.mapped().reads) r.done(reply);
    }
  }
  std::size_t due = 0;
  while (due < reads_awaiting_leader_.size() && reads_awaiting_leader_[due].deadline <= now) {
    ++due;
  }
  if (due > 0) {
    const auto end = reads_awaiting_leader_.begin() + static_cast<std::ptrdiff_t>(due);
    std::vector<Read> expired(std::make_move_iterator(reads_awaiting_leader_.begin()),
                              std::make_move_iterator(end));
    reads_awaiting_leader_.erase(reads_awaiting_leader_.begin(), end);
    const std::string reply = replies::timeout("no leader to confirm the read in time");
    for (auto& r : expired) r.done(reply);
  }
  if (!forwards_.empty() && forwards_.begin()->second.deadline <= now) {
    const std::string reply =
        replies::timeout("no reply from the leader; the command's outcome is unknown");
    while (!forwards_.empty() && forwards_.begin()->second.deadline <= now) {
      forwards_.extract(forwards_.begin()).mapped().done(reply);
    }
  }
}

void RequestTracker::fail_all(std::string_view unknown, std::string_view not_done) {
  for (auto& [index, w] : take(writes_)) w.done(unknown);
  for (auto& [id, f] : take(forwards_)) f.done(unknown);
  for (auto& [ctx, round] : take(rounds_)) {
    for (auto& r : round.reads) r.done(not_done);
  }
  for (auto& r : take(unsent_reads_)) r.done(not_done);
  for (auto& r : take(reads_awaiting_leader_)) r.done(not_done);
  for (auto& [index, r] : take(confirmed_)) r.done(not_done);
}

std::size_t RequestTracker::pending_reads() const {
  std::size_t n = unsent_reads_.size() + reads_awaiting_leader_.size() + confirmed_.size();
  for (const auto& [ctx, round] : rounds_) n += round.reads.size();
  return n;
}

}  // namespace raftd
