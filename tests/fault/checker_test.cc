// Tests of the linearizability checker (tools/lincheck): value parsing, the history format, the
// register model, and the search, which is compared with a brute-force check on thousands of
// small random histories and timed on large ones.
#include "tools/lincheck/checker.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/fault/naive_checker.h"
#include "tools/lincheck/register_model.h"

namespace lc = raftd::lincheck;

namespace {

lc::History parse(const std::string& text) {
  lc::History h;
  std::string error;
  INFO(error);
  REQUIRE(lc::parse_history(text, h, error));
  return h;
}

std::vector<std::size_t> all_ops(const lc::History& h) {
  std::vector<std::size_t> v(h.ops.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

// An independent model of one Redis string key, on plain strings, to produce true replies.
struct Register {
  std::optional<std::string> value;

  std::string apply(const std::string& op, const std::string& arg) {
    auto bulk = [](const std::optional<std::string>& v) { return v ? "val:" + *v : "nil"; };
    if (op == "get") return bulk(value);
    if (op == "set") {
      value = arg;
      return "OK";
    }
    if (op == "setnx" || op == "setxx") {
      if (value.has_value() == (op == "setnx")) return "nil";
      value = arg;
      return "OK";
    }
    if (op == "getset") {
      std::string r = bulk(value);
      value = arg;
      return r;
    }
    if (op == "del") {
      std::string r = value ? "int:1" : "int:0";
      value.reset();
      return r;
    }
    // incr
    std::int64_t n = 0;
    if (value) {
      auto p = lc::parse_redis_int(*value);
      if (!p || *p == std::numeric_limits<std::int64_t>::max()) return "err";
      n = *p;
    }
    value = std::to_string(n + 1);
    return "int:" + *value;
  }
};

struct GenOp {
  std::string kind, arg, reply;
  int process = 0;
  std::int64_t call = 0, ret = 0, point = -1;  // point: when it took effect; -1: never
  char outcome = 'o';                          // o ok, u unknown, f fail
};

// A random history of one key that is linearizable by construction: each op takes effect at a
// chosen point inside its interval (unknown ops: anywhere after the call, or never), and the
// replies are what the register answered in that order. Optionally one reply is then corrupted.
std::string random_history(std::mt19937_64& rng, int nops, bool corrupt, bool* corrupted) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  static const char* kKinds[] = {"get", "set", "setnx", "setxx", "getset", "incr", "del"};
  static const char* kValues[] = {"1", "2", "3", "x"};
  int procs = 2 + pick(3);
  std::vector<std::int64_t> free_at(procs, 0);
  std::vector<GenOp> ops;
  for (int i = 0; i < nops; ++i) {
    GenOp g;
    g.process = pick(procs);
    g.kind = kKinds[pick(7)];
    if (g.kind == "set" || g.kind == "setnx" || g.kind == "setxx" || g.kind == "getset") {
      g.arg = kValues[pick(4)];
    }
    g.call = free_at[g.process] + pick(4);
    g.ret = g.call + pick(7);
    int o = pick(10);
    g.outcome = o < 7 ? 'o' : (o < 9 ? 'u' : 'f');
    if (g.outcome == 'o') {
      g.point = g.call + pick(static_cast<int>(g.ret - g.call) + 1);
    } else if (g.outcome == 'u' && pick(2)) {
      g.point = g.call + pick(12);
    }
    // A process whose op is unknown has crashed: later ops come from a new process.
    free_at[g.process] = g.ret + 1;
    ops.push_back(g);
  }
  bool quiesce = pick(2) == 0;
  std::int64_t q = 0;
  for (const GenOp& g : ops) q = std::max({q, g.ret, g.point});
  ++q;
  if (quiesce) {
    for (int i = 0; i < 2; ++i) {
      GenOp g;
      g.kind = "get";
      g.process = procs + i;
      g.call = q + 1 + 3 * i;
      g.ret = g.call + 1;
      g.point = g.call;
      ops.push_back(g);
    }
  }
  std::vector<std::size_t> effect;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].point >= 0) effect.push_back(i);
  }
  std::shuffle(effect.begin(), effect.end(), rng);  // ties in any order
  std::stable_sort(effect.begin(), effect.end(),
                   [&](std::size_t a, std::size_t b) { return ops[a].point < ops[b].point; });
  Register reg;
  for (std::size_t i : effect) ops[i].reply = reg.apply(ops[i].kind, ops[i].arg);
  *corrupted = false;
  if (corrupt) {
    std::vector<std::size_t> acked;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].outcome == 'o') acked.push_back(i);
    }
    if (!acked.empty()) {
      static const char* kReplies[] = {"nil",   "OK",    "int:0", "int:1", "int:2", "int:3",
                                       "val:1", "val:2", "val:3", "val:x", "err"};
      std::string& r = ops[acked[pick(static_cast<int>(acked.size()))]].reply;
      std::string before = r;
      r = kReplies[pick(11)];
      *corrupted = r != before;
    }
  }
  std::string text;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const GenOp& g = ops[i];
    text += "invoke " + std::to_string(i + 1) + " p" + std::to_string(g.process) + " " +
            std::to_string(g.call) + " k " + g.kind + (g.arg.empty() ? "" : " " + g.arg) + "\n";
  }
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const GenOp& g = ops[i];
    std::string id = std::to_string(i + 1), t = std::to_string(g.ret);
    if (g.outcome == 'o') text += "ok " + id + " " + t + " " + g.reply + "\n";
    if (g.outcome == 'u') text += "unknown " + id + " " + t + " TIMEOUT\n";
    if (g.outcome == 'f') text += "fail " + id + " " + t + " CLUSTERDOWN\n";
  }
  if (quiesce) text += "quiesce " + std::to_string(q) + "\n";
  return text;
}

}  // namespace

TEST_CASE("parse_redis_int accepts exactly what INCR accepts") {
  CHECK(lc::parse_redis_int("0") == 0);
  CHECK(lc::parse_redis_int("-7") == -7);
  CHECK(lc::parse_redis_int("9223372036854775807") == std::numeric_limits<std::int64_t>::max());
  CHECK(lc::parse_redis_int("-9223372036854775808") == std::numeric_limits<std::int64_t>::min());
  for (const char* bad : {"", "-", "01", "-0", "+1", " 1", "1 ", "1a", "9223372036854775808",
                          "-9223372036854775809", "99999999999999999999"}) {
    INFO(bad);
    CHECK_FALSE(lc::parse_redis_int(bad));
  }
}

TEST_CASE("the interner keeps integers and strings apart") {
  lc::Interner in;
  CHECK(in.make("12") == lc::Value::integer(12));
  CHECK_FALSE(in.make("012") == lc::Value::integer(12));
  CHECK(in.make("abc") == in.make("abc"));
  CHECK_FALSE(in.make("abc") == in.make("abd"));
  CHECK(in.show(in.make("abc")) == "\"abc\"");
  CHECK(in.show(lc::Value::nil()) == "nil");
}

TEST_CASE("history lines parse and malformed ones are refused with their line number") {
  lc::History h = parse(
      "# comment\n"
      "invoke 1 p0 10 k%20x set v%25\n"
      "invoke 2 p1 11 k%20x get\n"
      "ok 1 20 OK\n"
      "unknown 2 30 socket timeout\n"
      "quiesce 40\n");
  REQUIRE(h.ops.size() == 2);
  CHECK(h.ops[0].key == "k x");
  CHECK(h.values.show(h.ops[0].arg) == "\"v%\"");
  CHECK(h.ops[0].outcome == lc::Outcome::kOk);
  CHECK(h.ops[1].outcome == lc::Outcome::kUnknown);
  CHECK(h.quiesce_ns == 40);

  for (const char* bad :
       {"ok 1 20 OK\n", "invoke 1 p0 10 k set\n", "invoke 1 p0 10 k put 1\n",
        "invoke 1 p0 10 k get\nok 1 5 nil\n", "invoke 1 p0 10 k get\nok 1 20 hm\n",
        "invoke 1 p0 10 k get\ninvoke 1 p0 11 k get\n", "invoke 1 p0 10 k set %4\n",
        "invoke 1 p0 10 k get extra\n", "invoke 1 p0 10 k get\nok 1 20 nil\nok 1 21 nil\n",
        "frobnicate\n"}) {
    lc::History bad_h;
    std::string error;
    INFO(bad);
    CHECK_FALSE(lc::parse_history(bad, bad_h, error));
    CHECK(error.rfind("line ", 0) == 0);
  }
}

TEST_CASE("the register model answers as Redis does") {
  lc::History h = parse(
      "invoke 1 p 1 k setnx 5\ninvoke 2 p 1 k setxx 5\ninvoke 3 p 1 k getset 6\n"
      "invoke 4 p 1 k incr\ninvoke 5 p 1 k del\ninvoke 6 p 1 k get\n");
  auto reply = [&](lc::Value s, int i) { return lc::apply(s, h.ops[i]); };
  lc::Value nil = lc::Value::nil(), five = lc::Value::integer(5);
  CHECK(reply(nil, 0).next == five);
  CHECK(reply(nil, 0).reply.kind == lc::Reply::Kind::kOk);
  CHECK(reply(lc::Value::integer(1), 0).next == lc::Value::integer(1));
  CHECK(reply(lc::Value::integer(1), 0).reply.kind == lc::Reply::Kind::kNil);
  CHECK(reply(nil, 1).next == nil);
  CHECK(reply(lc::Value::integer(1), 1).next == five);
  CHECK(reply(five, 2).reply.value == five);
  CHECK(reply(nil, 3).reply.integer == 1);
  CHECK(reply(lc::Value::integer(-1), 3).next == lc::Value::integer(0));
  auto max = lc::Value::integer(std::numeric_limits<std::int64_t>::max());
  CHECK(reply(max, 3).reply.kind == lc::Reply::Kind::kErr);
  CHECK(reply(max, 3).next == max);
  lc::Value str = h.values.make("abc");
  CHECK(reply(str, 3).reply.kind == lc::Reply::Kind::kErr);
  CHECK(reply(str, 4).reply.integer == 1);
  CHECK(reply(nil, 4).reply.integer == 0);
  CHECK(reply(nil, 5).reply.kind == lc::Reply::Kind::kNil);
}

TEST_CASE("the search agrees with brute force on small random histories") {
  std::mt19937_64 rng(20240611);
  int linearizable = 0, violations = 0, corrupted_but_fine = 0;
  for (int round = 0; round < 6000; ++round) {
    bool corrupt = round % 2 == 1, corrupted = false;
    std::string text = random_history(rng, 3 + static_cast<int>(rng() % 6), corrupt, &corrupted);
    lc::History h = parse(text);
    bool expected = raftd::lincheck::test::naive_linearizable(h, all_ops(h));
    lc::Report r = lc::check_history(h, lc::CheckOptions{});
    INFO(text);
    REQUIRE(r.verdict != lc::Verdict::kUndecided);
    REQUIRE((r.verdict == lc::Verdict::kLinearizable) == expected);
    if (!corrupted) REQUIRE(expected);  // true replies are always linearizable
    (expected ? linearizable : violations)++;
    if (corrupted && expected) ++corrupted_but_fine;
  }
  // The generator must produce both kinds in earnest, or this test proves little.
  CHECK(violations > 1000);
  CHECK(linearizable > 3000);
  CHECK(corrupted_but_fine > 30);
}

namespace {

// A long history of one key: `procs` clients issuing overlapping ops for `nops` ops in all,
// truthfully answered (each op takes effect at its midpoint). Every `unknown_every`-th write is
// unknown and, every other time, never takes effect.
std::string long_history(std::mt19937_64& rng, int nops, int procs, int unknown_every,
                         bool quiesce) {
  static const char* kKinds[] = {"get",   "get",    "get",  "set", "setnx",
                                 "setxx", "getset", "incr", "del"};
  std::vector<GenOp> ops;
  std::vector<std::int64_t> free_at(procs, 0);
  int writes = 0;
  for (int i = 0; i < nops; ++i) {
    GenOp g;
    g.process = static_cast<int>(rng() % procs);
    g.kind = kKinds[rng() % 9];
    g.arg = std::to_string(1000 * (i + 1));
    if (g.kind != "set" && g.kind != "setnx" && g.kind != "setxx" && g.kind != "getset") {
      g.arg.clear();
    }
    g.call = free_at[g.process] + static_cast<std::int64_t>(rng() % 20);
    g.ret = g.call + 10 + static_cast<std::int64_t>(rng() % 60);
    g.point = (g.call + g.ret) / 2;
    if (g.kind != "get" && unknown_every > 0 && ++writes % unknown_every == 0) {
      g.outcome = 'u';
      if ((writes / unknown_every) % 2) g.point = -1;
    }
    free_at[g.process] = g.ret + 1;
    ops.push_back(g);
  }
  std::int64_t q = 0;
  for (const GenOp& g : ops) q = std::max({q, g.ret, g.point});
  if (quiesce) {
    for (int i = 0; i < 3; ++i) {
      GenOp g;
      g.kind = "get";
      g.process = procs + i;
      g.call = q + 10 + 10 * i;
      g.ret = g.call + 5;
      g.point = g.call + 1;
      ops.push_back(g);
    }
  }
  std::vector<std::size_t> effect;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].point >= 0) effect.push_back(i);
  }
  std::stable_sort(effect.begin(), effect.end(),
                   [&](std::size_t a, std::size_t b) { return ops[a].point < ops[b].point; });
  Register reg;
  for (std::size_t i : effect) ops[i].reply = reg.apply(ops[i].kind, ops[i].arg);
  std::string text;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const GenOp& g = ops[i];
    text += "invoke " + std::to_string(i + 1) + " p" + std::to_string(g.process) + " " +
            std::to_string(g.call) + " k " + g.kind + (g.arg.empty() ? "" : " " + g.arg) + "\n";
    if (g.outcome == 'o') {
      text += "ok " + std::to_string(i + 1) + " " + std::to_string(g.ret) + " " + g.reply + "\n";
    } else {
      text += "unknown " + std::to_string(i + 1) + " " + std::to_string(g.ret) + " TIMEOUT\n";
    }
  }
  if (quiesce) text += "quiesce " + std::to_string(q + 1) + "\n";
  return text;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("several thousand ops of one key with unknown writes check in seconds") {
  std::mt19937_64 rng(7);
  for (bool quiesce : {false, true}) {
    std::string text = long_history(rng, 5000, 8, 40, quiesce);
    lc::History h = parse(text);
    auto t = std::chrono::steady_clock::now();
    lc::Report r = lc::check_history(h, lc::CheckOptions{});
    double secs = seconds_since(t);
    INFO("quiesce " << quiesce << ": " << secs << " s, " << r.keys[0].steps << " steps");
    CHECK(r.verdict == lc::Verdict::kLinearizable);
    CHECK(r.keys[0].unknown_ops > 50);
    // Steps, not seconds, so a busy machine cannot fail it; about 2 million steps a second.
    CHECK(r.keys[0].steps < 2'000'000);
    CHECK(secs < 60);
  }
}

TEST_CASE("a stale read deep in a long history is found, with the op that cannot fit") {
  // Proving a violation means trying every order before it, so it costs more than finding a
  // linearization; with a few unknown ops it still takes well under the budget.
  std::mt19937_64 rng(11);
  std::string text = long_history(rng, 3000, 8, 300, true);
  // After everything, a read of a value that an early op wrote and later writes replaced.
  text += "invoke 999999 late 99999999 k get\nok 999999 99999999 val:1000\n";
  lc::History h = parse(text);
  auto t = std::chrono::steady_clock::now();
  lc::Report r = lc::check_history(h, lc::CheckOptions{});
  INFO(r.keys[0].explanation);
  CHECK(r.verdict == lc::Verdict::kViolation);
  CHECK(r.keys[0].explanation.find("#999999") != std::string::npos);
  INFO(r.keys[0].steps << " steps");
  CHECK(r.keys[0].steps < 20'000'000);
  CHECK(seconds_since(t) < 60);
}

TEST_CASE("the search gives up within its budget and says so") {
  std::mt19937_64 rng(3);
  lc::History h = parse(long_history(rng, 3000, 10, 2, false) +
                        "invoke 999999 late 99999999 k get\nok 999999 99999999 val:17\n");
  lc::CheckOptions opt;
  opt.max_steps = 20000;
  lc::Report r = lc::check_history(h, opt);
  CHECK(r.verdict == lc::Verdict::kUndecided);
  CHECK(r.keys[0].explanation.find("gave up") != std::string::npos);
}
