#include "server/keyspace/glob.h"

#include <cstddef>
#include <utility>

#include "server/text.h"

namespace raftd {

namespace {

// Redis walks NUL-terminated sds strings and may look one byte past the logical end (where the
// terminator is). We emulate that terminator instead of reading out of bounds.
struct Cursor {
  std::string_view s;
  std::size_t i = 0;
  std::size_t left() const { return s.size() - i; }
  char at(std::size_t k = 0) const { return i + k < s.size() ? s[i + k] : '\0'; }
};

// A byte as stringmatchlen compares it; nocase folds as its tolower() in the C locale: ASCII
// letters only, never a byte >= 0x80.
int fold(char c, bool nocase) {
  return static_cast<unsigned char>(nocase ? ascii_lower(c) : c);
}

// Returns true on match. `give_up` is set once the rest of the pattern after a '*' failed to
// match anywhere in the remaining string: no longer match for an earlier '*' can help then.
bool match(Cursor p, Cursor s, bool nocase, bool& give_up, int nesting) {
  if (nesting > 1000) return false;
  while (p.left() > 0 && s.left() > 0) {
    switch (p.at()) {
      case '*': {
        while (p.left() > 0 && p.at(1) == '*') ++p.i;
        if (p.left() == 1) return true;
        while (s.left() > 0) {
          Cursor rest = p;
          ++rest.i;
          if (match(rest, s, nocase, give_up, nesting + 1)) return true;
          if (give_up) return false;
          ++s.i;
        }
        give_up = true;
        return false;
      }
      case '?':
        ++s.i;
        break;
      case '[': {
        ++p.i;
        const bool negate = p.at() == '^';
        if (negate) ++p.i;
        bool matched = false;
        for (;;) {
          if (p.at() == '\\' && p.left() >= 2) {
            ++p.i;
            if (p.at() == s.at()) matched = true;
          } else if (p.at() == ']') {
            break;
          } else if (p.left() == 0) {
            --p.i;  // unterminated set: the outer step consumes its last byte
            break;
          } else if (p.left() >= 3 && p.at(1) == '-') {
            // Ends are ordered before folding, as Redis does: [Z-a] with nocase is then
            // ['z', 'a'], which holds nothing.
            int lo = fold(p.at(), false);
            int hi = fold(p.at(2), false);
            if (lo > hi) std::swap(lo, hi);
            lo = fold(static_cast<char>(lo), nocase);
            hi = fold(static_cast<char>(hi), nocase);
            const int c = fold(s.at(), nocase);
            p.i += 2;
            if (c >= lo && c <= hi) matched = true;
          } else if (fold(p.at(), nocase) == fold(s.at(), nocase)) {
            matched = true;
          }
          ++p.i;
        }
        if (negate) matched = !matched;
        if (!matched) return false;
        ++s.i;
        break;
      }
      case '\\':
        if (p.left() >= 2) ++p.i;
        [[fallthrough]];
      default:
        if (fold(p.at(), nocase) != fold(s.at(), nocase)) return false;
        ++s.i;
        break;
    }
    ++p.i;
    if (s.left() == 0) {
      while (p.at() == '*') ++p.i;
      break;
    }
  }
  return p.left() == 0 && s.left() == 0;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view str, bool nocase) {
  bool give_up = false;
  return match(Cursor{pattern}, Cursor{str}, nocase, give_up, 0);
}

}  // namespace raftd
