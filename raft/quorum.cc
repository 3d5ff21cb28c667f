#include "raft/quorum.h"

#include <algorithm>
#include <functional>

namespace raft::quorum {

Index committed_index(const std::vector<NodeId>& voters, const std::map<NodeId, Index>& match) {
  if (voters.empty()) return 0;
  std::vector<Index> idx;
  idx.reserve(voters.size());
  for (NodeId v : voters) {
    auto it = match.find(v);
    idx.push_back(it == match.end() ? 0 : it->second);
  }
  // Sorted descending, the entry at position majority-1 is held by at least a majority.
  std::sort(idx.begin(), idx.end(), std::greater<>());
  return idx[majority(voters.size()) - 1];
}

VoteResult vote_result(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes) {
  std::size_t granted = 0;
  std::size_t missing = 0;
  for (NodeId v : voters) {
    auto it = votes.find(v);
    if (it == votes.end()) {
      ++missing;
    } else if (it->second) {
      ++granted;
    }
  }
  const std::size_t q = majority(voters.size());
  if (granted >= q) return VoteResult::kWon;
  if (granted + missing >= q) return VoteResult::kPending;
  return VoteResult::kLost;
}

bool has_quorum(const std::vector<NodeId>& voters, const std::set<NodeId>& acks) {
  if (voters.empty()) return false;
  std::size_t n = 0;
  for (NodeId v : voters) n += acks.count(v);
  return n >= majority(voters.size());
}

}  // namespace raft::quorum
