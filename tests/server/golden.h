// Golden scripts: tests/server/golden/*.txt hold commands and the exact replies Redis 7.0 gives.
// The same files are checked against a real redis-server by redis_oracle.py (a development
// tool; the tests themselves never need Redis).
//
//   # comment                      (where a command is expected; blank lines too)
//   @now 1700000000000             set the clock (ours only: a real Redis keeps its own)
//   @advance 150                   move the clock; the oracle sleeps that long
//   > SET k "a b" EX 10            a command, split like redis-cli (quotes, \xHH escapes)
//   >~ PTTL k                      a command whose reply depends on the exact clock: the
//                                  oracle sends it but does not compare
//   +OK                            the reply, one RESP line per line (no \r), framed by RESP
//                                  itself: "$3" takes the next line, "*2" two elements
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace raftd::test {

struct GoldenStep {
  enum Kind { kCommand, kSetNow, kAdvance } kind = kCommand;
  int line = 0;
  std::vector<std::string> args;  // kCommand
  std::string expected;           // kCommand: exact RESP bytes
  bool clock_dependent = false;   // ">~"
  std::int64_t value = 0;         // kSetNow, kAdvance
};

/// Parses a golden file's text; on a malformed file returns false with `error` set.
bool parse_golden(const std::string& text, std::vector<GoldenStep>& steps, std::string& error);

/// redis-cli style splitting (sdssplitargs): false on unbalanced quotes.
bool split_args(const std::string& line, std::vector<std::string>& args);

}  // namespace raftd::test
