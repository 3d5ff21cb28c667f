// Where a write goes once it is a log entry. The session hands every write to a Proposer and
// gets the reply later through the completion; replies still leave in command order because the
// session queues them (see Session).
//
// Single node: LocalProposer applies the entry at once through the StateMachine.
// Raft (later): the node host implements the same interface; propose() appends to the leader's
// log and the completion runs when the entry has been committed and applied (or with an error
// such as "-CLUSTERDOWN no leader" when the outcome is known to have failed).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace raftd {

class StateMachine;

class Proposer {
 public:
  /// Receives the encoded RESP reply (e.g. "+OK\r\n"). Called exactly once, possibly before
  /// propose() returns. The bytes are only valid during the call.
  using Completion = std::function<void(std::string_view reply)>;

  virtual ~Proposer() = default;
  /// `entry` is an encoded log entry (server/kv/entry.h); the proposer owns it from now on.
  /// Every completion must eventually be called, on the event-loop thread - with an error
  /// reply if the entry's fate is unknown or it was lost (leadership change, shutdown): the
  /// session that proposed it stays alive, its later replies held, until then.
  virtual void propose(std::string entry, Completion done) = 0;
};

/// One node, no replication: every entry is committed the moment it is proposed, so it is
/// applied at once, in proposal order, with consecutive log indexes from 1.
class LocalProposer final : public Proposer {
 public:
  explicit LocalProposer(StateMachine& state_machine) : state_machine_(state_machine) {}

  void propose(std::string entry, Completion done) override;
  std::uint64_t last_index() const { return last_index_; }

 private:
  StateMachine& state_machine_;
  std::uint64_t last_index_ = 0;
  std::string reply_;  // reused: apply writes the reply here, the completion copies it out
};

}  // namespace raftd
