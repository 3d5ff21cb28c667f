// Private: the state behind raft::Node, shared by the files that implement it (raft.cc: roles,
// elections, step and tick; replication.cc; snapshot.cc; read_index.cc; node.cc: Ready and the
// public API). Structure follows etcd/raft: one step/tick function per role, swapped by
// become_*(); all output is queued and handed to the host through Ready.
#pragma once

#include <algorithm>
#include <cinttypes>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "raft/conf_history.h"
#include "raft/log.h"
#include "raft/progress.h"
#include "raft/raft.h"
#include "raft/read_only.h"

namespace raft {

namespace internal {

// Vote context that marks a leadership-transfer campaign (thesis 3.10): it may bypass leader
// stickiness on the receivers.
inline constexpr const char* kTransferContext = "transfer";

inline bool contains(const std::vector<NodeId>& v, NodeId id) {
  return std::binary_search(v.begin(), v.end(), id);
}

enum class CampaignType { kPreElection, kElection, kTransfer };

}  // namespace internal

using internal::CampaignType;
using internal::contains;
using internal::kTransferContext;

struct Node::Impl {
  Impl(Config c, const Storage& s);

  // ---- role transitions ----
  void reset(Term t);
  void become_follower(Term t, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void campaign(CampaignType type);
  void poll(NodeId from, bool granted);

  // ---- step ----
  void step(const Message& m);
  void step_follower(const Message& m);
  void step_candidate(const Message& m);
  void step_leader(const Message& m);
  void handle_vote_request(const Message& m);
  void handle_append(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot(const Message& m);
  void handle_append_resp(const Message& m, Progress& pr);
  void handle_heartbeat_resp(const Message& m, Progress& pr);
  void handle_snapshot_resp(const Message& m, Progress& pr);

  // ---- tick ----
  void tick_election();
  void tick_heartbeat();
  bool promotable() const;
  bool past_election_timeout() const { return election_elapsed >= randomized_timeout; }
  void reset_randomized_timeout();

  // ---- leader replication ----
  bool send_append(NodeId to, Progress& pr, bool force = false);
  void send_append_loop(NodeId to);
  void bcast_append();
  void bcast_heartbeat();
  void send_heartbeat(NodeId to, const Progress& pr, const std::string& ctx);
  void start_snapshot(NodeId to, Progress& pr);
  void send_snapshot_chunks(NodeId to, Progress& pr);
  bool maybe_commit();
  void on_commit_advanced();
  void append_entry(Entry e);
  bool quorum_active() const;
  void abort_transfer(const char* why);
  void send_timeout_now(NodeId to);

  // ---- membership ----
  bool is_voter(NodeId id) const { return contains(confs.current().voters, id); }
  bool is_member(NodeId id) const { return is_voter(id) || contains(confs.current().learners, id); }
  void forget_removed();
  void apply_conf_entries(const std::vector<Entry>& ents, Index from);
  void on_conf_changed();

  // ---- reads ----
  void maybe_start_read_round();
  void maybe_finish_read_round();
  bool can_start_read_round() const;
  bool committed_in_current_term() const { return log.term_or_zero(log.committed()) == term; }

  // ---- snapshots (follower) ----
  void finish_incoming_snapshot(const SnapshotMeta& meta, NodeId from);
  /// ready(): hands out the received chunk and answers the leader (only about data that is in
  /// this or an earlier Ready, so an ack never claims more than the host will have persisted).
  void hand_out_snapshot_chunk(Ready& rd);
  /// advance(): the chunk in `rd` is durable; a complete, verified snapshot is restored.
  void snapshot_chunk_persisted(const Ready& rd);
  void reject_incoming_snapshot();

  // ---- output ----
  void send(Message m);
  void send_after_persist(Message m);
  void flush();
  bool has_ready() const;
  Ready ready();
  void advance(const Ready& rd);
  Status status() const;
  HardState hard_state() const { return HardState{term, vote, log.committed()}; }

  void logf(LogLevel level, const char* fmt, ...) const __attribute__((format(printf, 3, 4)));
  [[noreturn]] void fail(const std::string& what) const;

  Config cfg;
  const Storage& storage;
  RaftLog log;
  ConfHistory confs;

  Term term = 0;
  NodeId vote = kNoNode;
  NodeId lead = kNoNode;
  Role role = Role::kFollower;

  int election_elapsed = 0;
  int heartbeat_elapsed = 0;
  int randomized_timeout = 0;

  // Leader: progress of every member, self included while it is a member.
  std::map<NodeId, Progress> prs;
  // Candidate: votes received in the current campaign.
  std::map<NodeId, bool> votes;
  CampaignType campaign_type = CampaignType::kElection;
  NodeId lead_transferee = kNoNode;
  // Leader: entries or commit changed since the last broadcast; sent at the next flush so that
  // everything proposed in one event-loop turn leaves as one Append per follower.
  bool bcast_pending = false;

  ReadOnly read_only;

  // Incoming InstallSnapshot transfer (follower).
  struct Incoming {
    bool active = false;
    SnapshotMeta meta;
    NodeId from = kNoNode;
    Term term = 0;
    std::uint64_t expected = 0;  ///< next offset wanted (everything before it was received)
    std::uint64_t total = 0;
    bool complete = false;  ///< the last chunk was received
    std::uint64_t gen = 0;  ///< transfer number: chunks of older transfers are stale
    bool ack_due = false;   ///< answer the leader in the next Ready
    bool gap = false;       ///< ... with a rejection: a chunk beyond `expected` arrived
  } incoming;
  std::uint64_t next_incoming_gen = 1;
  std::optional<SnapshotChunk> pending_chunk;  ///< received, not yet handed out
  // Chunks handed out in Readys not yet advanced, oldest first (Readys advance in order).
  struct HandedChunk {
    std::uint64_t gen = 0;
    bool done = false;
    bool rejected = false;  ///< snapshot_rejected() named it
  };
  std::deque<HandedChunk> handed_chunks;

  // Output queues.
  std::vector<Message> msgs;
  std::vector<Message> msgs_after_persist;
  std::vector<ReadState> read_states;

  // Ready bookkeeping.
  SoftState prev_soft;
  HardState prev_hard;       ///< last hard state handed out (or loaded)
  HardState persisted_hard;  ///< last hard state the host confirmed durable

  using StepFn = void (Impl::*)(const Message&);
  using TickFn = void (Impl::*)();
  StepFn step_fn = &Impl::step_follower;
  TickFn tick_fn = &Impl::tick_election;
};

}  // namespace raft
