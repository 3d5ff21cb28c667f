// The simulated network: messages in flight with a delivery time on the simulated clock, lost,
// duplicated or delayed (hence reordered) at random, and cut by directed link blocks that model
// partitions of any subset (symmetric or one-way).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "raft/message.h"
#include "tests/sim/rng.h"

namespace raftsim {

struct NetworkFaults {
  double drop = 0;       ///< probability a message is lost
  double duplicate = 0;  ///< probability a message is delivered twice
  double delay = 0;      ///< probability a message is held for 1..max_delay ticks
  std::int64_t max_delay = 0;

  bool reliable() const { return drop == 0 && duplicate == 0 && delay == 0; }
};

struct InFlight {
  raft::Message msg;
  std::uint64_t deliver_at = 0;  ///< tick at or after which it may arrive
  std::uint64_t seq = 0;         ///< send order, for traces
};

class Network {
 public:
  /// Queues `m` (sent at tick `now`), unless the faults or a blocked link lose it.
  /// Returns the number of copies queued (0, 1 or 2).
  int send(const raft::Message& m, std::uint64_t now, Rng& rng);

  /// Removes and returns a random message deliverable at `now` (reordering comes from picking
  /// at random); false if none is.
  bool take_random(std::uint64_t now, Rng& rng, InFlight& out);
  /// Removes and returns the oldest message deliverable at `now`; false if none is.
  bool take_oldest(std::uint64_t now, InFlight& out);

  bool blocked(raft::NodeId from, raft::NodeId to) const { return blocked_.count({from, to}) != 0; }
  void block(raft::NodeId from, raft::NodeId to) { blocked_.insert({from, to}); }
  /// Cuts every link between `side` and the rest of `all`, both ways.
  void partition(const std::set<raft::NodeId>& side, const std::set<raft::NodeId>& all);
  void heal() { blocked_.clear(); }
  bool healed() const { return blocked_.empty(); }

  NetworkFaults& faults() { return faults_; }
  const NetworkFaults& faults() const { return faults_; }
  std::size_t in_flight() const { return flights_.size(); }
  void clear() { flights_.clear(); }

  std::uint64_t sent() const { return sent_; }
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t duplicated() const { return duplicated_; }

 private:
  NetworkFaults faults_;
  std::vector<InFlight> flights_;
  std::set<std::pair<raft::NodeId, raft::NodeId>> blocked_;
  std::uint64_t seq_ = 0;
  std::uint64_t sent_ = 0, dropped_ = 0, duplicated_ = 0;
};

}  // namespace raftsim
