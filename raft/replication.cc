// Log replication (thesis 3.5, 10.2): the follower's AppendEntries and heartbeat handling, the
// leader's pipelined Appends, acks, commit rule, and single-server membership changes (4.1).
#include "raft/node_impl.h"
#include "raft/quorum.h"

namespace raft {

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

void Node::Impl::append_entry(Entry e) {
  std::vector<Entry> one;
  if (e.type == EntryType::kConfChange) {
    one.push_back(e);  // a small entry, kept for apply_conf_entries below
    log.append(std::move(one));
    apply_conf_entries({e}, e.index);
    on_conf_changed();
  } else {
    one.push_back(std::move(e));
    log.append(std::move(one));
  }
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
      (cfg.lazy_commit || pr.sent_commit >= commit_reach)) {
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
  const std::string ctx = read_only.newest() ? read_only.newest()->context : std::string();
  for (const auto& [id, pr] : prs) {
    if (id != cfg.id) send_heartbeat(id, pr, ctx);
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

}  // namespace raft
