// lincheck: checks a history written by the fault runner (tests/fault/fault_run.py) for
// linearizability against a Redis string register, key by key.
//
//   lincheck [--expect linearizable|violation] [--max-seconds S] [--max-steps N]
//            [--max-cache-mb M] HISTORY
//
// Exit status: 0 linearizable, 1 not linearizable, 3 undecided (search budget exhausted),
// 2 bad usage or a malformed history. With --expect: 0 when the verdict is the expected one.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tools/lincheck/checker.h"

namespace {

int usage(const char* why) {
  std::fprintf(stderr,
               "lincheck: %s\n"
               "usage: lincheck [--expect linearizable|violation] [--max-seconds S] "
               "[--max-steps N] [--max-cache-mb M] HISTORY\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace raftd::lincheck;
  CheckOptions opt;
  std::string path, expect;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--expect") {
      const char* v = value();
      if (!v) return usage("--expect needs a value");
      expect = v;
      if (expect != "linearizable" && expect != "violation") return usage("bad --expect");
    } else if (a == "--max-seconds") {
      const char* v = value();
      if (!v || std::atof(v) <= 0) return usage("--max-seconds needs a positive number");
      opt.max_seconds = std::atof(v);
    } else if (a == "--max-steps") {
      const char* v = value();
      if (!v || std::atoll(v) <= 0) return usage("--max-steps needs a positive number");
      opt.max_steps = static_cast<std::uint64_t>(std::atoll(v));
    } else if (a == "--max-cache-mb") {
      const char* v = value();
      if (!v || std::atoll(v) <= 0) return usage("--max-cache-mb needs a positive number");
      opt.max_cache_bytes = static_cast<std::size_t>(std::atoll(v)) << 20;
    } else if (a == "-h" || a == "--help") {
      return usage("help");
    } else if (!a.empty() && a[0] == '-') {
      return usage(("unknown option " + a).c_str());
    } else if (path.empty()) {
      path = a;
    } else {
      return usage("one history file only");
    }
  }
  if (path.empty()) return usage("no history file given");

  std::ifstream in(path, std::ios::binary);
  if (!in) return usage(("cannot read " + path).c_str());
  std::stringstream text;
  text << in.rdbuf();
  History h;
  std::string error;
  if (!parse_history(text.str(), h, error)) {
    std::fprintf(stderr, "lincheck: %s: %s\n", path.c_str(), error.c_str());
    return 2;
  }

  auto start = std::chrono::steady_clock::now();
  Report report = check_history(h, opt);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::size_t ok = 0, unknown = 0, failed = 0, reads = 0;
  for (const KeyReport& k : report.keys) {
    ok += k.ok_ops;
    unknown += k.unknown_ops;
    failed += k.failed_ops;
    reads += k.dropped_reads;
    fmt::print(
        "key {}: {} ({} acknowledged, {} unknown writes, {} failed, {} unknown reads; "
        "{} configurations, {} cached; {:.2f} s)\n",
        k.key, verdict_name(k.verdict), k.ok_ops, k.unknown_ops, k.failed_ops, k.dropped_reads,
        k.steps, k.cached, k.seconds);
    if (!k.explanation.empty()) fmt::print("{}", k.explanation);
    if (!k.explanation.empty() && k.explanation.back() != '\n') fmt::print("\n");
  }
  fmt::print(
      "lincheck: {}: {} ops on {} keys ({} acknowledged, {} unknown writes, {} failed, "
      "{} unknown reads){}\n",
      path, h.ops.size(), report.keys.size(), ok, unknown, failed, reads,
      h.quiesce_ns ? "" : "; no quiesce line");
  fmt::print("verdict: {} ({:.2f} s)\n", verdict_name(report.verdict), secs);
  std::fflush(stdout);

  if (!expect.empty()) {
    bool want_ok = expect == "linearizable";
    bool match =
        want_ok ? report.verdict == Verdict::kLinearizable : report.verdict == Verdict::kViolation;
    if (!match) fmt::print("expected: {}\n", expect);
    return match ? 0 : 1;
  }
  switch (report.verdict) {
    case Verdict::kLinearizable:
      return 0;
    case Verdict::kViolation:
      return 1;
    case Verdict::kUndecided:
      return 3;
  }
  return 3;
}
