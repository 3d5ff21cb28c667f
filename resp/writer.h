// RESP2 reply encoding. Appends to a caller-owned buffer so a whole pipeline of replies
// goes out in one write.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace resp {

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  /// +text\r\n  (text must not contain \r or \n)
  void simple(std::string_view text) { line('+', text); }
  /// -text\r\n  `text` is the whole message, prefix included, e.g. "ERR syntax error".
  void error(std::string_view text) { line('-', text); }
  /// :n\r\n
  void integer(std::int64_t n) { number(':', n); }
  /// $len\r\nbytes\r\n
  void bulk(std::string_view bytes) {
    number('$', static_cast<std::int64_t>(bytes.size()));
    out_.append(bytes);
    out_.append("\r\n", 2);
  }
  /// $-1\r\n (RESP2 null bulk)
  void null() { out_.append("$-1\r\n", 5); }
  /// *-1\r\n (RESP2 null array)
  void null_array() { out_.append("*-1\r\n", 5); }
  /// *n\r\n; the caller then writes n elements.
  void array(std::size_t n) { number('*', static_cast<std::int64_t>(n)); }
  /// Bulk string holding a long double the way Redis prints INCRBYFLOAT results (ld2string in
  /// LD_STR_HUMAN mode: "%.17Lf", then trailing zeros and a bare '.' removed, "-0" -> "0").
  void bulk_double(long double value);
  /// Appends already-encoded RESP (e.g. a reply produced by apply on another node).
  void raw(std::string_view encoded) { out_.append(encoded); }
  void ok() { out_.append("+OK\r\n", 5); }

  std::string& buffer() { return out_; }

 private:
  void line(char prefix, std::string_view text) {
    out_.push_back(prefix);
    out_.append(text);
    out_.append("\r\n", 2);
  }
  void number(char prefix, std::int64_t n) {
    char buf[24];
    buf[0] = prefix;
    auto [end, ec] = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n);
    (void)ec;  // 21 chars always fit an int64
    *end++ = '\r';
    *end++ = '\n';
    out_.append(buf, static_cast<std::size_t>(end - buf));
  }

  std::string& out_;
};

}  // namespace resp
