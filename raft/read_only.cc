#include "raft/read_only.h"

namespace raft {

namespace {

constexpr char kRoundTag = 'r';

std::string round_context(std::uint64_t n) {
  std::string ctx;
  ctx.reserve(9);
  ctx.push_back(kRoundTag);
  for (int i = 0; i < 8; ++i) ctx.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return ctx;
}

// 0 for anything that is not a round context.
std::uint64_t round_number(const std::string& ctx) {
  if (ctx.size() != 9 || ctx[0] != kRoundTag) return 0;
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) {
    n |= static_cast<std::uint64_t>(static_cast<unsigned char>(ctx[1 + i])) << (8 * i);
  }
  return n;
}

}  // namespace

const std::string& ReadOnly::start_round(Index index, NodeId self) {
  Round r;
  // Rounds are numbered for the lifetime of this node, never reused: followers only echo
  // contexts from heartbeats of the current leader, and numbers only grow.
  r.number = next_round_++;
  r.context = round_context(r.number);
  r.index = index;
  r.requests = std::move(queued_);
  queued_.clear();
  r.acks.insert(self);
  rounds_.push_back(std::move(r));
  return rounds_.back().context;
}

bool ReadOnly::ack(const std::string& context, NodeId from) {
  const std::uint64_t n = round_number(context);
  if (n == 0) return false;
  bool any = false;
  for (Round& r : rounds_) {
    if (r.number > n) break;
    r.acks.insert(from);
    any = true;
  }
  return any;
}

ReadOnly::Round ReadOnly::finish_oldest() {
  Round r = std::move(rounds_.front());
  rounds_.pop_front();
  return r;
}

std::size_t ReadOnly::reset() {
  std::size_t n = queued_.size();
  for (const Round& r : rounds_) n += r.requests.size();
  queued_.clear();
  rounds_.clear();
  return n;
}

}  // namespace raft
