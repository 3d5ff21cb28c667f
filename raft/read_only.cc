#include "raft/read_only.h"

namespace raft {

const std::string& ReadOnly::start_round(Index index, NodeId self) {
  Round r;
  // Rounds are numbered per leader term; the number alone identifies one because followers only
  // echo contexts from heartbeats of the current leader.
  std::uint64_t n = next_round_++;
  r.context.reserve(9);
  r.context.push_back('r');
  for (int i = 0; i < 8; ++i) r.context.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  r.index = index;
  r.requests = std::move(queued_);
  queued_.clear();
  r.acks.insert(self);
  round_ = std::move(r);
  return round_->context;
}

bool ReadOnly::ack(const std::string& context, NodeId from) {
  if (!round_ || context.empty() || context != round_->context) return false;
  round_->acks.insert(from);
  return true;
}

ReadOnly::Round ReadOnly::finish_round() {
  Round r = std::move(*round_);
  round_.reset();
  return r;
}

std::size_t ReadOnly::reset() {
  std::size_t n = queued_.size() + (round_ ? round_->requests.size() : 0);
  queued_.clear();
  round_.reset();
  return n;
}

}  // namespace raft
