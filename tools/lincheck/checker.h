// Linearizability checking of register histories: Wing & Gong's search with Lowe's
// just-in-time linearization and memoized configurations, one key at a time (a history is
// linearizable iff each key's sub-history is: Herlihy & Wing's locality, "P-compositionality").
//
// Acknowledged ops must take effect between their invoke and their reply. Failed ops never took
// effect and are left out. Unknown ops may take effect at any point after their invoke, or never;
// after a quiesce line they must have done one or the other, so the final reads pin them down.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/lincheck/history.h"

namespace raftd::lincheck {

enum class Verdict : std::uint8_t { kLinearizable, kViolation, kUndecided };
std::string_view verdict_name(Verdict v);

struct CheckOptions {
  std::uint64_t max_steps = 50'000'000;  ///< configurations tried per key before giving up
  double max_seconds = 120;              ///< per key
  std::size_t max_cache_bytes = 1ull << 30;
};

struct KeyReport {
  std::string key;
  Verdict verdict = Verdict::kUndecided;
  std::size_t ok_ops = 0;
  std::size_t unknown_ops = 0;    ///< unknown writes the search may place or leave out
  std::size_t failed_ops = 0;     ///< left out: certainly not applied
  std::size_t dropped_reads = 0;  ///< unknown reads: they change nothing, so they are left out
  std::uint64_t steps = 0;        ///< configurations tried
  std::size_t cached = 0;         ///< failed configurations remembered
  double seconds = 0;
  std::string explanation;  ///< why not linearizable (or why undecided)
};

struct Report {
  Verdict verdict = Verdict::kLinearizable;
  std::vector<KeyReport> keys;  ///< in key order
};

/// Checks the ops of one key (indices into h.ops, all with the same key).
KeyReport check_key(const History& h, const std::vector<std::size_t>& op_indices,
                    const CheckOptions& opt);

/// Checks every key; the verdict is the worst of the keys' (violation > undecided > fine).
Report check_history(const History& h, const CheckOptions& opt);

}  // namespace raftd::lincheck
