// ReadIndex bookkeeping on the leader (thesis 6.4). Read requests are batched into rounds: one
// heartbeat round confirms leadership for every request in it. Rounds are pipelined: reads that
// arrive while a round is in flight start their own round at once instead of waiting a whole
// round trip for it to finish, up to a bound (then they queue). Rounds are numbered; a
// follower's ack of round n also confirms every earlier round, since it answered a heartbeat
// sent after those rounds recorded their commit index (etcd's readOnly.advance does the same).
#pragma once

#include <cstdint>
#include <deque>
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
  /// At most `max_rounds` rounds in flight (Config::max_read_rounds); more reads queue for the
  /// next free round.
  explicit ReadOnly(std::size_t max_rounds) : max_rounds_(max_rounds) {}

  struct Round {
    std::uint64_t number = 0;
    std::string context;  ///< heartbeat context that identifies the round
    Index index = 0;      ///< leader's commit index when the round started
    std::vector<ReadRequest> requests;
    std::set<NodeId> acks;
  };

  void enqueue(ReadRequest r) { queued_.push_back(std::move(r)); }
  bool has_queued() const { return !queued_.empty(); }
  bool can_start() const { return !queued_.empty() && rounds_.size() < max_rounds_; }
  bool in_flight() const { return !rounds_.empty(); }
  /// Starts a round for everything queued, confirmed against commit index `index`. Returns the
  /// round's heartbeat context.
  const std::string& start_round(Index index, NodeId self);
  /// Records a heartbeat ack carrying `context` for its round and every earlier one; returns
  /// true if it confirmed any round in flight.
  bool ack(const std::string& context, NodeId from);
  /// The newest round in flight (its context rides on heartbeats), or nullptr.
  const Round* newest() const { return rounds_.empty() ? nullptr : &rounds_.back(); }
  /// The oldest round in flight (rounds finish in order), or nullptr.
  const Round* oldest() const { return rounds_.empty() ? nullptr : &rounds_.front(); }
  /// Removes and returns the oldest round (once a quorum acked it).
  Round finish_oldest();
  /// Drops everything (leadership lost); returns how many requests were dropped.
  std::size_t reset();
  std::size_t queued() const { return queued_.size(); }

 private:
  std::size_t max_rounds_;
  std::vector<ReadRequest> queued_;
  std::deque<Round> rounds_;
  std::uint64_t next_round_ = 1;
};

}  // namespace raft
