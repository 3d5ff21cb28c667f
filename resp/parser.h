// Incremental RESP2 request parser: arrays of bulk strings (what clients send) and inline
// commands (what telnet sends). No allocation per command on the hot path, no exceptions,
// no dependence on the server or on Asio.
//
// Contract (implemented in parser.cc):
//   - parse(buf, out) looks at `buf`, which always starts at the first byte the caller has not
//     consumed yet. The caller keeps unconsumed bytes at the front of its buffer and appends new
//     bytes behind them; it may reallocate between calls (the parser keeps offsets, not pointers).
//   - kOk: one command is complete. out.args are views into `buf` or into the parser (for
//     unescaped inline words), valid until the next parse() call or until buf changes;
//     out.consumed is how many bytes of buf it used; the caller drops them before the next call.
//     Empty inline lines and "*0"/"*-1" headers are skipped silently (consumed, no command).
//   - kNeedMore: nothing complete yet; call again with more bytes appended.
//   - kError: error() holds Redis's text, e.g. "Protocol error: invalid bulk length"; the caller
//     writes it as an error reply and closes the connection after flushing (as Redis does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace resp {

struct Limits {
  std::size_t max_bulk_len = 512ull * 1024 * 1024;     ///< Redis proto-max-bulk-len
  std::size_t max_multibulk_len = 1024 * 1024 * 1024;  ///< elements per array (Redis: INT_MAX)
  std::size_t max_inline_len = 64 * 1024;              ///< Redis PROTO_INLINE_MAX_SIZE
};

enum class ParseStatus { kOk, kNeedMore, kError };

struct Command {
  std::vector<std::string_view> args;  ///< args[0] is the command name, as sent (any case)
  std::size_t consumed = 0;
};

class Parser {
 public:
  explicit Parser(Limits limits = {});

  ParseStatus parse(std::string_view buf, Command& out);
  std::string_view error() const { return error_; }
  /// Forget any partial command (e.g. on a new connection).
  void reset();
  const Limits& limits() const { return limits_; }

 private:
  // Implementation state is the resp helper's to design; kept private.
  Limits limits_;
  std::string error_;
  // Multibulk progress, kept as offsets so the caller may reallocate its buffer.
  std::int64_t multibulk_left_ = 0;  // elements still to read in the current array (0: none)
  std::int64_t bulk_len_ = -1;       // length of the bulk being read (-1: header not read yet)
  std::size_t pos_ = 0;              // bytes of buf already scanned for the current command
  std::vector<std::pair<std::size_t, std::size_t>> spans_;  // (offset, length) of parsed args
  std::vector<std::string> inline_storage_;                 // unescaped inline args (quotes, \xHH)
};

}  // namespace resp
