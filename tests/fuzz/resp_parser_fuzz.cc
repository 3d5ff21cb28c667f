// libFuzzer target for resp::Parser. The input is split at fuzzer-chosen points and fed the
// way a connection feeds it (append, parse until kNeedMore, drop what was consumed). Checks:
// no crash or sanitizer report (every parse() sees an exact-size heap copy, so over-reads and
// pointers kept across calls are caught), `consumed` never exceeds what was given, argument
// views lie inside the consumed bytes or in parser storage, errors are Redis protocol errors
// on one line, and the split feed yields exactly the commands and error of the whole feed.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "resp/parser.h"

namespace {

struct Result {
  std::vector<std::vector<std::string>> commands;
  bool failed = false;
  std::string error;
  std::size_t leftover = 0;
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "resp_parser_fuzz: %s\n", what);
  std::abort();
}

// Feeds input[0, cuts[0]), input[cuts[0], cuts[1]), ..., then the rest.
Result run(const std::string& input, const std::vector<std::size_t>& cuts,
           const resp::Limits& limits, bool drop_skipped) {
  resp::Parser parser(limits);
  resp::Command cmd;
  Result result;
  std::string pending;
  std::size_t fed = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t upto = i < cuts.size() ? cuts[i] : input.size();
    pending.append(input, fed, upto - fed);
    fed = upto;
    for (;;) {
      const std::size_t n = pending.size();
      std::unique_ptr<char[]> copy(new char[n]);
      if (n > 0) std::memcpy(copy.get(), pending.data(), n);
      const resp::ParseStatus st = parser.parse(std::string_view(copy.get(), n), cmd);
      if (cmd.consumed > n) die("consumed more than given");
      if (st == resp::ParseStatus::kOk) {
        if (cmd.args.empty() || cmd.consumed == 0) die("kOk without a command");
        std::vector<std::string> args;
        for (std::string_view a : cmd.args) {
          const char* begin = copy.get();
          const bool into_buf = a.data() >= begin && a.data() <= begin + n;
          if (into_buf && a.data() + a.size() > begin + cmd.consumed) {
            die("argument view past the consumed bytes");
          }
          args.emplace_back(a);
        }
        result.commands.push_back(std::move(args));
        pending.erase(0, cmd.consumed);
        continue;
      }
      if (!cmd.args.empty()) die("arguments without kOk");
      if (st == resp::ParseStatus::kError) {
        if (cmd.consumed != 0) die("consumed on error");
        const std::string_view e = parser.error();
        if (e.rfind("Protocol error: ", 0) != 0) die("error is not a protocol error");
        if (e.find_first_of("\r\n") != std::string_view::npos) die("error spans lines");
        if (parser.error_reply() != "ERR " + std::string(e)) die("error_reply mismatch");
        result.failed = true;
        result.error = std::string(e);
        return result;
      }
      if (drop_skipped) pending.erase(0, cmd.consumed);
      break;
    }
  }
  result.leftover = pending.size();
  return result;
}

void expect_same(const Result& a, const Result& b, bool compare_leftover) {
  if (a.commands != b.commands) die("split feed gave different commands");
  if (a.failed != b.failed || a.error != b.error) die("split feed gave a different error");
  if (compare_leftover && a.leftover != b.leftover) die("split feed left different bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  resp::Limits limits;
  if (fdp.ConsumeBool()) {  // small limits, so every limit is reachable in a few KB
    limits.max_bulk_len = fdp.ConsumeIntegralInRange<std::size_t>(0, 300);
    limits.max_multibulk_len = fdp.ConsumeIntegralInRange<std::size_t>(0, 40);
    limits.max_inline_len = fdp.ConsumeIntegralInRange<std::size_t>(0, 300);
  }
  const bool drop_skipped = fdp.ConsumeBool();
  std::vector<std::size_t> cuts(fdp.ConsumeIntegralInRange<std::size_t>(0, 16));
  for (std::size_t& c : cuts) c = fdp.ConsumeIntegral<std::uint16_t>();
  const std::string input = fdp.ConsumeRemainingBytesAsString();
  for (std::size_t& c : cuts) c %= input.size() + 1;
  std::sort(cuts.begin(), cuts.end());

  const Result whole = run(input, {}, limits, true);
  expect_same(whole, run(input, cuts, limits, drop_skipped), drop_skipped);
  if (input.size() <= 512) {
    std::vector<std::size_t> every(input.size());
    for (std::size_t i = 0; i < every.size(); ++i) every[i] = i;
    expect_same(whole, run(input, every, limits, true), true);
  }
  return 0;
}
