// Small text helpers every part of server/ shares: ASCII case folding as Redis does it (command
// names, options and subcommands are case-insensitive ASCII; keys and values never are).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace raftd {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// Case-insensitive ASCII equality (Redis's strcasecmp on a command name or option).
inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace raftd
