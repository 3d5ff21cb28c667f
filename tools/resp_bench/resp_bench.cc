// Parser micro-benchmark: pipelined `SET key:N <value>` commands parsed from memory, in three
// ways: one big buffer; the same bytes arriving in 16 KB reads through a connection-style
// buffer (append, parse until kNeedMore, compact); and the inline (telnet) form.
// Prints MB/s and commands/s of the best of --rounds runs.
//
//   resp_bench [--commands N] [--value-size BYTES] [--rounds R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "resp/parser.h"

namespace {

struct Options {
  std::size_t commands = 1000000;
  std::size_t value_size = 100;
  int rounds = 5;
};

std::string make_multibulk(const Options& o) {
  std::string s;
  const std::string value(o.value_size, 'v');
  char key[32];
  for (std::size_t i = 0; i < o.commands; ++i) {
    const int n = std::snprintf(key, sizeof(key), "key:%012zu", i);
    s += "*3\r\n$3\r\nSET\r\n$" + std::to_string(n) + "\r\n";
    s.append(key, static_cast<std::size_t>(n));
    s += "\r\n$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  }
  return s;
}

std::string make_inline(const Options& o) {
  std::string s;
  const std::string value(o.value_size, 'v');
  char key[32];
  for (std::size_t i = 0; i < o.commands; ++i) {
    std::snprintf(key, sizeof(key), "key:%012zu", i);
    s += "SET ";
    s += key;
    s += " " + value + "\r\n";
  }
  return s;
}

// Keeps the optimiser from dropping the parse results.
std::size_t g_sink = 0;

[[noreturn]] void die(const char* what, const resp::Parser& p) {
  std::fprintf(stderr, "resp_bench: %s (%.*s)\n", what, static_cast<int>(p.error().size()),
               p.error().data());
  std::exit(1);
}

std::size_t parse_whole(const std::string& input) {
  resp::Parser parser;
  resp::Command cmd;
  std::size_t commands = 0;
  std::string_view rest(input);
  for (;;) {
    const resp::ParseStatus st = parser.parse(rest, cmd);
    if (st == resp::ParseStatus::kError) die("parse error", parser);
    if (st == resp::ParseStatus::kNeedMore) break;
    g_sink += cmd.args.size() + cmd.args.back().size();
    rest.remove_prefix(cmd.consumed);
    ++commands;
  }
  return commands;
}

std::size_t parse_reads(const std::string& input) {
  constexpr std::size_t kRead = 16 * 1024;
  resp::Parser parser;
  resp::Command cmd;
  std::size_t commands = 0;
  std::string pending;
  pending.reserve(4 * kRead);
  for (std::size_t at = 0; at < input.size(); at += kRead) {
    pending.append(input, at, kRead);
    std::size_t off = 0;
    for (;;) {
      const resp::ParseStatus st = parser.parse(std::string_view(pending).substr(off), cmd);
      if (st == resp::ParseStatus::kError) die("parse error", parser);
      off += cmd.consumed;
      if (st == resp::ParseStatus::kNeedMore) break;
      g_sink += cmd.args.size() + cmd.args.back().size();
      ++commands;
    }
    pending.erase(0, off);  // compact once per read, like a connection buffer
  }
  return commands;
}

template <typename F>
void bench(const char* name, const std::string& input, const Options& o, F parse) {
  double best = 1e300;
  for (int r = 0; r < o.rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t n = parse(input);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (n != o.commands) {
      std::fprintf(stderr, "resp_bench: %s parsed %zu of %zu commands\n", name, n, o.commands);
      std::exit(1);
    }
    best = std::min(best, s);
  }
  std::printf("%-28s %9.1f MB/s %12.0f commands/s  (%zu commands, %.1f MB, best of %d)\n", name,
              static_cast<double>(input.size()) / best / 1e6,
              static_cast<double>(o.commands) / best, o.commands,
              static_cast<double>(input.size()) / 1e6, o.rounds);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--commands" && has_value) {
      o.commands = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--value-size" && has_value) {
      o.value_size = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--rounds" && has_value) {
      o.rounds = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--commands N] [--value-size BYTES] [--rounds R]\n", argv[0]);
      return 2;
    }
  }
  const std::string multibulk = make_multibulk(o);
  bench("multibulk, one buffer", multibulk, o, parse_whole);
  bench("multibulk, 16 KB reads", multibulk, o, parse_reads);
  bench("inline, one buffer", make_inline(o), o, parse_whole);
  return g_sink == 0;  // never true; keeps g_sink alive
}
