// ReadIndex (thesis 6.4): reads are confirmed in batches by one heartbeat round each.
#include "raft/node_impl.h"
#include "raft/quorum.h"

namespace raft {

bool Node::Impl::can_start_read_round() const {
  // Thesis 6.4 step 1: until the leader has committed an entry of its term it does not know
  // the commit index, so reads wait.
  return role == Role::kLeader && read_only.can_start() && committed_in_current_term();
}

void Node::Impl::maybe_start_read_round() {
  if (!can_start_read_round()) return;
  const std::string ctx = read_only.start_round(log.committed(), cfg.id);
  // One heartbeat round confirms leadership for every read in the round (thesis 6.4 step 3).
  if (!quorum::has_quorum(confs.current().voters, read_only.newest()->acks)) {
    for (const auto& [id, pr] : prs) {
      if (id != cfg.id) send_heartbeat(id, pr, ctx);
    }
  }
  maybe_finish_read_round();
}

void Node::Impl::maybe_finish_read_round() {
  // Rounds finish in order: an ack for a later round has confirmed every earlier one too.
  while (read_only.oldest() != nullptr &&
         quorum::has_quorum(confs.current().voters, read_only.oldest()->acks)) {
    ReadOnly::Round r = read_only.finish_oldest();
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
  // Reads that queued while every round slot was taken.
  maybe_start_read_round();
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

}  // namespace raft
