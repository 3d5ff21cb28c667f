// INFO's "# Raft" section: the node's role, term, indexes, requests in flight, snapshots, and
// one line per member (RedisRaft's field names where it has them, raft_ prefixed).
#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "server/node/membership.h"
#include "server/node/raft_host.h"
#include "storage/data_dir.h"

namespace raftd {

void RaftHost::info(std::string& out) const {
  if (!node_) {
    fmt::format_to(std::back_inserter(out),
                   "# Raft\r\n"
                   "raft_node_id:{}\r\n"
                   "raft_cluster_id:{:016x}\r\n"
                   "raft_role:none\r\n"
                   "raft_state:{}\r\n",
                   config_.id, membership_->cluster_id(), membership_->not_formed_reason());
    return;
  }
  const raft::Status st = node_->status();
  const char* role = role_name(st.role);
  if (std::binary_search(st.conf.learners.begin(), st.conf.learners.end(), config_.id)) {
    role = "learner";
  }
  fmt::format_to(std::back_inserter(out),
                 "# Raft\r\n"
                 "raft_node_id:{}\r\n"
                 "raft_cluster_id:{:016x}\r\n"
                 "raft_role:{}\r\n"
                 "raft_current_term:{}\r\n"
                 "raft_leader_id:{}\r\n"
                 "raft_leader_addr:{}\r\n"
                 "raft_commit_index:{}\r\n"
                 "raft_last_applied_index:{}\r\n"
                 "raft_last_log_index:{}\r\n"
                 "raft_snapshot_index:{}\r\n"
                 "raft_log_first_index:{}\r\n"
                 "raft_num_nodes:{}\r\n"
                 "raft_num_voting_nodes:{}\r\n"
                 "raft_pending_writes:{}\r\n"
                 "raft_pending_reads:{}\r\n"
                 "raft_read_index_requests:{}\r\n"
                 "raft_local_reads:{}\r\n"
                 "raft_snapshot_interval:{}\r\n"
                 "raft_snapshot_in_progress:{}\r\n"
                 "raft_snapshots_taken:{}\r\n"
                 "raft_snapshots_installed:{}\r\n"
                 "raft_last_snapshot:{}\r\n"
                 "raft_log_writes:{}\r\n",
                 config_.id, membership_->cluster_id(), role, st.hard_state.term, st.leader,
                 members_.address(st.leader), st.hard_state.commit, applied_.index, st.last_index,
                 snapshots_.newest_index(), dir_.log().first_index(),
                 st.conf.voters.size() + st.conf.learners.size(), st.conf.voters.size(),
                 requests_.pending_writes(), requests_.pending_reads(), requests_.read_rounds(),
                 local_reads_linearizable_ ? "yes" : "no", snapshots_.interval(),
                 snapshots_.running() ? 1 : 0, snapshots_.taken(), snapshots_.installed(),
                 snapshots_.last_info(), disk_->writes());
  std::vector<raft::NodeId> members = st.conf.voters;
  members.insert(members.end(), st.conf.learners.begin(), st.conf.learners.end());
  std::sort(members.begin(), members.end());
  int n = 0;
  for (raft::NodeId id : members) {
    const bool voting = std::binary_search(st.conf.voters.begin(), st.conf.voters.end(), id);
    raft::Index match = 0;
    for (const auto& p : st.progress) {
      if (p.id == id) match = p.match;
    }
    std::string member_role = id == st.leader ? "leader" : (voting ? "follower" : "learner");
    if (id == config_.id) member_role = role;
    const char* conn = id == config_.id            ? "self"
                       : transport_->connected(id) ? "connected"
                                                   : "disconnected";
    fmt::format_to(std::back_inserter(out),
                   "raft_node{}:id={},addr={},role={},voting={},match_index={},connection={}", n++,
                   id, members_.address(id), member_role, voting ? "yes" : "no",
                   id == config_.id ? st.last_index : match, conn);
    // Beyond RedisRaft's fields: peer traffic, to see batching and loss at a glance.
    if (auto ps = id == config_.id ? std::nullopt : transport_->peer_stats(id)) {
      fmt::format_to(std::back_inserter(out),
                     ",frames_sent={},frames_received={},frames_dropped={}", ps->frames_sent,
                     ps->frames_received, ps->frames_dropped);
    }
    out += "\r\n";
  }
}

}  // namespace raftd
