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
//   - kNeedMore: no command complete yet; call again with more bytes appended. out.args is
//     empty. out.consumed is usually 0; it is > 0 only when blank lines or empty arrays were
//     skipped in front of the incomplete rest: the caller should drop those bytes too, as after
//     kOk, so an idle client's keepalive newlines do not pile up (keeping them is also correct:
//     they are skipped again). Progress is remembered as offsets, so a 100 MB bulk string fed
//     in 4 KB pieces costs O(piece) per call, not O(bytes so far).
//   - kError: error() holds Redis's text, e.g. "Protocol error: invalid bulk length";
//     error_reply() is the same with Redis's "ERR " prefix, ready for Writer::error(). The
//     caller writes `-ERR Protocol error: ...\r\n` (exactly what redis-server sends), flushes
//     the replies of the commands before it, and closes the connection, as Redis does
//     (CLIENT_CLOSE_AFTER_REPLY). The error is sticky: later parse() calls return kError again
//     until reset().
//
// The first byte of a command decides its form, as in Redis's processInputBuffer: '*' starts
// an array of bulk strings, anything else an inline line.
//
// Arrays follow Redis 7.0 processMultibulkBuffer: header lines end at '\r' and the byte after
// it is skipped unchecked, as are the two bytes after a bulk payload; lengths are parsed like
// string2ll (optional '-', no '+', no leading zeros, at most 20 characters). A count <= 0
// skips the header; a count above Limits::max_multibulk_len (INT_MAX by default) is "invalid
// multibulk length"; a negative bulk length or one above max_bulk_len is "invalid bulk
// length"; an element not starting with '$' is "expected '$', got 'c'".
//
// Inline lines follow processInlineBuffer + sdssplitargs: a line ends at '\n' (a '\r' before
// it is dropped), words are split on blanks, "double quotes" know \n \r \t \b \a \xHH and
// backslash-anything, 'single quotes' know only \', a closing quote must be followed by a
// blank or the end of the line, otherwise "unbalanced quotes in request".
//
// Line length limits ("too big mbulk count string", "too big bulk count string", "too big
// inline request"), made independent of how the bytes were split into reads: Redis rejects a
// line once more than max_inline_len (64 KB) bytes are buffered without its terminator; we
// reject exactly when the line (bytes before the '\r' of a header, before the '\n' of an
// inline line) is longer than max_inline_len, whether or not the terminator has arrived. Redis,
// reading 16 KB at a time, behaves the same in practice; only a >64 KB line delivered in one
// read differs (Redis would accept such an inline line, and call such a header an invalid
// length, which it is anyway).
//
// Deliberate difference from Redis: bytes are binary-safe everywhere. Redis's strchr stops at
// a NUL in the query buffer, so an inline line holding a NUL never completes there; here NUL
// is an ordinary byte of a word.
//
// Not done here: the total per-client buffer cap (Redis client-query-buffer-limit, 1 GB) is
// the caller's, since a single legal bulk may be max_bulk_len (512 MB) long.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace resp {

struct Limits {
  std::size_t max_bulk_len = 512ull * 1024 * 1024;  ///< Redis proto-max-bulk-len
  /// Elements per array; Redis 7 refuses counts above INT_MAX.
  std::size_t max_multibulk_len = static_cast<std::size_t>(std::numeric_limits<int>::max());
  std::size_t max_inline_len = 64 * 1024;  ///< Redis PROTO_INLINE_MAX_SIZE
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
  /// Redis's protocol error text, e.g. "Protocol error: invalid bulk length"; empty if none.
  std::string_view error() const {
    return error_.empty() ? std::string_view() : std::string_view(error_).substr(4);
  }
  /// The error as Redis puts it on the wire (without '-' and CRLF):
  /// "ERR Protocol error: invalid bulk length". Pass it to Writer::error().
  std::string_view error_reply() const { return error_; }
  /// After kNeedMore: the buffer length (counted from the start of the last `buf`) that the bulk
  /// being read needs to complete, or 0 when no bulk header has been read. A caller may size
  /// its buffer once for a big value instead of growing it step by step.
  std::size_t bytes_wanted() const {
    return bulk_len_ < 0 ? 0 : pos_ + static_cast<std::size_t>(bulk_len_) + 2;
  }
  /// Forget any partial command and any error (e.g. on a new connection).
  void reset();
  const Limits& limits() const { return limits_; }

 private:
  enum class Kind : std::uint8_t { kNone, kMultibulk, kInline };
  enum class Step : std::uint8_t { kDone, kSkipped, kNeedMore, kError };
  /// Where one argument lives: in the caller's buffer or in unescaped_.
  struct Span {
    std::size_t offset;
    std::size_t length;
    bool owned;  ///< true: offset is into unescaped_ (an inline word that had quotes)
  };

  Step parse_multibulk(std::string_view buf);
  Step parse_inline(std::string_view buf);
  bool split_inline(std::string_view buf, std::size_t begin, std::size_t end);
  void add_span(std::size_t offset, std::size_t length, bool owned);
  [[gnu::noinline]] void grow_spans();
  [[gnu::cold]] Step fail(std::string_view text);
  void restart();  // forget the command in progress (not the error)

  Limits limits_;
  std::string error_;  // "ERR Protocol error: ..." once failed; empty otherwise
  Kind kind_ = Kind::kNone;
  // Multibulk progress, kept as offsets so the caller may reallocate its buffer.
  std::int64_t multibulk_left_ = 0;  // elements still to read in the current array (0: none)
  std::int64_t bulk_len_ = -1;       // length of the bulk being read (-1: header not read yet)
  std::size_t cmd_start_ = 0;        // where the command in progress starts in buf
  std::size_t pos_ = 0;              // start of the first unparsed line/element in buf
  std::size_t scan_ = 0;             // buf[pos_, scan_) holds no terminator of the current line
  std::vector<Span> spans_;          // arguments of the command being parsed: [0, nspans_)
  std::size_t nspans_ = 0;           // (spans_ only grows, so no per-command allocation)
  std::string unescaped_;            // bytes of inline words that had quotes or escapes
};

}  // namespace resp
