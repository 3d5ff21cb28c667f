#include "tests/sim/network.h"

namespace raftsim {

int Network::send(const raft::Message& m, std::uint64_t now, Rng& rng) {
  ++sent_;
  if (blocked(m.from, m.to) || rng.chance(faults_.drop)) {
    ++dropped_;
    return 0;
  }
  const int copies = rng.chance(faults_.duplicate) ? 2 : 1;
  if (copies == 2) ++duplicated_;
  for (int c = 0; c < copies; ++c) {
    std::uint64_t at = now;
    if (faults_.max_delay > 0 && rng.chance(faults_.delay)) {
      at += static_cast<std::uint64_t>(rng.range(1, faults_.max_delay));
    }
    flights_.push_back(InFlight{m, at, seq_++});
  }
  return copies;
}

bool Network::take_random(std::uint64_t now, Rng& rng, InFlight& out) {
  std::vector<std::size_t> ready;
  for (std::size_t i = 0; i < flights_.size(); ++i) {
    if (flights_[i].deliver_at <= now) ready.push_back(i);
  }
  if (ready.empty()) return false;
  const std::size_t pick = ready[rng.below(ready.size())];
  out = std::move(flights_[pick]);
  flights_.erase(flights_.begin() + static_cast<long>(pick));
  return true;
}

bool Network::take_oldest(std::uint64_t now, InFlight& out) {
  for (std::size_t i = 0; i < flights_.size(); ++i) {
    if (flights_[i].deliver_at <= now) {
      out = std::move(flights_[i]);
      flights_.erase(flights_.begin() + static_cast<long>(i));
      return true;
    }
  }
  return false;
}

void Network::partition(const std::set<raft::NodeId>& side, const std::set<raft::NodeId>& all) {
  for (raft::NodeId a : side) {
    for (raft::NodeId b : all) {
      if (side.count(b) != 0) continue;
      blocked_.insert({a, b});
      blocked_.insert({b, a});
    }
  }
}

}  // namespace raftsim
