// The history format the fault runner writes and the checker reads: one event per line.
//
//   # any comment (the runner logs its faults as "# nemesis ...")
//   invoke ID PROCESS TIME_NS KEY OP [ARG]     OP: get set setnx setxx getset incr del
//   ok ID TIME_NS RESULT                       RESULT: nil | OK | int:N | val:BYTES |
//   err[:MESSAGE...] fail ID TIME_NS [REASON...]                certainly not applied (CLUSTERDOWN,
//   MOVED) unknown ID TIME_NS [REASON...]             may or may not have been applied (TIMEOUT,
//   I/O) quiesce TIME_NS                            everything invoked before has taken effect or
//   never will
//
// KEY, ARG and BYTES are percent-escaped (%XX for '%', spaces, control and non-ASCII bytes).
// Times are monotonic nanoseconds from one clock. An invoke without a completion is unknown.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/lincheck/value.h"

namespace raftd::lincheck {

enum class OpKind : std::uint8_t { kGet, kSet, kSetNx, kSetXx, kGetSet, kIncr, kDel };
enum class Outcome : std::uint8_t { kOk, kFail, kUnknown };

/// What an acknowledged command replied.
struct Reply {
  enum class Kind : std::uint8_t { kNil, kOk, kInt, kValue, kErr };
  Kind kind = Kind::kNil;
  std::int64_t integer = 0;  ///< kInt
  Value value;               ///< kValue
};

struct Op {
  std::uint64_t id = 0;
  std::string process;
  std::string key;
  OpKind kind = OpKind::kGet;
  Value arg;  ///< the written value (set, setnx, setxx, getset)
  std::int64_t invoke_ns = 0;
  std::int64_t complete_ns = 0;  ///< when the reply (or the give-up) came; unknown ops: ignored
  Outcome outcome = Outcome::kUnknown;
  Reply reply;  ///< kOk only
  int line = 0;
};

struct History {
  std::vector<Op> ops;  ///< in invoke order of the file
  std::optional<std::int64_t> quiesce_ns;
  Interner values;
};

/// Parses a history; false with "line N: reason" in `error` on malformed input.
bool parse_history(const std::string& text, History& out, std::string& error);

/// Reverses the percent-escaping of keys and values.
bool unescape(const std::string& in, std::string& out);

std::string_view op_name(OpKind k);
/// One readable line for reports: "#12 p3 set 1000 -> OK [1.204500..1.207100]".
std::string describe(const Op& op, const Interner& values, std::int64_t t0_ns);

}  // namespace raftd::lincheck
