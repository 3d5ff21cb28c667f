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

#include "server/commands/command_table.h"

namespace raftd {

class StateMachine;
struct Config;

class Proposer {
 public:
  /// Receives the encoded RESP reply (e.g. "+OK\r\n"). Called exactly once, possibly before
  /// propose() returns. The bytes are only valid during the call.
  using Completion = std::function<void(std::string_view reply)>;

  virtual ~Proposer() = default;
  /// `entry` is an encoded log entry (server/keyspace/entry.h); the proposer owns it from now on.
  /// Every completion must eventually be called, on the event-loop thread - with an error
  /// reply if the entry's fate is unknown or it was lost (leadership change, shutdown): the
  /// session that proposed it stays alive, its later replies held, until then.
  virtual void propose(std::string entry, Completion done) = 0;

  /// A write command from a client of this node: `entry` is what this node's prepare step made
  /// of `args` (arity and syntax already checked). The default proposes the entry; the Raft
  /// host forwards `args` to the leader instead when this node is a follower, so that the
  /// leader's clock stamps the entry and turns relative TTLs into absolute times.
  virtual void submit_write(const CommandSpec& spec, Args args, std::string entry,
                            Completion done) {
    (void)spec;
    (void)args;
    propose(std::move(entry), std::move(done));
  }

  /// Runs a read against applied state and writes its RESP reply.
  using ReadFn = std::function<void(std::string& reply)>;
  /// True when reads must go through submit_read (linearizable reads in a cluster); false when
  /// the dispatcher may run them at once against local state.
  virtual bool reads_need_confirmation() const { return false; }
  /// Runs `run` once local state is known to be at least as new as any write acknowledged
  /// before this call (Raft thesis 6.4), then completes with its reply, or completes with an
  /// error reply when that cannot be established.
  virtual void submit_read(ReadFn run, Completion done);
  /// Whether this node proposes deletes of expired keys (only the leader does).
  virtual bool may_reap() const { return true; }
};

/// The node's operator side, apart from the client path: INFO's Raft section, CHECKPOINT, live
/// option changes, and (with dynamic membership) adding and removing members. The node host
/// implements it; a daemon without one answers these with an error.
class NodeAdmin {
 public:
  virtual ~NodeAdmin() = default;
  /// Appends INFO's "# Raft" section.
  virtual void info(std::string& out) const = 0;
  /// CHECKPOINT: snapshots the state machine now and compacts the log up to it; completes with
  /// +OK once the snapshot is durable, or an error.
  virtual void checkpoint(Proposer::Completion done) = 0;
  /// CONFIG SET changed one of the options the node reads (follower-writes,
  /// read-consistency, request-timeout, snapshot-interval): it takes the new values from
  /// `config`. Requests already waiting keep their deadlines.
  virtual void reconfigure(const Config& config) = 0;
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
