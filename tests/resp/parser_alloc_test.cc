// The parser must not allocate per command once warmed up: its argument spans, the caller's
// args vector and the inline unescape buffer are all reused. Counted by replacing the global
// operator new for this test binary.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <new>
#include <string>

#include "resp/parser.h"

namespace {
std::size_t g_allocations = 0;
}  // namespace

// Every plain and nothrow form is replaced, so memory is never freed by a different
// allocator than the one that made it (ASan checks that).
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return operator new(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
  return operator new(n, t);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace {

std::string pipeline() {
  std::string s;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "key:" + std::to_string(i);
    s += "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n$100\r\n" +
         std::string(100, 'v') + "\r\n";
    s += "GET " + key + "\r\n";
    s += "SET \"" + key + "\\x00\" 'it\\'s'\n";
    s += "\r\n*0\r\n";
  }
  return s;
}

// Parses all of `input` in `piece`-byte reads the way a connection would (append, parse until
// kNeedMore, drop consumed bytes), returning the number of commands.
std::size_t run(resp::Parser& parser, resp::Command& cmd, std::string& pending,
                const std::string& input, std::size_t piece) {
  std::size_t commands = 0;
  for (std::size_t at = 0; at < input.size(); at += piece) {
    pending.append(input, at, piece);
    resp::ParseStatus st;
    while ((st = parser.parse(pending, cmd)) == resp::ParseStatus::kOk) {
      ++commands;
      pending.erase(0, cmd.consumed);
    }
    REQUIRE(st == resp::ParseStatus::kNeedMore);
    pending.erase(0, cmd.consumed);  // skipped blank lines
  }
  return commands;
}

}  // namespace

TEST_CASE("no allocation per command in steady state", "[resp][parser]") {
  const std::string input = pipeline();
  for (std::size_t piece : {input.size(), std::size_t{4096}, std::size_t{13}, std::size_t{1}}) {
    resp::Parser parser;
    resp::Command cmd;
    std::string pending;
    pending.reserve(input.size());
    REQUIRE(run(parser, cmd, pending, input, piece) == 600);  // warm-up: vectors grow here
    REQUIRE(pending.empty());
    const std::size_t before = g_allocations;
    const std::size_t commands = run(parser, cmd, pending, input, piece);
    const std::size_t allocations = g_allocations - before;
    REQUIRE(commands == 600);
    INFO("piece size " << piece);
    REQUIRE(allocations == 0);
  }
}
