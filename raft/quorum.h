// Majority arithmetic over a set of voters (thesis 3.6, 4.1): commit indexes, elections and
// ReadIndex confirmations all ask "does a majority of the voters agree?". Pure functions.
#pragma once

#include <map>
#include <set>
#include <vector>

#include "raft/types.h"

namespace raft::quorum {

/// Number of votes that make a majority of `n` voters.
inline std::size_t majority(std::size_t n) {
  return n / 2 + 1;
}

/// The largest index that a majority of `voters` has matched, where `match` maps a voter to
/// its match index (missing voters count as 0). 0 for an empty voter set.
Index committed_index(const std::vector<NodeId>& voters, const std::map<NodeId, Index>& match);

enum class VoteResult { kPending, kWon, kLost };

/// Tallies `votes` (true = granted) cast by members of `voters`; votes from non-voters are
/// ignored. Lost means a majority can no longer be reached.
VoteResult vote_result(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes);

/// True when `acks` contains a majority of `voters`.
bool has_quorum(const std::vector<NodeId>& voters, const std::set<NodeId>& acks);

}  // namespace raft::quorum
