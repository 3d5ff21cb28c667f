// Membership as a function of log position. A single-server change takes effect as soon as its
// entry is appended (thesis 4.1), and must be undone if that entry is truncated, so the core
// remembers the configuration introduced by every conf-change entry that is not yet committed.
#pragma once

#include <map>

#include "raft/types.h"

namespace raft {

class ConfHistory {
 public:
  /// `base` is in effect after the entries up to `base_index`.
  void reset(Index base_index, ConfState base);
  /// Records the configuration introduced by the conf-change entry at `index`.
  void add(Index index, ConfState conf);
  /// Forgets changes at or above `index` (their entries were truncated).
  void truncate_from(Index index);
  /// Folds changes at or below `index` into the base (they are committed: never truncated).
  void compact_to(Index index);

  const ConfState& current() const { return changes_.empty() ? base_ : changes_.rbegin()->second; }
  /// Index of the newest conf-change entry known (0 if none since the base).
  Index last_change_index() const { return changes_.empty() ? 0 : changes_.rbegin()->first; }
  Index base_index() const { return base_index_; }

 private:
  Index base_index_ = 0;
  ConfState base_;
  std::map<Index, ConfState> changes_;
};

}  // namespace raft
