// ReadIndex bookkeeping on the leader (thesis 6.4). Read requests are batched into rounds: one
// heartbeat round confirms leadership for every request in it. While a round is in flight, new
// requests queue for the next round, so the number of rounds stays bounded by the number of
// heartbeat round trips, not the number of reads.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "raft/types.h"

namespace raft {

struct ReadRequest {
  std::string context;
  NodeId from = kNoNode;  ///< the leader itself for local reads, else the forwarding follower
};

class ReadOnly {
 public:
  struct Round {
    std::string context;  ///< heartbeat context that identifies the round
    Index index = 0;      ///< leader's commit index when the round started
    std::vector<ReadRequest> requests;
    std::set<NodeId> acks;
  };

  void enqueue(ReadRequest r) { queued_.push_back(std::move(r)); }
  bool has_queued() const { return !queued_.empty(); }
  bool in_flight() const { return round_.has_value(); }
  /// Starts a round for everything queued, confirmed against commit index `index`. Returns the
  /// round's heartbeat context.
  const std::string& start_round(Index index, NodeId self);
  /// Records a heartbeat ack carrying `context`; returns true if it belongs to the round.
  bool ack(const std::string& context, NodeId from);
  const std::optional<Round>& round() const { return round_; }
  /// Removes and returns the in-flight round (once a quorum acked it).
  Round finish_round();
  /// Drops everything (leadership lost); returns how many requests were dropped.
  std::size_t reset();
  std::size_t queued() const { return queued_.size(); }

 private:
  std::vector<ReadRequest> queued_;
  std::optional<Round> round_;
  std::uint64_t next_round_ = 1;
};

}  // namespace raft
