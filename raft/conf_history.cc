#include "raft/conf_history.h"

namespace raft {

void ConfHistory::reset(Index base_index, ConfState base) {
  base_index_ = base_index;
  base_ = std::move(base);
  changes_.clear();
}

void ConfHistory::add(Index index, ConfState conf) {
  changes_[index] = std::move(conf);
}

void ConfHistory::truncate_from(Index index) {
  changes_.erase(changes_.lower_bound(index), changes_.end());
}

void ConfHistory::compact_to(Index index) {
  auto end = changes_.upper_bound(index);
  for (auto it = changes_.begin(); it != end; ++it) {
    base_ = it->second;
    base_index_ = it->first;
  }
  changes_.erase(changes_.begin(), end);
}

}  // namespace raft
