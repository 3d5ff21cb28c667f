// raft::Node's roles: construction, role transitions, elections (thesis 3.4, 3.6, 9.6), the
// generic term handling of every message, and the logical clock.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "raft/node_impl.h"
#include "raft/quorum.h"

namespace raft {

Node::Impl::Impl(Config c, const Storage& s)
    : cfg(std::move(c)),
      storage(s),
      log(s, [this](const std::string& w) { fail(w); }),
      read_only(std::max<std::size_t>(1, cfg.max_read_rounds)) {
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
  // Unreachable while step() refuses terms beyond kMaxTerm; a term that would wrap is a bug.
  if (term >= kMaxTerm) fail("term " + std::to_string(term) + " is at the maximum");
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
  if (term + 1 >= kMaxTerm) {
    // Only a store written before terms were bounded can hold such a term.
    logf(LogLevel::kError, "term %" PRIu64 " is at the maximum: not campaigning", term);
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

void Node::Impl::step(const Message& m) {
  if (m.to != cfg.id || m.from == kNoNode || m.from == cfg.id || m.term == 0) {
    logf(LogLevel::kWarn, "ignoring malformed %s from %" PRIu64 " to %" PRIu64, to_string(m.type),
         m.from, m.to);
    return;
  }
  // Numbers from the network are checked before any arithmetic on them: a forged or corrupt
  // message must neither wrap a term nor make the log do something only a bug would.
  if (const char* problem = message_problem(m)) {
    logf(LogLevel::kWarn, "ignoring %s from %" PRIu64 " (term %" PRIu64 ", index %" PRIu64 "): %s",
         to_string(m.type), m.from, m.term, m.index, problem);
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
        // A partitioned node pre-votes every election timeout: at info this floods the log.
        logf(m.type == MessageType::kPreVote ? LogLevel::kDebug : LogLevel::kInfo,
             "ignoring %s from %" PRIu64 " for term %" PRIu64 ": leader %" PRIu64
             " is still within its lease",
             to_string(m.type), m.from, m.term, lead);
        return;
      }
    }
    // A pre-vote never changes our term, and granted pre-votes carry the term we would
    // campaign in: we move there only by winning.
    const bool keeps_our_term =
        m.type == MessageType::kPreVote || (m.type == MessageType::kPreVoteResp && !m.reject);
    if (!keeps_our_term) {
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
    logf(m.type == MessageType::kPreVote ? LogLevel::kDebug : LogLevel::kInfo,
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

}  // namespace raft
