// The Raft state machine behind raft::Node. Structure follows etcd/raft: one step/tick function
// per role, swapped by become_*(); all output is queued and handed to the host through Ready.
#include "raft/raft.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "raft/conf_history.h"
#include "raft/log.h"
#include "raft/progress.h"
#include "raft/quorum.h"
#include "raft/read_only.h"

namespace raft {

namespace {

// Vote context that marks a leadership-transfer campaign (thesis 3.10): it may bypass leader
// stickiness on the receivers.
constexpr const char* kTransferContext = "transfer";

bool contains(const std::vector<NodeId>& v, NodeId id) {
  return std::binary_search(v.begin(), v.end(), id);
}

enum class CampaignType { kPreElection, kElection, kTransfer };

}  // namespace

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
    std::uint64_t expected = 0;  ///< next offset wanted
    std::uint64_t total = 0;
    bool complete = false;  ///< the last chunk was received
  } incoming;
  std::optional<SnapshotChunk> pending_chunk;  ///< received, not yet handed out

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

// ------------------------------------------------------------------------------------------------
// construction

Node::Impl::Impl(Config c, const Storage& s)
    : cfg(std::move(c)), storage(s), log(s, [this](const std::string& w) { fail(w); }) {
  if (cfg.id == kNoNode) fail("config: id must not be 0");
  if (!cfg.rand) fail("config: rand must be set");
  if (cfg.heartbeat_ticks <= 0) fail("config: heartbeat_ticks must be > 0");
  if (cfg.election_ticks <= cfg.heartbeat_ticks) {
    fail("config: election_ticks must be greater than heartbeat_ticks");
  }
  if (cfg.max_inflight_msgs <= 0) fail("config: max_inflight_msgs must be > 0");
  if (cfg.max_snapshot_chunk == 0) fail("config: max_snapshot_chunk must be > 0");
  if (cfg.max_inflight_snapshot_chunks <= 0) cfg.max_inflight_snapshot_chunks = 1;

  const InitialState st = storage.initial_state();
  HardState hs = st.hard_state;
  if (hs.commit > log.last_index()) {
    fail("stored commit " + std::to_string(hs.commit) + " is beyond last index " +
         std::to_string(log.last_index()));
  }
  log.commit_to(hs.commit);
  term = hs.term;
  vote = hs.vote;

  // Rebuild the membership history by replaying the log's conf-change entries over a base that
  // holds no uncommitted change (the base is what a truncation can fall back to). The
  // snapshot's membership is exactly that; without a snapshot, storage's membership is the
  // founding one or one the host recorded on apply (storage.h). Entries written by the core
  // carry the membership they establish; plain (delta) entries are replayed, which is exact
  // from such a base because each single-server change sets one member's status.
  const SnapshotMeta snap = storage.snapshot_meta();
  confs.reset(log.first_index() - 1, snap.index > 0 ? snap.conf : st.conf);
  bool first_change = true;
  for (Index lo = log.first_index(); lo <= log.last_index();) {
    std::vector<Entry> batch;
    if (log.entries(lo, log.last_index() + 1, 16 << 20, batch) != StorageError::kOk ||
        batch.empty()) {
      fail("cannot read the log at start-up from index " + std::to_string(lo));
    }
    for (const Entry& e : batch) {
      if (!first_change || e.type != EntryType::kConfChange) continue;
      first_change = false;
      // The oldest change in the log records the membership before it: the exact base,
      // whatever storage reports (even one that includes a later, uncommitted change).
      if (std::optional<ConfState> prev = decode_previous_conf_state(e.data)) {
        confs.reset(log.first_index() - 1, std::move(*prev));
      }
    }
    apply_conf_entries(batch, lo);
    lo = batch.back().index + 1;
  }
  confs.compact_to(log.committed());

  become_follower(term, kNoNode);
  prev_hard = hard_state();
  persisted_hard = prev_hard;
  prev_soft = SoftState{kNoNode, Role::kFollower};
  logf(LogLevel::kInfo,
       "started: commit=%" PRIu64 " applied=%" PRIu64 " last=%" PRIu64 " voters=%zu learners=%zu",
       log.committed(), log.applied(), log.last_index(), confs.current().voters.size(),
       confs.current().learners.size());
}

void Node::Impl::logf(LogLevel level, const char* fmt, ...) const {
  if (!cfg.log) return;
  char buf[512];
  int n = std::snprintf(buf, sizeof buf, "[%" PRIu64 " t%" PRIu64 " %s] ", cfg.id, term,
                        to_string(role));
  if (n < 0) n = 0;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), fmt, ap);
  va_end(ap);
  cfg.log(level, buf);
}

void Node::Impl::fail(const std::string& what) const {
  const std::string line =
      "raft node " + std::to_string(cfg.id) + " term " + std::to_string(term) + ": FATAL: " + what;
  if (cfg.log) cfg.log(LogLevel::kError, line);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::abort();
}

// ------------------------------------------------------------------------------------------------
// role transitions

void Node::Impl::reset_randomized_timeout() {
  // Thesis 3.4: a random timeout in [T, 2T) makes split votes rare.
  const auto n = static_cast<std::uint64_t>(cfg.election_ticks);
  randomized_timeout = cfg.election_ticks + static_cast<int>(cfg.rand(n) % n);
}

void Node::Impl::reset(Term t) {
  if (term != t) {
    term = t;
    vote = kNoNode;
  }
  lead = kNoNode;
  election_elapsed = 0;
  heartbeat_elapsed = 0;
  reset_randomized_timeout();
  if (lead_transferee != kNoNode) lead_transferee = kNoNode;
  votes.clear();
  prs.clear();
  bcast_pending = false;
  if (const std::size_t dropped = read_only.reset(); dropped > 0) {
    logf(LogLevel::kInfo, "dropping %zu pending read requests", dropped);
  }
}

void Node::Impl::become_follower(Term t, NodeId leader) {
  reset(t);
  step_fn = &Impl::step_follower;
  tick_fn = &Impl::tick_election;
  lead = leader;
  role = Role::kFollower;
  logf(LogLevel::kInfo, "became follower at term %" PRIu64 " (leader %" PRIu64 ")", term, lead);
}

void Node::Impl::become_pre_candidate() {
  if (role == Role::kLeader) fail("invalid transition leader -> pre-candidate");
  // Pre-vote (thesis 9.6) changes neither term nor vote, so a partitioned node that keeps
  // timing out cannot inflate its term and disrupt the cluster when it returns.
  step_fn = &Impl::step_candidate;
  tick_fn = &Impl::tick_election;
  votes.clear();
  lead = kNoNode;
  role = Role::kPreCandidate;
  logf(LogLevel::kInfo, "became pre-candidate at term %" PRIu64, term);
}

void Node::Impl::become_candidate() {
  if (role == Role::kLeader) fail("invalid transition leader -> candidate");
  reset(term + 1);
  step_fn = &Impl::step_candidate;
  tick_fn = &Impl::tick_election;
  vote = cfg.id;
  role = Role::kCandidate;
  logf(LogLevel::kInfo, "became candidate at term %" PRIu64, term);
}

void Node::Impl::become_leader() {
  if (role == Role::kFollower) fail("invalid transition follower -> leader");
  reset(term);
  step_fn = &Impl::step_leader;
  tick_fn = &Impl::tick_heartbeat;
  lead = cfg.id;
  role = Role::kLeader;

  const ConfState& conf = confs.current();
  const Index last = log.last_index();
  auto add = [&](NodeId id, bool learner) {
    Progress pr(static_cast<std::size_t>(cfg.max_inflight_msgs));
    pr.next = last + 1;
    pr.learner = learner;
    prs.emplace(id, std::move(pr));
  };
  for (NodeId id : conf.voters) add(id, false);
  for (NodeId id : conf.learners) add(id, true);
  if (auto it = prs.find(cfg.id); it != prs.end()) {
    // The leader's own match only counts what its host has made durable: entries still in
    // the unstable tail count once advance() confirms them.
    it->second.match = log.persisted_index();
    it->second.become_replicate();
    it->second.recent_active = true;
  }
  logf(LogLevel::kInfo, "became leader at term %" PRIu64 " (last index %" PRIu64 ")", term, last);
  // Thesis 6.4 / 3.6.2: a no-op entry of the new term lets the leader learn the commit index
  // (entries of earlier terms are only committed indirectly, figure 8).
  append_entry(Entry{term, last + 1, EntryType::kNormal, {}});
}

bool Node::Impl::promotable() const {
  return is_voter(cfg.id);
}

void Node::Impl::campaign(CampaignType type) {
  if (!promotable()) {
    logf(LogLevel::kInfo, "not a voter: not campaigning");
    return;
  }
  Term vote_term = 0;
  MessageType mt = MessageType::kVote;
  if (type == CampaignType::kPreElection) {
    become_pre_candidate();
    vote_term = term + 1;
    mt = MessageType::kPreVote;
  } else {
    become_candidate();
    vote_term = term;
  }
  campaign_type = type;
  if (type == CampaignType::kPreElection) {
    // A pre-vote needs nothing durable: count our own at once.
    poll(cfg.id, true);
    if (role != Role::kPreCandidate) return;  // single voter: already moved on
  }
  // For a real election our own vote is counted in advance(), once the host has persisted the
  // term and vote (thesis 3.8): a vote that could be lost in a crash must not elect us.
  const Index last = log.last_index();
  const Term last_term = log.last_term();
  for (NodeId id : confs.current().voters) {
    if (id == cfg.id) continue;
    Message m;
    m.type = mt;
    m.to = id;
    m.term = vote_term;
    m.index = last;
    m.log_term = last_term;
    if (type == CampaignType::kTransfer) m.context = kTransferContext;
    send(std::move(m));
  }
  logf(LogLevel::kInfo, "%s campaign for term %" PRIu64 " (last %" PRIu64 "/%" PRIu64 ")",
       type == CampaignType::kPreElection ? "pre-vote" : "vote", vote_term, last, last_term);
}

void Node::Impl::poll(NodeId from, bool granted) {
  if (votes.count(from) != 0) return;
  votes[from] = granted;
  switch (quorum::vote_result(confs.current().voters, votes)) {
    case quorum::VoteResult::kPending:
      return;
    case quorum::VoteResult::kWon:
      if (role == Role::kPreCandidate) {
        campaign(CampaignType::kElection);
      } else {
        become_leader();
      }
      return;
    case quorum::VoteResult::kLost:
      logf(LogLevel::kInfo, "lost the %s", role == Role::kPreCandidate ? "pre-vote" : "election");
      become_follower(term, kNoNode);
      return;
  }
}

// ------------------------------------------------------------------------------------------------
// step

void Node::Impl::step(const Message& m) {
  if (m.to != cfg.id || m.from == kNoNode || m.from == cfg.id || m.term == 0) {
    logf(LogLevel::kWarn, "ignoring malformed %s from %" PRIu64 " to %" PRIu64, to_string(m.type),
         m.from, m.to);
    return;
  }
  if (m.term > term) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      // Leader stickiness (thesis 4.2.3): a server that heard from a leader within the minimum
      // election timeout does not let a (possibly removed or partitioned) server depose it.
      const bool force = m.context == kTransferContext;
      const bool in_lease =
          cfg.check_quorum && lead != kNoNode && election_elapsed < cfg.election_ticks;
      if (!force && in_lease) {
        logf(LogLevel::kInfo,
             "ignoring %s from %" PRIu64 " for term %" PRIu64 ": leader %" PRIu64
             " is still within its lease",
             to_string(m.type), m.from, m.term, lead);
        return;
      }
    }
    if (m.type == MessageType::kPreVote) {
      // A pre-vote never changes our term.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // Granted pre-votes carry the term we would campaign in; we move there only by winning.
    } else {
      logf(LogLevel::kInfo, "received %s with higher term %" PRIu64 " from %" PRIu64,
           to_string(m.type), m.term, m.from);
      const bool from_leader = m.type == MessageType::kAppend ||
                               m.type == MessageType::kHeartbeat ||
                               m.type == MessageType::kSnapshot;
      const int elapsed = election_elapsed;
      become_follower(m.term, from_leader ? m.from : kNoNode);
      // Figure 3.1: the election timer restarts on hearing the leader or granting a vote, not
      // on merely seeing a higher term. Otherwise a candidate whose log is too stale to win
      // keeps resetting the timers of the servers that could win (handle_vote_request resets it
      // when the vote is granted).
      if (!from_leader) election_elapsed = elapsed;
    }
  } else if (m.term < term) {
    if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat) {
      // Figure 2, AppendEntries rule 1: reply false if term < currentTerm. What matters is
      // our term: the stale leader learns it and steps down (with pre-vote and leases it might
      // otherwise never hear of it). Index 0 and no reject flag keep the answer inert should it
      // reach a leader of our own term.
      Message r;
      r.type = MessageType::kAppendResp;
      r.to = m.from;
      r.term = term;
      send(std::move(r));
    } else if (m.type == MessageType::kPreVote || m.type == MessageType::kVote) {
      // Figure 3.1, RequestVote: reply false with currentTerm, for the candidate to update
      // itself; otherwise a candidate that only we could elect never learns the term it needs.
      Message r;
      r.type = m.type == MessageType::kVote ? MessageType::kVoteResp : MessageType::kPreVoteResp;
      r.to = m.from;
      r.term = term;
      r.reject = true;
      send_after_persist(std::move(r));
    } else {
      logf(LogLevel::kDebug, "ignoring %s with stale term %" PRIu64 " from %" PRIu64,
           to_string(m.type), m.term, m.from);
    }
    return;
  }

  switch (m.type) {
    case MessageType::kVote:
    case MessageType::kPreVote:
      handle_vote_request(m);
      return;
    default:
      (this->*step_fn)(m);
  }
}

void Node::Impl::handle_vote_request(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  // Figure 2, RequestVote rule 2: grant if votedFor is null or candidateId, and the candidate's
  // log is at least as up-to-date as ours (thesis 3.6.1). A pre-vote for a future term is
  // granted without regard to our vote in the current term.
  const bool can_vote =
      vote == m.from || (vote == kNoNode && lead == kNoNode) || (pre && m.term > term);
  Message r;
  r.type = pre ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  r.to = m.from;
  if (can_vote && log.is_up_to_date(m.index, m.log_term)) {
    r.term = m.term;
    logf(LogLevel::kInfo, "granting %s to %" PRIu64 " for term %" PRIu64, to_string(m.type), m.from,
         m.term);
    if (!pre) {
      election_elapsed = 0;
      vote = m.from;
    }
  } else {
    r.term = term;
    r.reject = true;
    logf(LogLevel::kInfo,
         "rejecting %s from %" PRIu64 " for term %" PRIu64 " (vote %" PRIu64 ", last %" PRIu64
         "/%" PRIu64 ")",
         to_string(m.type), m.from, m.term, vote, log.last_index(), log.last_term());
  }
  // Thesis 3.8: the vote must be durable before the candidate can count it.
  send_after_persist(std::move(r));
}

void Node::Impl::step_follower(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
      election_elapsed = 0;
      lead = m.from;
      handle_append(m);
      return;
    case MessageType::kHeartbeat:
      election_elapsed = 0;
      lead = m.from;
      handle_heartbeat(m);
      return;
    case MessageType::kSnapshot:
      election_elapsed = 0;
      lead = m.from;
      handle_snapshot(m);
      return;
    case MessageType::kTimeoutNow:
      logf(LogLevel::kInfo, "received TimeoutNow from %" PRIu64 ": campaigning now", m.from);
      // Thesis 3.10: the target starts an election at once, skipping pre-vote; its vote
      // requests carry the transfer context so that leases do not stop them.
      campaign(CampaignType::kTransfer);
      return;
    case MessageType::kReadIndexResp:
      read_states.push_back(ReadState{m.index, m.context});
      return;
    default:
      logf(LogLevel::kDebug, "follower ignoring %s from %" PRIu64, to_string(m.type), m.from);
  }
}

void Node::Impl::step_candidate(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshot:
      // Thesis 3.4: a candidate that hears from a leader of its term returns to follower.
      become_follower(term, m.from);
      step_follower(m);
      return;
    case MessageType::kPreVoteResp:
      if (role == Role::kPreCandidate) poll(m.from, !m.reject);
      return;
    case MessageType::kVoteResp:
      if (role == Role::kCandidate) poll(m.from, !m.reject);
      return;
    default:
      logf(LogLevel::kDebug, "candidate ignoring %s from %" PRIu64, to_string(m.type), m.from);
  }
}

void Node::Impl::step_leader(const Message& m) {
  if (m.type == MessageType::kReadIndex) {
    read_only.enqueue(ReadRequest{m.context, m.from});
    return;
  }
  auto it = prs.find(m.from);
  if (it == prs.end()) {
    logf(LogLevel::kDebug, "leader ignoring %s from non-member %" PRIu64, to_string(m.type),
         m.from);
    return;
  }
  Progress& pr = it->second;
  switch (m.type) {
    case MessageType::kAppendResp:
      pr.recent_active = true;
      handle_append_resp(m, pr);
      return;
    case MessageType::kHeartbeatResp:
      pr.recent_active = true;
      handle_heartbeat_resp(m, pr);
      return;
    case MessageType::kSnapshotResp:
      pr.recent_active = true;
      handle_snapshot_resp(m, pr);
      return;
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshot:
      // Election safety (thesis 3.6) makes this impossible; say so loudly but survive a bad
      // peer rather than crash the leader.
      logf(LogLevel::kError, "%s from %" PRIu64 " claims leadership of our term", to_string(m.type),
           m.from);
      return;
    default:
      logf(LogLevel::kDebug, "leader ignoring %s from %" PRIu64, to_string(m.type), m.from);
  }
}

// ------------------------------------------------------------------------------------------------
// follower: replication

void Node::Impl::handle_append(const Message& m) {
  Message r;
  r.type = MessageType::kAppendResp;
  r.to = m.from;
  r.term = term;
  if (m.index < log.committed()) {
    // Everything up to our commit index matches the leader (log matching): say how far we are.
    r.index = log.committed();
    send_after_persist(std::move(r));
    return;
  }
  // Figure 2, AppendEntries rule 2: reply false if the log doesn't contain an entry at
  // prevLogIndex whose term matches prevLogTerm.
  const RaftLog::AppendResult res = log.maybe_append(m.index, m.log_term, m.commit, m.entries);
  if (res.ok) {
    if (res.truncated_at != 0) {
      // A membership change whose entry is truncated stops being in effect (thesis 4.1).
      confs.truncate_from(res.truncated_at);
      apply_conf_entries(m.entries, res.truncated_at);
      on_conf_changed();
    }
    r.index = res.last_new;
    // Thesis 3.8: acknowledge only once the entries are durable.
    send_after_persist(std::move(r));
    return;
  }
  // Fast backtracking (thesis 5.3 optimisation, as in etcd): point the leader at the last
  // index whose term is <= the term it probed with, so a whole term of conflicting entries is
  // skipped per round trip instead of one entry.
  const Index hint = std::min(m.index, log.last_index());
  const auto [hint_index, hint_term] = log.find_conflict_by_term(hint, m.log_term);
  logf(LogLevel::kDebug,
       "rejecting Append prev %" PRIu64 "/%" PRIu64 " from %" PRIu64 ": hint %" PRIu64 "/%" PRIu64,
       m.index, m.log_term, m.from, hint_index, hint_term);
  r.index = m.index;
  r.reject = true;
  r.reject_hint = hint_index;
  r.hint_term = hint_term;
  send_after_persist(std::move(r));
}

void Node::Impl::handle_heartbeat(const Message& m) {
  // The leader sends min(match, commit), so the entry is in our log and matches the leader's.
  Index c = m.commit;
  if (c > log.last_index()) {
    logf(LogLevel::kWarn, "heartbeat commit %" PRIu64 " beyond last index %" PRIu64, c,
         log.last_index());
    c = log.last_index();
  }
  log.commit_to(c);
  Message r;
  r.type = MessageType::kHeartbeatResp;
  r.to = m.from;
  r.term = term;
  r.context = m.context;
  send(std::move(r));
}

void Node::Impl::handle_snapshot(const Message& m) {
  const SnapshotMeta& meta = m.snapshot;
  auto respond = [&](std::uint64_t offset, bool reject) {
    Message r;
    r.type = MessageType::kSnapshotResp;
    r.to = m.from;
    r.term = term;
    r.index = meta.index;
    r.snapshot_offset = offset;
    r.reject = reject;
    send_after_persist(std::move(r));
  };
  if (meta.index <= log.committed()) {
    // Nothing to install: tell the leader how far we are so it resumes with entries.
    Message r;
    r.type = MessageType::kAppendResp;
    r.to = m.from;
    r.term = term;
    r.index = log.committed();
    send_after_persist(std::move(r));
    return;
  }
  const bool same =
      incoming.active && incoming.meta == meta && incoming.from == m.from && incoming.term == term;
  if (!same) {
    if (m.snapshot_offset != 0) {
      // A chunk of a transfer we do not know (we restarted, or a new leader): start over.
      respond(0, true);
      return;
    }
    incoming = Incoming{true, meta, m.from, term, 0, m.snapshot_size, false};
    pending_chunk.reset();
    logf(LogLevel::kInfo,
         "receiving snapshot %" PRIu64 "/%" PRIu64 " (%" PRIu64 " bytes) from %" PRIu64, meta.index,
         meta.term, m.snapshot_size, m.from);
  }
  if (incoming.complete || m.snapshot_offset < incoming.expected) {
    respond(incoming.expected, false);  // duplicate: repeat where we are
    return;
  }
  if (m.snapshot_offset > incoming.expected) {
    respond(incoming.expected, true);  // a gap: ask for the offset we want
    return;
  }
  if (!pending_chunk) {
    pending_chunk = SnapshotChunk{meta, incoming.expected, incoming.total, {}, false};
  }
  pending_chunk->data.append(m.snapshot_data);
  incoming.expected += m.snapshot_data.size();
  if (m.snapshot_done) {
    pending_chunk->done = true;
    incoming.complete = true;
  }
}

void Node::Impl::finish_incoming_snapshot(const SnapshotMeta& meta, NodeId from) {
  auto ack_append = [&](Index index) {
    Message r;
    r.type = MessageType::kAppendResp;
    r.to = from;
    r.term = term;
    r.index = index;
    send_after_persist(std::move(r));
  };
  if (meta.index <= log.committed()) {
    logf(LogLevel::kInfo, "received snapshot %" PRIu64 " is not newer than commit %" PRIu64,
         meta.index, log.committed());
    ack_append(log.committed());
    return;
  }
  if (log.match_term(meta.index, meta.term)) {
    // Our log already holds the snapshot's last entry: the entries are as good as the
    // snapshot, so just commit them (etcd does the same).
    log.commit_to(meta.index);
    ack_append(log.committed());
    return;
  }
  logf(LogLevel::kInfo, "restoring from snapshot %" PRIu64 "/%" PRIu64, meta.index, meta.term);
  log.restore(meta);
  confs.reset(meta.index, meta.conf);
  on_conf_changed();
  // The ack goes out from advance() once the host has installed it.
}

// ------------------------------------------------------------------------------------------------
// leader: replication

void Node::Impl::append_entry(Entry e) {
  const Index last = log.append({e});
  if (e.type == EntryType::kConfChange) {
    apply_conf_entries({e}, e.index);
    on_conf_changed();
  }
  (void)last;
  bcast_pending = true;
}

bool Node::Impl::send_append(NodeId to, Progress& pr, bool force) {
  if (pr.state == ProgressState::kSnapshot || (!force && pr.is_paused())) return false;
  const Index prev = pr.next - 1;
  Term prev_term = 0;
  std::vector<Entry> ents;
  StorageError err = log.term(prev, prev_term);
  if (err == StorageError::kOk && pr.next <= log.last_index()) {
    err = log.entries(pr.next, log.last_index() + 1, cfg.max_msg_bytes, ents);
  }
  if (err == StorageError::kCompacted) {
    start_snapshot(to, pr);
    return false;
  }
  if (err != StorageError::kOk) {
    fail("progress of " + std::to_string(to) + " points beyond the log (next " +
         std::to_string(pr.next) + ", last " + std::to_string(log.last_index()) + ")");
  }
  // Probes always go out (they find the match point); otherwise an empty Append is only worth
  // sending to carry a commit index the follower has not seen.
  const Index commit_reach = std::min(log.committed(), prev + ents.size());
  if (!force && ents.empty() && pr.state != ProgressState::kProbe &&
      pr.sent_commit >= commit_reach) {
    return false;
  }
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.term = term;
  m.index = prev;
  m.log_term = prev_term;
  m.commit = log.committed();
  const std::size_t n = ents.size();
  const Index last = prev + n;
  m.entries = std::move(ents);
  pr.sent_entries(last, n);
  pr.sent_commit = std::max(pr.sent_commit, commit_reach);
  send(std::move(m));
  return true;
}

void Node::Impl::send_append_loop(NodeId to) {
  auto it = prs.find(to);
  if (it == prs.end()) return;
  // Pipelining (thesis 10.2.1): in replicate state keep sending batches until the follower is
  // caught up or its inflight window is full; in probe state send() pauses after one.
  for (int guard = 0; guard < cfg.max_inflight_msgs + 2; ++guard) {
    if (!send_append(to, it->second)) return;
  }
}

void Node::Impl::bcast_append() {
  for (auto& [id, pr] : prs) {
    if (id != cfg.id) send_append_loop(id);
  }
}

void Node::Impl::send_heartbeat(NodeId to, const Progress& pr, const std::string& ctx) {
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  m.term = term;
  // The follower may not have all our committed entries: only commit what it provably has.
  m.commit = std::min(pr.match, log.committed());
  m.context = ctx;
  send(std::move(m));
}

void Node::Impl::bcast_heartbeat() {
  const std::string ctx = read_only.round() ? read_only.round()->context : std::string();
  for (const auto& [id, pr] : prs) {
    if (id != cfg.id) send_heartbeat(id, pr, ctx);
  }
}

void Node::Impl::start_snapshot(NodeId to, Progress& pr) {
  const SnapshotMeta meta = storage.snapshot_meta();
  if (meta.index == 0)
    fail("follower " + std::to_string(to) +
         " needs compacted entries but "
         "storage holds no snapshot");
  pr.become_snapshot(meta.index);
  pr.snap.meta = meta;
  logf(LogLevel::kInfo,
       "sending snapshot %" PRIu64 "/%" PRIu64 " to %" PRIu64 " (its next %" PRIu64
       " is compacted)",
       meta.index, meta.term, to, pr.match + 1);
  send_snapshot_chunks(to, pr);
}

void Node::Impl::send_snapshot_chunks(NodeId to, Progress& pr) {
  if (pr.state != ProgressState::kSnapshot) return;
  const SnapshotMeta cur = storage.snapshot_meta();
  if (!(cur == pr.snap.meta)) {
    // The host took a newer snapshot; the old body is gone. Start over with the new one.
    logf(LogLevel::kInfo, "snapshot changed during transfer to %" PRIu64 ": restarting at %" PRIu64,
         to, cur.index);
    pr.pending_snapshot = cur.index;
    pr.snap = SnapshotTransfer{};
    pr.snap.meta = cur;
  }
  SnapshotTransfer& s = pr.snap;
  const std::uint64_t chunk = cfg.max_snapshot_chunk;
  const std::uint64_t window =
      s.cautious ? 1 : static_cast<std::uint64_t>(cfg.max_inflight_snapshot_chunks);
  while (!(s.started && s.next >= s.total)) {
    if (s.next - s.acked >= window * chunk) break;  // flow control: window full
    Message m;
    m.type = MessageType::kSnapshot;
    m.to = to;
    m.term = term;
    m.snapshot = s.meta;
    m.snapshot_offset = s.next;
    std::uint64_t total = 0;
    const std::size_t n = storage.snapshot_chunk(s.next, chunk, m.snapshot_data, total);
    if (s.started && total != s.total) fail("snapshot body size changed during transfer");
    s.total = total;
    s.started = true;
    if (n == 0 && s.next < total) fail("storage returned an empty snapshot chunk");
    m.snapshot_size = total;
    s.next += n;
    m.snapshot_done = s.next >= total;
    m.commit = log.committed();
    send(std::move(m));
    if (n == 0) break;
  }
}

bool Node::Impl::maybe_commit() {
  std::map<NodeId, Index> match;
  for (const auto& [id, pr] : prs) match[id] = pr.match;
  const Index mci = quorum::committed_index(confs.current().voters, match);
  // Figure 8 / thesis 3.6.2: only entries of the current term are committed by counting
  // replicas; earlier ones are committed indirectly with them.
  if (mci > log.committed() && log.term_or_zero(mci) == term) {
    log.commit_to(mci);
    return true;
  }
  return false;
}

void Node::Impl::forget_removed() {
  for (auto it = prs.begin(); it != prs.end();) {
    Progress& pr = it->second;
    if (pr.removed_at == 0 || pr.removed_at > log.committed() || it->first == cfg.id) {
      ++it;
      continue;
    }
    // The removal is committed: if the node has the entry, tell it the commit index once so
    // that its host applies the change, then stop talking to it.
    if (pr.match >= pr.removed_at && pr.sent_commit < pr.removed_at) {
      Message m;
      m.type = MessageType::kAppend;
      m.to = it->first;
      m.term = term;
      m.index = pr.match;
      m.log_term = log.term_or_zero(pr.match);
      m.commit = log.committed();
      send(std::move(m));
    }
    logf(LogLevel::kInfo, "no longer replicating to removed node %" PRIu64, it->first);
    it = prs.erase(it);
  }
}

void Node::Impl::on_commit_advanced() {
  bcast_pending = true;
  confs.compact_to(log.committed());
  forget_removed();
  if (role == Role::kLeader && !is_voter(cfg.id) && confs.last_change_index() <= log.committed()) {
    // Thesis 4.2.2: a leader removed from the configuration steps down once the change is
    // committed. Hand over to the most up-to-date voter so the cluster need not wait for an
    // election timeout.
    NodeId best = kNoNode;
    Index best_match = 0;
    for (const auto& [id, pr] : prs) {
      if (id != cfg.id && is_voter(id) && pr.match > best_match) {
        best = id;
        best_match = pr.match;
      }
    }
    logf(LogLevel::kInfo, "removed from the configuration at %" PRIu64 ": stepping down",
         log.committed());
    if (best != kNoNode && best_match == log.last_index()) send_timeout_now(best);
    become_follower(term, kNoNode);
    return;
  }
}

bool Node::Impl::quorum_active() const {
  std::set<NodeId> active;
  for (const auto& [id, pr] : prs) {
    if (id == cfg.id || pr.recent_active) active.insert(id);
  }
  return quorum::has_quorum(confs.current().voters, active);
}

void Node::Impl::abort_transfer(const char* why) {
  if (lead_transferee == kNoNode) return;
  logf(LogLevel::kInfo, "aborting leadership transfer to %" PRIu64 ": %s", lead_transferee, why);
  lead_transferee = kNoNode;
}

void Node::Impl::send_timeout_now(NodeId to) {
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.to = to;
  m.term = term;
  send(std::move(m));
  logf(LogLevel::kInfo, "sent TimeoutNow to %" PRIu64, to);
}

void Node::Impl::handle_append_resp(const Message& m, Progress& pr) {
  if (m.reject) {
    // Fast backtracking: the follower says its log may match at reject_hint with hint_term;
    // jump to the last entry of ours with term <= hint_term at or below that.
    Index next_probe = m.reject_hint;
    if (m.hint_term > 0) next_probe = log.find_conflict_by_term(m.reject_hint, m.hint_term).first;
    if (pr.maybe_decr_to(m.index, next_probe)) {
      logf(LogLevel::kDebug, "Append to %" PRIu64 " rejected at %" PRIu64 ": next %" PRIu64, m.from,
           m.index, pr.next);
      bcast_pending = true;
    }
    return;
  }
  if (m.index > log.last_index()) {
    logf(LogLevel::kWarn, "ack from %" PRIu64 " for %" PRIu64 " beyond our last index", m.from,
         m.index);
    return;
  }
  if (!pr.maybe_update(m.index)) return;
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.become_replicate();
      break;
    case ProgressState::kSnapshot:
      if (pr.match + 1 >= log.first_index()) {
        logf(LogLevel::kInfo, "follower %" PRIu64 " caught up after snapshot (match %" PRIu64 ")",
             m.from, pr.match);
        pr.become_probe();
        pr.become_replicate();
      }
      break;
    case ProgressState::kReplicate:
      pr.inflights.free_le(m.index);
      break;
  }
  bcast_pending = true;
  if (maybe_commit()) on_commit_advanced();
  if (role != Role::kLeader) return;
  if (m.from == lead_transferee && pr.match == log.last_index()) {
    // Thesis 3.10: the target is caught up; tell it to start an election now.
    send_timeout_now(m.from);
  }
}

void Node::Impl::handle_heartbeat_resp(const Message& m, Progress& pr) {
  pr.probe_sent = false;
  // The follower is alive but behind: send an Append even if the window is full or it would
  // be empty. If the Appends in flight were lost, its rejection drops us back to probing;
  // without this a follower whose pipelined Appends were all dropped would never recover.
  if (pr.match < log.last_index()) send_append(m.from, pr, true);
  if (read_only.ack(m.context, m.from)) maybe_finish_read_round();
}

void Node::Impl::handle_snapshot_resp(const Message& m, Progress& pr) {
  if (pr.state != ProgressState::kSnapshot || m.index != pr.snap.meta.index) return;
  SnapshotTransfer& s = pr.snap;
  s.stall_ticks = 0;
  if (m.reject) {
    // The follower wants another offset (a lost chunk, or its host rejected the file and
    // wants it again from 0). Rewind, and go one chunk at a time until it acks again so
    // that the rejections of chunks already in flight do not multiply the resends.
    logf(LogLevel::kInfo, "snapshot transfer to %" PRIu64 " rewinds to offset %" PRIu64, m.from,
         m.snapshot_offset);
    s.next = s.acked = std::min(m.snapshot_offset, s.total);
    s.started = s.next > 0;
    s.cautious = true;
  } else if (m.snapshot_offset > s.acked) {
    s.acked = std::min(m.snapshot_offset, s.total);
    s.next = std::max(s.next, s.acked);
    s.cautious = false;
  }
  send_snapshot_chunks(m.from, pr);
}

// ------------------------------------------------------------------------------------------------
// tick

void Node::Impl::tick_election() {
  ++election_elapsed;
  if (promotable() && past_election_timeout()) {
    election_elapsed = 0;
    campaign(cfg.pre_vote ? CampaignType::kPreElection : CampaignType::kElection);
  }
}

void Node::Impl::tick_heartbeat() {
  ++heartbeat_elapsed;
  ++election_elapsed;
  if (election_elapsed >= cfg.election_ticks) {
    election_elapsed = 0;
    if (cfg.check_quorum) {
      // Thesis 6.2: a leader that has not heard from a majority in an election timeout may
      // have been deposed; stepping down lets clients find the real leader.
      if (!quorum_active()) {
        logf(LogLevel::kWarn, "no quorum heard from within an election timeout: stepping down");
        become_follower(term, kNoNode);
        return;
      }
      for (auto& [id, pr] : prs) {
        if (id != cfg.id) pr.recent_active = false;
      }
    }
    // Thesis 3.10: a transfer that did not finish within an election timeout is abandoned.
    abort_transfer("timed out");
  }
  for (auto& [id, pr] : prs) {
    if (id == cfg.id || pr.state != ProgressState::kSnapshot) continue;
    if (++pr.snap.stall_ticks < cfg.election_ticks) continue;
    pr.snap.stall_ticks = 0;
    if (pr.snap.started && pr.snap.acked >= pr.snap.total) {
      // Every chunk is acknowledged but the post-install ack never came: probe instead.
      pr.become_probe();
      bcast_pending = true;
    } else {
      // Chunks (or their acks) were lost: resend from the last acknowledged offset.
      pr.snap.next = pr.snap.acked;
      pr.snap.started = pr.snap.acked > 0;
      send_snapshot_chunks(id, pr);
    }
  }
  if (heartbeat_elapsed >= cfg.heartbeat_ticks) {
    heartbeat_elapsed = 0;
    bcast_heartbeat();
  }
}

// ------------------------------------------------------------------------------------------------
// membership

void Node::Impl::apply_conf_entries(const std::vector<Entry>& ents, Index from) {
  for (const Entry& e : ents) {
    if (e.index < from || e.type != EntryType::kConfChange) continue;
    const std::optional<ConfChange> cc = decode_conf_change(e.data);
    if (!cc) fail("undecodable conf change entry at index " + std::to_string(e.index));
    // Entries written by the core carry the resulting membership; older/plain ones are deltas.
    std::optional<ConfState> conf = decode_conf_state(e.data);
    confs.add(e.index, conf ? std::move(*conf) : apply_conf_change(confs.current(), *cc));
  }
}

void Node::Impl::on_conf_changed() {
  if (role != Role::kLeader) return;
  const ConfState& conf = confs.current();
  const Index last = log.last_index();
  // Members that left are remembered until their removal commits; members that joined are
  // added; learner flags follow the configuration.
  for (auto& [id, pr] : prs) {
    if (is_member(id)) {
      pr.removed_at = 0;
      pr.learner = contains(conf.learners, id);
    } else if (pr.removed_at == 0) {
      pr.removed_at = confs.last_change_index();
      pr.learner = false;
    }
  }
  auto add = [&](NodeId id, bool learner) {
    if (prs.count(id) != 0) return;
    Progress pr(static_cast<std::size_t>(cfg.max_inflight_msgs));
    pr.next = last + 1;
    pr.learner = learner;
    pr.recent_active = true;  // give it an election timeout before check-quorum counts it
    if (id == cfg.id) {
      pr.match = log.persisted_index();
      pr.become_replicate();
    }
    prs.emplace(id, std::move(pr));
  };
  for (NodeId id : conf.voters) add(id, false);
  for (NodeId id : conf.learners) add(id, true);
  if (lead_transferee != kNoNode && !is_voter(lead_transferee)) {
    abort_transfer("target is no longer a voter");
  }
  bcast_pending = true;
  // A smaller quorum may commit or confirm reads at once.
  if (maybe_commit()) on_commit_advanced();
  if (role == Role::kLeader) maybe_finish_read_round();
}

// ------------------------------------------------------------------------------------------------
// reads

bool Node::Impl::can_start_read_round() const {
  // Thesis 6.4 step 1: until the leader has committed an entry of its term it does not know
  // the commit index, so reads wait.
  return role == Role::kLeader && read_only.has_queued() && !read_only.in_flight() &&
         committed_in_current_term();
}

void Node::Impl::maybe_start_read_round() {
  if (!can_start_read_round()) return;
  const std::string ctx = read_only.start_round(log.committed(), cfg.id);
  // One heartbeat round confirms leadership for every read in the round (thesis 6.4 step 3).
  if (!quorum::has_quorum(confs.current().voters, read_only.round()->acks)) {
    for (const auto& [id, pr] : prs) {
      if (id != cfg.id) send_heartbeat(id, pr, ctx);
    }
  }
  maybe_finish_read_round();
}

void Node::Impl::maybe_finish_read_round() {
  if (!read_only.in_flight() ||
      !quorum::has_quorum(confs.current().voters, read_only.round()->acks)) {
    return;
  }
  ReadOnly::Round r = read_only.finish_round();
  for (ReadRequest& req : r.requests) {
    if (req.from == cfg.id) {
      read_states.push_back(ReadState{r.index, std::move(req.context)});
    } else {
      Message m;
      m.type = MessageType::kReadIndexResp;
      m.to = req.from;
      m.term = term;
      m.index = r.index;
      m.context = std::move(req.context);
      send(std::move(m));
    }
  }
}

// ------------------------------------------------------------------------------------------------
// output

void Node::Impl::send(Message m) {
  m.from = cfg.id;
  msgs.push_back(std::move(m));
}

void Node::Impl::send_after_persist(Message m) {
  m.from = cfg.id;
  msgs_after_persist.push_back(std::move(m));
}

void Node::Impl::flush() {
  if (role != Role::kLeader) return;
  if (bcast_pending) {
    bcast_pending = false;
    bcast_append();
  }
  maybe_start_read_round();
}

bool Node::Impl::has_ready() const {
  if (role == Role::kLeader && (bcast_pending || can_start_read_round())) return true;
  if (SoftState{lead, role} != prev_soft) return true;
  if (log.unstable_snapshot() && !log.snapshot_handed_out()) return true;
  if (hard_state() != prev_hard) return true;
  return log.has_next_unstable_entries() || pending_chunk.has_value() || log.has_next_committed() ||
         !msgs.empty() || !msgs_after_persist.empty() || !read_states.empty();
}

Ready Node::Impl::ready() {
  flush();
  Ready rd;
  const SoftState ss{lead, role};
  if (ss != prev_soft) {
    rd.soft_state = ss;
    prev_soft = ss;
  }
  rd.messages = std::move(msgs);
  msgs.clear();
  rd.read_states = std::move(read_states);
  read_states.clear();
  if (log.unstable_snapshot() && !log.snapshot_handed_out()) {
    // The host installs the snapshot before anything else touches its log: hold back entries,
    // hard state (its commit points into the snapshot) and acks until the next Ready.
    rd.snapshot = *log.unstable_snapshot();
    log.accept_snapshot();
    return rd;
  }
  const HardState hs = hard_state();
  if (hs != prev_hard) {
    rd.hard_state = hs;
    prev_hard = hs;
  }
  rd.entries = log.next_unstable_entries();
  log.accept_unstable();
  if (pending_chunk) {
    Message ack;
    ack.type = MessageType::kSnapshotResp;
    ack.to = incoming.from;
    ack.term = term;
    ack.index = pending_chunk->meta.index;
    ack.snapshot_offset = pending_chunk->offset + pending_chunk->data.size();
    send_after_persist(std::move(ack));
    rd.snapshot_chunk = std::move(*pending_chunk);
    pending_chunk.reset();
  }
  rd.committed = log.next_committed(cfg.max_committed_bytes_per_ready);
  if (!rd.committed.empty()) log.applying_to(rd.committed.back().index);
  rd.messages_after_persist = std::move(msgs_after_persist);
  msgs_after_persist.clear();
  return rd;
}

void Node::Impl::advance(const Ready& rd) {
  if (rd.hard_state) persisted_hard = *rd.hard_state;
  if (rd.snapshot) {
    log.stable_snap_to(rd.snapshot->index);
    log.applied_to(rd.snapshot->index);
    if (lead != kNoNode) {
      // Installed: now the leader may count it (an earlier ack could outlive a crash that lost
      // the snapshot).
      Message r;
      r.type = MessageType::kAppendResp;
      r.to = lead;
      r.term = term;
      r.index = rd.snapshot->index;
      send(std::move(r));
    }
  }
  if (!rd.entries.empty()) log.stable_to(rd.entries.back().index, rd.entries.back().term);
  if (rd.snapshot_chunk && rd.snapshot_chunk->done && incoming.active && incoming.complete &&
      incoming.meta == rd.snapshot_chunk->meta) {
    // The whole body is durable and verified (the host calls snapshot_rejected() before this
    // advance if it is not).
    incoming.active = false;
    finish_incoming_snapshot(incoming.meta, incoming.from);
  }
  if (!rd.committed.empty()) log.applied_to(rd.committed.back().index);
  confs.compact_to(log.committed());

  if (role == Role::kLeader) {
    // The leader's own entries count toward the quorum only once they are durable here.
    if (auto it = prs.find(cfg.id); it != prs.end()) {
      it->second.maybe_update(log.persisted_index());
      if (maybe_commit()) on_commit_advanced();
    }
  } else if (role == Role::kCandidate && votes.count(cfg.id) == 0 && persisted_hard.term == term &&
             persisted_hard.vote == cfg.id) {
    poll(cfg.id, true);
  }
}

Status Node::Impl::status() const {
  Status s;
  s.id = cfg.id;
  s.role = role;
  s.leader = lead;
  s.hard_state = hard_state();
  s.applied = log.applied();
  s.last_index = log.last_index();
  s.conf = confs.current();
  if (role == Role::kLeader) {
    for (const auto& [id, pr] : prs) {
      s.progress.push_back(Status::Progress{id, pr.match, pr.next, pr.learner, pr.recent_active});
    }
  }
  return s;
}

// ------------------------------------------------------------------------------------------------
// Node

Node::Node(Config config, const Storage& storage)
    : impl_(std::make_unique<Impl>(std::move(config), storage)) {}

Node::~Node() = default;

void Node::tick() {
  (impl_.get()->*(impl_->tick_fn))();
}

void Node::step(const Message& m) {
  impl_->step(m);
}

ProposeError Node::propose(std::string data, Index* index) {
  Impl& r = *impl_;
  if (r.role != Role::kLeader) return ProposeError::kNotLeader;
  // Thesis 3.10: during a transfer the leader stops accepting new requests.
  if (r.lead_transferee != kNoNode) return ProposeError::kTransferring;
  // A leader that removed itself only finishes committing the change (thesis 4.2.2).
  if (!r.is_member(r.cfg.id)) return ProposeError::kDropped;
  const Index i = r.log.last_index() + 1;
  r.append_entry(Entry{r.term, i, EntryType::kNormal, std::move(data)});
  if (index) *index = i;
  return ProposeError::kOk;
}

ProposeError Node::propose_conf_change(const ConfChange& cc, Index* index) {
  Impl& r = *impl_;
  if (r.role != Role::kLeader) return ProposeError::kNotLeader;
  if (r.lead_transferee != kNoNode) return ProposeError::kTransferring;
  if (!r.is_member(r.cfg.id)) return ProposeError::kDropped;
  // Thesis 4.1: one change at a time. A new leader must also first commit an entry of its own
  // term: otherwise an uncommitted change from a previous term could be overwritten after
  // ours was used for a quorum (Ongaro, raft-dev 2015, the single-server change bug).
  if (r.confs.last_change_index() > r.log.committed() || !r.committed_in_current_term()) {
    return ProposeError::kConfChangePending;
  }
  if (cc.node == kNoNode) return ProposeError::kDropped;
  const ConfState next = apply_conf_change(r.confs.current(), cc);
  if (next.voters.empty()) {
    r.logf(LogLevel::kWarn, "refusing a conf change that leaves no voters");
    return ProposeError::kDropped;
  }
  const Index i = r.log.last_index() + 1;
  r.append_entry(Entry{r.term, i, EntryType::kConfChange,
                       encode_conf_change_entry(cc, next, r.confs.current())});
  r.logf(LogLevel::kInfo, "proposed conf change at %" PRIu64 " (node %" PRIu64 ")", i, cc.node);
  if (index) *index = i;
  return ProposeError::kOk;
}

void Node::read_index(std::string context) {
  Impl& r = *impl_;
  switch (r.role) {
    case Role::kLeader:
      r.read_only.enqueue(ReadRequest{std::move(context), r.cfg.id});
      // A single voter confirms itself: answer without a round trip.
      if (r.confs.current().voters == std::vector<NodeId>{r.cfg.id}) r.maybe_start_read_round();
      return;
    case Role::kFollower:
      if (r.lead == kNoNode) {
        r.logf(LogLevel::kInfo, "no leader: dropping read index request");
        return;
      }
      {
        Message m;
        m.type = MessageType::kReadIndex;
        m.to = r.lead;
        m.term = r.term;
        m.context = std::move(context);
        r.send(std::move(m));
      }
      return;
    case Role::kPreCandidate:
    case Role::kCandidate:
      r.logf(LogLevel::kInfo, "campaigning: dropping read index request");
      return;
  }
}

void Node::transfer_leadership(NodeId to) {
  Impl& r = *impl_;
  if (r.role != Role::kLeader) {
    r.logf(LogLevel::kInfo, "not leader: ignoring transfer to %" PRIu64, to);
    return;
  }
  if (to == r.cfg.id) {
    r.logf(LogLevel::kInfo, "already leader: ignoring transfer to self");
    return;
  }
  if (!r.is_voter(to) || r.prs.count(to) == 0) {
    r.logf(LogLevel::kInfo, "%" PRIu64 " is not a voter: ignoring transfer", to);
    return;
  }
  if (r.lead_transferee == to) return;
  r.abort_transfer("superseded");
  r.lead_transferee = to;
  // The transfer must finish within an election timeout (thesis 3.10); time it from now.
  r.election_elapsed = 0;
  r.logf(LogLevel::kInfo, "transferring leadership to %" PRIu64, to);
  if (r.prs.at(to).match == r.log.last_index()) {
    r.send_timeout_now(to);
  } else {
    r.bcast_pending = true;  // catch it up first
  }
}

void Node::campaign() {
  Impl& r = *impl_;
  if (r.role == Role::kLeader) return;
  r.campaign(r.cfg.pre_vote ? CampaignType::kPreElection : CampaignType::kElection);
}

bool Node::has_ready() const {
  return impl_->has_ready();
}

Ready Node::ready() {
  return impl_->ready();
}

void Node::advance(const Ready& rd) {
  impl_->advance(rd);
}

void Node::snapshot_taken(const SnapshotMeta& meta) {
  Impl& r = *impl_;
  if (meta.index > r.log.applied()) {
    r.fail("snapshot at " + std::to_string(meta.index) + " is beyond applied " +
           std::to_string(r.log.applied()));
  }
  r.confs.compact_to(std::min(meta.index, r.log.committed()));
  r.logf(LogLevel::kInfo, "snapshot taken at %" PRIu64 "/%" PRIu64 "; log starts at %" PRIu64,
         meta.index, meta.term, r.log.first_index());
}

void Node::snapshot_rejected() {
  Impl& r = *impl_;
  if (!r.incoming.active) {
    r.logf(LogLevel::kError, "snapshot_rejected() without an incoming snapshot: ignored");
    return;
  }
  r.logf(LogLevel::kWarn, "host rejected snapshot %" PRIu64 ": asking %" PRIu64 " again",
         r.incoming.meta.index, r.incoming.from);
  Message m;
  m.type = MessageType::kSnapshotResp;
  m.to = r.incoming.from;
  m.term = r.term;
  m.index = r.incoming.meta.index;
  m.snapshot_offset = 0;
  m.reject = true;
  r.incoming = Impl::Incoming{};
  r.pending_chunk.reset();
  r.send(std::move(m));
}

void Node::report_unreachable(NodeId id) {
  Impl& r = *impl_;
  if (r.role != Role::kLeader) return;
  auto it = r.prs.find(id);
  if (it == r.prs.end()) return;
  // Pipelined Appends were probably lost with the connection: probe from the match point.
  if (it->second.state == ProgressState::kReplicate) it->second.become_probe();
}

Status Node::status() const {
  return impl_->status();
}
NodeId Node::id() const {
  return impl_->cfg.id;
}
Role Node::role() const {
  return impl_->role;
}
NodeId Node::leader() const {
  return impl_->lead;
}
Term Node::term() const {
  return impl_->term;
}

}  // namespace raft
