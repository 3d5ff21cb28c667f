// Glob matching beyond the golden probes: binary data, nocase, and abusive patterns.
#include "server/keyspace/glob.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

namespace raftd::test {

TEST_CASE("glob basics") {
  // Redis quirk kept: a pattern never matches an empty string (KEYS * short-cuts it).
  CHECK_FALSE(glob_match("*", ""));
  CHECK(glob_match("", ""));
  CHECK_FALSE(glob_match("", "a"));
  CHECK_FALSE(glob_match("?", ""));
  CHECK(glob_match("h?llo", "hello"));
  CHECK(glob_match("h*llo", "hllo"));
  CHECK(glob_match("h[ae]llo", "hallo"));
  CHECK_FALSE(glob_match("h[^e]llo", "hello"));
  CHECK(glob_match("h[a-b]llo", "hbllo"));
  CHECK(glob_match("h[b-a]llo", "hbllo"));  // reversed range
  CHECK(glob_match("a\\*b", "a*b"));
  CHECK_FALSE(glob_match("a\\*b", "axb"));
  CHECK(glob_match("[abc", "a"));   // unterminated set
  CHECK(glob_match("x\\", "x\\"));  // trailing backslash is literal
}

TEST_CASE("glob is binary safe and has a nocase mode") {
  const std::string key("a\0b", 3);
  CHECK(glob_match(std::string("a\0b", 3), key));
  CHECK(glob_match("a?b", key));
  CHECK_FALSE(glob_match("a", key));
  CHECK(glob_match("*\xff", "x\xff"));
  CHECK(glob_match("[\x80-\xff]", "\xc3"));
  CHECK(glob_match("HeLLo", "hello", true));
  CHECK(glob_match("[A-C]x", "bx", true));
  CHECK_FALSE(glob_match("HeLLo", "hello"));
  // nocase folds as tolower() in the C locale: ASCII letters only.
  CHECK_FALSE(glob_match("\xc0", "\xe0", true));
  CHECK(glob_match("[\xc0-\xc1]", "\xc1", true));
  CHECK_FALSE(glob_match("[\xc0-\xc1]", "\xe1", true));
  // A range's ends are ordered, then folded (CONFIG GET "[Z-a]ppendonly" finds nothing in Redis
  // 7.0): [Z-a] holds '_' as is, and nothing at all with nocase.
  CHECK(glob_match("[Z-a]", "_"));
  CHECK_FALSE(glob_match("[Z-a]", "_", true));
  CHECK_FALSE(glob_match("[Z-a]", "a", true));
  CHECK(glob_match("[A-a]", "a", true));
  CHECK(glob_match("[a-A]", "A", true));
}

TEST_CASE("abusive patterns finish quickly") {
  const std::string text(10000, 'a');
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "*a";
  CHECK_FALSE(glob_match(deep + "b", text));  // nesting limit, as Redis
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < std::chrono::seconds(2));
}

}  // namespace raftd::test
