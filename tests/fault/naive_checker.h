// A brute-force linearizability check for tiny histories: tries every subset of the unknown ops
// and every order that respects real time. The reference the real search is compared with.
#pragma once

#include <cstddef>
#include <vector>

#include "tools/lincheck/history.h"

namespace raftd::lincheck::test {

/// True if the ops of one key (indices into h.ops) are linearizable. Exponential: keep it to
/// about eight ops.
bool naive_linearizable(const History& h, const std::vector<std::size_t>& ops);

}  // namespace raftd::lincheck::test
