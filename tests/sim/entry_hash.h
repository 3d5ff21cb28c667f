// One chained hash over log entries, shared by the invariant checker (hash of a log prefix) and
// the simulated state machine (hash of everything applied). Because both start from the same
// value and fold entries the same way, "the state after applying i" and "the committed log
// through i" can be compared with one integer.
#pragma once

#include <cstdint>
#include <cstring>

#include "raft/types.h"
#include "tests/sim/rng.h"

namespace raftsim {

inline constexpr std::uint64_t kEmptyPrefixHash = 0x5eed5eed5eed5eedULL;

inline std::uint64_t chain_hash(std::uint64_t prev, const raft::Entry& e) {
  std::uint64_t h = mix64(prev ^ 0x243f6a8885a308d3ULL);
  h = mix64(h ^ e.index);
  h = mix64(h ^ e.term);
  h = mix64(h ^ static_cast<std::uint64_t>(e.type));
  h = mix64(h ^ e.data.size());
  std::size_t i = 0;
  for (; i + 8 <= e.data.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, e.data.data() + i, 8);
    h = mix64(h ^ w);
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, e.data.data() + i, e.data.size() - i);
  return mix64(h ^ tail);
}

}  // namespace raftsim
