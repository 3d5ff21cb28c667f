// Small text helpers every part of server/ shares: ASCII case folding as Redis does it (command
// names, options and subcommands are case-insensitive ASCII; keys and values never are). Redis
// folds with tolower/toupper in the C locale (it only ever sets LC_COLLATE), which touch the 26
// ASCII letters and nothing else: exactly what these do, whatever locale the process runs in.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace raftd {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline char ascii_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

/// Case-insensitive ASCII equality of the whole views, a NUL byte being an ordinary byte (a
/// command name, looked up binary-safe as Redis does). For an option, which Redis strcasecmp's
/// as a C string, compare until_nul(arg).
inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

/// What Redis's addReplyErrorFormat does to a formatted error: CR/LF trimmed at both ends and
/// mapped to spaces inside, so the error stays one protocol line.
inline std::string one_line(std::string s) {
  const auto first = s.find_first_not_of("\r\n");
  if (first == std::string::npos) return {};
  s.erase(0, first);
  s.erase(s.find_last_not_of("\r\n") + 1);
  for (char& c : s) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return s;
}

inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

inline std::string ascii_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_upper(c);
  return out;
}

/// `text` up to its first NUL byte: what a C string function (strcasecmp, printf "%s") sees of
/// it. Redis reads command options as C strings, so "nx\0junk" is the option NX there; compare
/// an option as iequals(until_nul(arg), "nx") to answer the same.
inline std::string_view until_nul(std::string_view text) {
  return text.substr(0, text.find('\0'));
}

}  // namespace raftd
