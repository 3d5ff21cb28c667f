// Every client request the node host has accepted and not answered yet, with its deadline:
//   writes this node proposed, by log index, answered when that index is applied;
//   reads, batched into one ReadIndex round per loop turn (thesis 6.4), run once confirmed and
//   applied, asked again of a new leader when the leader changes;
//   writes forwarded to the leader, by request id, answered by its reply.
// Deadlines are milliseconds on a steady clock (a wall-clock step never times out or keeps
// alive a request); the host passes the time, so the tracker never reads a clock and its unit
// tests never sleep.
//
// A completion may re-enter the host: the session it answers runs its next parked command at
// once, which can add a request to the very container being walked. So every request leaves
// its container before its completion runs, and new requests land, untouched, in the emptied
// one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"
#include "server/node/proposer.h"

namespace raftd {

class RequestTracker {
 public:
  using Completion = Proposer::Completion;
  using ReadFn = Proposer::ReadFn;

  /// `incarnation` (random per process) is where request ids and read contexts start: a reply
  /// or ReadIndex answer queued for this node's previous incarnation must never match a request
  /// of this one (a restarted follower would hand it to the wrong client).
  explicit RequestTracker(std::uint64_t incarnation);

  // Writes this node proposed as leader.
  void add_write(raft::Index index, raft::Term term, Completion done, std::int64_t deadline);
  /// Entry `index` of `term` was applied and produced `reply`. The write proposed at `index`
  /// gets it if its term matches; writes at lower indexes, or at `index` in another term, were
  /// cut from the log and can never be applied (log matching: an index holds one entry per
  /// term, and nothing is re-proposed).
  void write_applied(raft::Index index, raft::Term term, std::string_view reply);
  /// The log up to `index` was replaced by a snapshot from the leader: the outcome of the
  /// writes proposed there is unknown (their replies are gone with the log that held them).
  void writes_replaced(raft::Index index);

  // Linearizable reads.
  void add_read(ReadFn run, Completion done, std::int64_t deadline);
  /// Gathers the reads that need a round into one, returning its context for the core's
  /// read_index, or nothing when no read waits. Reads waiting since a leader change go first.
  /// Without a known leader the reads of this turn fail at once; those already under way
  /// before a leader change wait for the next leader until their deadline.
  std::optional<std::uint64_t> open_read_round(bool leader_known);
  /// The round `ctx` was confirmed at read index `index`: its reads run once that is applied.
  void read_round_confirmed(std::uint64_t ctx, raft::Index index);
  /// Runs and answers the confirmed reads whose index is applied. `scratch` is reused.
  void run_confirmed_reads(raft::Index applied, std::string& scratch);
  /// The leader changed: rounds not confirmed yet never will be (the core dropped them with
  /// the term, or they went to a node that no longer leads). A fresh read index from the new
  /// leader is at least as new as any write acknowledged before the reads arrived, so asking
  /// again keeps them linearizable. Returns true if some read now waits for a new round.
  bool leader_changed();

  // Writes forwarded to the leader.
  /// The id to send a forwarded write under; add_forward() it once sent.
  std::uint64_t next_forward_id() { return next_forward_id_++; }
  void add_forward(std::uint64_t id, raft::NodeId to, Completion done, std::int64_t deadline);
  /// The leader's reply to forwarded write `id` (ignored if it already timed out).
  void forward_replied(std::uint64_t id, std::string_view reply);
  /// The connection to `node` was lost: writes forwarded to it get `reply`.
  void forwards_lost(raft::NodeId node, std::string_view reply);

  /// Answers every request whose deadline is `now` or earlier with a -TIMEOUT naming what it
  /// waited for.
  void expire(std::int64_t now);
  /// Answers everything (shutdown): `unknown` for writes whose outcome cannot be known,
  /// `not_done` for reads.
  void fail_all(std::string_view unknown, std::string_view not_done);

  std::size_t pending_writes() const { return writes_.size(); }
  std::size_t pending_forwards() const { return forwards_.size(); }
  std::size_t pending_reads() const;
  std::uint64_t read_rounds() const { return read_rounds_; }

 private:
  struct Write {
    raft::Term term = 0;
    Completion done;
    std::int64_t deadline = 0;
  };
  struct Read {
    ReadFn run;
    Completion done;
    std::int64_t deadline = 0;
  };
  struct Round {
    std::vector<Read> reads;
    std::int64_t deadline = 0;
  };
  struct Forward {
    raft::NodeId to = raft::kNoNode;
    Completion done;
    std::int64_t deadline = 0;
  };

  // Each container is keyed by a number handed out in arrival order (or is a vector in
  // arrival order) and every deadline is arrival time plus the same timeout, so deadlines only
  // grow along a container: expire() stops at the first one not due. (A scan of every request
  // per tick took the loop's whole time with a million writes in flight.)
  std::map<raft::Index, Write> writes_;         ///< by log index
  std::vector<Read> unsent_reads_;              ///< for this turn's round
  std::vector<Read> reads_awaiting_leader_;     ///< unconfirmed at a leader change
  std::map<std::uint64_t, Round> rounds_;       ///< by read context, not confirmed yet
  std::multimap<raft::Index, Read> confirmed_;  ///< by read index
  std::map<std::uint64_t, Forward> forwards_;   ///< by request id
  std::uint64_t next_read_ctx_;
  std::uint64_t next_forward_id_;
  std::uint64_t read_rounds_ = 0;  ///< ReadIndex rounds asked for (INFO)
};

}  // namespace raftd
