// The host-facing side of raft::Node: the Ready/advance protocol, status, and the public API.

#include "raft/node_impl.h"

namespace raft {

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
  return log.has_next_unstable_entries() || pending_chunk.has_value() ||
         (incoming.active && incoming.ack_due) || log.has_next_committed() || !msgs.empty() ||
         !msgs_after_persist.empty() || !read_states.empty();
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
  hand_out_snapshot_chunk(rd);
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
  snapshot_chunk_persisted(rd);
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

const ConfState& Node::conf() const {
  return impl_->confs.current();
}

Index Node::last_index() const {
  return impl_->log.last_index();
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
