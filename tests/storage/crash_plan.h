// A deterministic stream of log writes, shared by the crash test and the child process it kills.
// Each op depends only on the seed and on what a raft::Storage reports, so the parent can replay
// the child's writes against raft::MemoryStorage and know exactly which states are allowed after
// a crash: the one after the last op the child reported as durable, or the one after the op it
// was in the middle of.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace storage_test {

/// splitmix64: tiny, and the same on every platform (unlike std distributions).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n) { return next() % n; }

 private:
  std::uint64_t state_;
};

struct Op {
  enum class Kind { kSave, kCompact };
  Kind kind = Kind::kSave;
  raft::HardState hard_state;
  std::vector<raft::Entry> entries;
  raft::SnapshotMeta snapshot;
};

inline const raft::ConfState& plan_conf() {
  static const raft::ConfState conf{{1, 2, 3}, {}};
  return conf;
}

class Plan {
 public:
  explicit Plan(std::uint64_t seed) : rng_(seed) {}

  /// The next op for a log currently in state `s` with hard state `hs`.
  Op next(const raft::Storage& s, const raft::HardState& hs) {
    Op op;
    const raft::Index first = s.first_index();
    const raft::Index last = s.last_index();
    const std::uint64_t roll = rng_.below(100);
    if (roll < 5 && hs.commit >= first + 10) {
      // Compact up to somewhere at or below the commit index (only applied state is snapshotted).
      op.kind = Op::Kind::kCompact;
      op.snapshot.index = first + rng_.below(hs.commit - first + 1);
      s.term(op.snapshot.index, op.snapshot.term);
      op.snapshot.conf = plan_conf();
      return op;
    }
    raft::Term term = std::max<raft::Term>(hs.term, 1);
    raft::Index from = last + 1;
    raft::NodeId vote = hs.vote == raft::kNoNode ? 1 : hs.vote;
    if (roll < 15 && last > hs.commit) {
      // A new leader overwrites an uncommitted suffix (thesis 3.5).
      ++term;
      vote = 1 + term % 3;
      from = std::max(hs.commit + 1, last - rng_.below(9));
    }
    const std::uint64_t size_roll = rng_.below(10);
    const std::uint64_t count = size_roll < 7 ? 1 + rng_.below(16) : 1 + rng_.below(256);
    for (std::uint64_t k = 0; k < count; ++k) {
      raft::Entry e;
      e.index = from + k;
      e.term = term;
      e.type = rng_.below(20) == 0 ? raft::EntryType::kConfChange : raft::EntryType::kNormal;
      const std::uint64_t len = rng_.below(300);
      e.data.reserve(len);
      for (std::uint64_t b = 0; b < len; ++b) e.data.push_back(static_cast<char>(rng_.next()));
      op.entries.push_back(std::move(e));
    }
    const raft::Index new_last = op.entries.back().index;
    op.hard_state.term = term;
    op.hard_state.vote = vote;
    op.hard_state.commit =
        std::max(hs.commit, new_last - std::min<raft::Index>(new_last, rng_.below(24)));
    return op;
  }

 private:
  Rng rng_;
};

/// Applies `op` to the in-memory model.
inline void apply(raft::MemoryStorage& m, const Op& op) {
  if (op.kind == Op::Kind::kCompact) {
    m.compact(op.snapshot, {});
  } else {
    m.set_hard_state(op.hard_state);
    m.append(op.entries);
  }
}

}  // namespace storage_test
