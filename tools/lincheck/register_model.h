// The sequential specification of one Redis string key under the commands the fault workload
// sends: GET, SET, SET NX, SET XX, GETSET, INCR and DEL.
#pragma once

#include <optional>
#include <string>

#include "tools/lincheck/history.h"

namespace raftd::lincheck {

/// What the command does to `state` and what it replies, as Redis 7.0 does it.
struct Effect {
  Value next;
  Reply reply;
};
Effect apply(Value state, const Op& op);

/// The register's state after `op` if `op` can take effect in `state`: for an acknowledged op its
/// recorded reply must be the one `apply` gives; an unknown op's reply was never seen.
std::optional<Value> step(Value state, const Op& op);

/// Why an acknowledged op cannot take effect in `state` ("GET replied 5 but the value was 7").
std::string mismatch(Value state, const Op& op, const Interner& values);

}  // namespace raftd::lincheck
