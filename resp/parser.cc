#include "resp/parser.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace resp {
namespace {

constexpr std::string_view kTooBigMbulk = "Protocol error: too big mbulk count string";
constexpr std::string_view kTooBigBulk = "Protocol error: too big bulk count string";
constexpr std::string_view kTooBigInline = "Protocol error: too big inline request";
constexpr std::string_view kInvalidMbulk = "Protocol error: invalid multibulk length";
constexpr std::string_view kInvalidBulk = "Protocol error: invalid bulk length";
constexpr std::string_view kUnbalanced = "Protocol error: unbalanced quotes in request";

// Same acceptance as Redis's string2ll, so that "+1", "01", "-0", "" and 21-character numbers
// are refused exactly where Redis refuses them.
inline bool parse_ll(const char* p, std::size_t n, std::int64_t* value) {
  if (n == 0 || n > 20) return false;
  std::size_t i = 0;
  const bool negative = p[0] == '-';
  if (negative && ++i == n) return false;
  if (p[i] == '0') {  // only "0" itself may start with a zero
    *value = 0;
    return n == 1;
  }
  std::uint64_t v = 0;
  if (n - i <= 18) {  // cannot overflow: the hot path (every length and count)
    for (; i < n; ++i) {
      const unsigned d = static_cast<unsigned char>(p[i]) - static_cast<unsigned>('0');
      if (d > 9) return false;
      v = v * 10 + d;
    }
  } else {
    for (; i < n; ++i) {
      const unsigned d = static_cast<unsigned char>(p[i]) - static_cast<unsigned>('0');
      if (d > 9 || __builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, d, &v)) {
        return false;
      }
    }
  }
  if (negative) {
    if (v > static_cast<std::uint64_t>(INT64_MAX) + 1) return false;
    *value = static_cast<std::int64_t>(0 - v);
  } else {
    if (v > static_cast<std::uint64_t>(INT64_MAX)) return false;
    *value = static_cast<std::int64_t>(v);
  }
  return true;
}

// The first `c` in [p, end), or nullptr. Header lines are a few bytes ("$3\r"), where a plain
// loop beats a call to memchr; long runs still go to memchr.
inline const char* find_byte(const char* p, const char* end, char c) {
  const char* stop = end - p > 32 ? p + 32 : end;
  for (; p < stop; ++p) {
    if (*p == c) return p;
  }
  if (p == end) return nullptr;
  return static_cast<const char*>(std::memchr(p, c, static_cast<std::size_t>(end - p)));
}

// isspace() in the C locale, which sdssplitargs uses to skip blanks and to accept what
// follows a closing quote.
bool is_space(unsigned char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

// Bytes that end an unquoted inline word, or open a quote inside it.
constexpr auto kStopsWord = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : {' ', '\n', '\r', '\t', '"', '\''}) t[c] = true;
  return t;
}();

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Parser::Parser(Limits limits) : limits_(limits) {
  grow_spans();
}

void Parser::reset() {
  error_.clear();
  restart();
}

void Parser::restart() {
  kind_ = Kind::kNone;
  multibulk_left_ = 0;
  bulk_len_ = -1;
  cmd_start_ = 0;
  pos_ = 0;
  scan_ = 0;
  nspans_ = 0;
}

Parser::Step Parser::fail(std::string_view text) {
  error_.assign("ERR ");
  error_.append(text);
  return Step::kError;
}

ParseStatus Parser::parse(std::string_view buf, Command& out) {
  out.args.clear();
  out.consumed = 0;
  if (!error_.empty()) return ParseStatus::kError;
  if (buf.size() < scan_) {
    // The caller dropped bytes it had not been told were consumed: every offset we hold is
    // now wrong and continuing would hand out garbage arguments.
    std::fprintf(stderr, "resp::Parser: buffer shrank to %zu bytes below scanned offset %zu\n",
                 buf.size(), scan_);
    std::abort();
  }
  for (;;) {
    if (kind_ == Kind::kNone) {
      if (pos_ == buf.size()) {
        // Everything was blank lines or empty arrays: hand them back to drop.
        out.consumed = pos_;
        pos_ = 0;
        scan_ = 0;
        return ParseStatus::kNeedMore;
      }
      kind_ = buf[pos_] == '*' ? Kind::kMultibulk : Kind::kInline;
      cmd_start_ = pos_;
      scan_ = pos_;
    }
    const Step step = kind_ == Kind::kMultibulk ? parse_multibulk(buf) : parse_inline(buf);
    if (step == Step::kNeedMore) {
      if (cmd_start_ > 0) {
        // Blank lines or empty arrays were skipped in front of an incomplete command. Report
        // them as consumed so keepalive newlines do not pile up in the caller's buffer, and
        // restart the incomplete command from its first byte next time: that is right whether
        // or not the caller drops them (if it does not, they are simply skipped again), and it
        // costs one rescan, once, since nothing can be skipped in front of it after this.
        out.consumed = cmd_start_;
        restart();
      }
      return ParseStatus::kNeedMore;
    }
    if (step == Step::kError) return ParseStatus::kError;
    kind_ = Kind::kNone;
    if (step == Step::kSkipped) continue;

    out.args.resize(nspans_);
    for (std::size_t i = 0; i < nspans_; ++i) {
      const Span& s = spans_[i];
      out.args[i] =
          std::string_view((s.owned ? unescaped_.data() : buf.data()) + s.offset, s.length);
    }
    out.consumed = pos_;
    restart();
    return ParseStatus::kOk;
  }
}

namespace {

enum class Line : std::uint8_t { kFound, kIncomplete, kTooLong };

// Looks for the '\r' ending the header line that starts at `pos`, resuming at `scan` (below
// which there is none). Redis needs the byte after '\r' to be there too (it skips it unread).
inline Line find_header_end(const char* data, std::size_t size, std::size_t pos, std::size_t& scan,
                            std::size_t max_len, std::size_t& cr) {
  const char* hit = find_byte(data + scan, data + size, '\r');
  if (hit == nullptr) {
    scan = size;
    return size - pos > max_len ? Line::kTooLong : Line::kIncomplete;
  }
  const std::size_t at = static_cast<std::size_t>(hit - data);
  scan = at;
  if (at - pos > max_len) return Line::kTooLong;
  if (at + 1 >= size) return Line::kIncomplete;
  cr = at;
  return Line::kFound;
}

}  // namespace

Parser::Step Parser::parse_multibulk(std::string_view buf) {
  // Members are copied to locals for the loop and stored back on every exit: stores into
  // spans_ could otherwise alias them and force reloads on the hot path.
  const char* const data = buf.data();
  const std::size_t size = buf.size();
  const std::size_t max_line = limits_.max_inline_len;
  std::size_t pos = pos_;
  std::size_t scan = scan_;
  std::size_t cr = 0;
  std::int64_t ll = 0;
  if (multibulk_left_ == 0) {
    const Line line = find_header_end(data, size, pos, scan, max_line, cr);
    scan_ = scan;
    if (line == Line::kIncomplete) return Step::kNeedMore;
    if (line == Line::kTooLong) return fail(kTooBigMbulk);
    if (!parse_ll(data + pos + 1, cr - pos - 1, &ll) ||
        (ll > 0 && static_cast<std::uint64_t>(ll) > limits_.max_multibulk_len)) {
      return fail(kInvalidMbulk);
    }
    pos_ = scan_ = pos = scan = cr + 2;
    if (ll <= 0) return Step::kSkipped;  // "*0", "*-1": Redis resets the client, no command
    multibulk_left_ = ll;
    bulk_len_ = -1;
    nspans_ = 0;
  }
  std::int64_t left = multibulk_left_;
  std::int64_t bulk_len = bulk_len_;
  std::size_t n = nspans_;
  Step step = Step::kDone;
  while (left > 0) {
    if (bulk_len < 0) {
      const Line line = find_header_end(data, size, pos, scan, max_line, cr);
      if (line != Line::kFound) {
        step = line == Line::kIncomplete ? Step::kNeedMore : fail(kTooBigBulk);
        break;
      }
      if (data[pos] != '$') {
        // Redis formats this with %c and maps \r and \n to spaces so the reply stays one line.
        // A NUL cannot get here in Redis (its strchr stops at it); it becomes a space too.
        char text[] = "Protocol error: expected '$', got 'x'";
        const char c = data[pos];
        text[sizeof(text) - 3] = (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
        step = fail(std::string_view(text, sizeof(text) - 1));
        break;
      }
      if (!parse_ll(data + pos + 1, cr - pos - 1, &ll) || ll < 0 ||
          static_cast<std::uint64_t>(ll) > limits_.max_bulk_len) {
        step = fail(kInvalidBulk);
        break;
      }
      pos = cr + 2;
      bulk_len = ll;
    }
    // The payload is never searched, so a huge bulk arriving in pieces costs O(1) per call.
    const std::uint64_t need = static_cast<std::uint64_t>(bulk_len) + 2;
    if (size - pos < need) {
      step = Step::kNeedMore;
      break;
    }
    if (n == spans_.size()) grow_spans();
    spans_[n++] = Span{pos, static_cast<std::size_t>(bulk_len), false};
    pos += static_cast<std::size_t>(need);
    scan = pos;
    bulk_len = -1;
    --left;
  }
  pos_ = pos;
  scan_ = bulk_len < 0 ? scan : pos;
  multibulk_left_ = left;
  bulk_len_ = bulk_len;
  nspans_ = n;
  return step;
}

void Parser::grow_spans() {
  spans_.resize(spans_.empty() ? 16 : spans_.size() * 2);
}

void Parser::add_span(std::size_t offset, std::size_t length, bool owned) {
  if (nspans_ == spans_.size()) grow_spans();
  spans_[nspans_++] = Span{offset, length, owned};
}

Parser::Step Parser::parse_inline(std::string_view buf) {
  const void* hit = nullptr;
  if (scan_ < buf.size()) hit = std::memchr(buf.data() + scan_, '\n', buf.size() - scan_);
  if (hit == nullptr) {
    scan_ = buf.size();
    if (buf.size() - pos_ > limits_.max_inline_len) return fail(kTooBigInline);
    return Step::kNeedMore;
  }
  const std::size_t nl = static_cast<std::size_t>(static_cast<const char*>(hit) - buf.data());
  scan_ = nl;
  if (nl - pos_ > limits_.max_inline_len) return fail(kTooBigInline);
  std::size_t end = nl;
  if (end > pos_ && buf[end - 1] == '\r') --end;
  if (!split_inline(buf, pos_, end)) return fail(kUnbalanced);
  pos_ = nl + 1;
  scan_ = pos_;
  return nspans_ == 0 ? Step::kSkipped : Step::kDone;
}

// sdssplitargs over buf[begin, end). Words without quotes stay views into buf; a word with a
// quote is rebuilt (unquoted, unescaped) in unescaped_.
bool Parser::split_inline(std::string_view buf, std::size_t begin, std::size_t end) {
  nspans_ = 0;
  unescaped_.clear();
  const auto* b = reinterpret_cast<const unsigned char*>(buf.data());
  std::size_t i = begin;
  for (;;) {
    while (i < end && is_space(b[i])) ++i;
    if (i == end) return true;

    const std::size_t start = i;
    bool in_dq = false;
    bool in_sq = false;
    // A quote can open in the middle of a word (foo"bar baz"), and a closing quote ends the
    // word, so a word is either wholly unquoted (borrowed) or owned from its first quote on.
    bool owned = false;
    std::size_t owned_offset = 0;
    auto take_ownership = [&] {
      owned = true;
      owned_offset = unescaped_.size();
      unescaped_.append(buf.data() + start, i - start);
    };
    for (bool done = false; !done;) {
      if (in_dq) {
        if (i == end) return false;  // unterminated quotes
        const unsigned char c = b[i];
        if (c == '\\' && i + 3 < end && b[i + 1] == 'x' && hex_value(b[i + 2]) >= 0 &&
            hex_value(b[i + 3]) >= 0) {
          unescaped_.push_back(static_cast<char>(hex_value(b[i + 2]) * 16 + hex_value(b[i + 3])));
          i += 3;
        } else if (c == '\\' && i + 1 < end) {
          ++i;
          char e;
          switch (b[i]) {
            case 'n':
              e = '\n';
              break;
            case 'r':
              e = '\r';
              break;
            case 't':
              e = '\t';
              break;
            case 'b':
              e = '\b';
              break;
            case 'a':
              e = '\a';
              break;
            default:
              e = static_cast<char>(b[i]);
              break;
          }
          unescaped_.push_back(e);
        } else if (c == '"') {
          // The closing quote must be followed by a blank or the end of the line.
          if (i + 1 < end && !is_space(b[i + 1])) return false;
          done = true;
        } else {
          unescaped_.push_back(static_cast<char>(c));
        }
      } else if (in_sq) {
        if (i == end) return false;  // unterminated quotes
        const unsigned char c = b[i];
        if (c == '\\' && i + 1 < end && b[i + 1] == '\'') {
          ++i;
          unescaped_.push_back('\'');
        } else if (c == '\'') {
          if (i + 1 < end && !is_space(b[i + 1])) return false;
          done = true;
        } else {
          unescaped_.push_back(static_cast<char>(c));
        }
      } else {
        // Unquoted: run to a word end or a quote. Only ' ', \n, \r, \t end a word (\v and \f
        // do not, although they are skipped between words): sdssplitargs's exact rule.
        while (i < end && !kStopsWord[b[i]]) ++i;
        if (i == end || (b[i] != '"' && b[i] != '\'')) {
          add_span(start, i - start, false);
          done = true;
        } else {
          take_ownership();
          (b[i] == '"' ? in_dq : in_sq) = true;
        }
      }
      if (i < end) ++i;
    }
    if (owned) add_span(owned_offset, unescaped_.size() - owned_offset, true);
  }
}

}  // namespace resp
