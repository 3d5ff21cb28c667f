#include "tools/lincheck/history.h"

#include <fmt/format.h>

#include <map>
#include <sstream>

namespace raftd::lincheck {
namespace {

const std::map<std::string, OpKind, std::less<>> kOpNames = {
    {"get", OpKind::kGet},     {"set", OpKind::kSet},       {"setnx", OpKind::kSetNx},
    {"setxx", OpKind::kSetXx}, {"getset", OpKind::kGetSet}, {"incr", OpKind::kIncr},
    {"del", OpKind::kDel},
};

bool writes_arg(OpKind k) {
  return k == OpKind::kSet || k == OpKind::kSetNx || k == OpKind::kSetXx || k == OpKind::kGetSet;
}

bool parse_i64(const std::string& s, std::int64_t& v) {
  auto p = parse_redis_int(s);
  if (!p) return false;
  v = *p;
  return true;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_reply(const std::string& tok, Interner& values, Reply& r) {
  if (tok == "nil") {
    r.kind = Reply::Kind::kNil;
  } else if (tok == "OK") {
    r.kind = Reply::Kind::kOk;
  } else if (tok.rfind("int:", 0) == 0) {
    r.kind = Reply::Kind::kInt;
    return parse_i64(tok.substr(4), r.integer);
  } else if (tok.rfind("val:", 0) == 0) {
    std::string bytes;
    if (!unescape(tok.substr(4), bytes)) return false;
    r.kind = Reply::Kind::kValue;
    r.value = values.make(bytes);
  } else if (tok == "err" || tok.rfind("err:", 0) == 0) {
    r.kind = Reply::Kind::kErr;
  } else {
    return false;
  }
  return true;
}

}  // namespace

bool unescape(const std::string& in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

bool parse_history(const std::string& text, History& out, std::string& error) {
  std::map<std::uint64_t, std::size_t> by_id;  // op id -> index in out.ops
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  auto fail = [&](const std::string& why) {
    error = fmt::format("line {}: {}: '{}'", lineno, why, line);
    return false;
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream words(line);
    std::string verb;
    if (!(words >> verb) || verb[0] == '#') continue;
    if (verb == "invoke") {
      Op op;
      std::string id, time, key, kind;
      if (!(words >> id >> op.process >> time >> key >> kind)) return fail("short invoke line");
      std::int64_t id_num = 0;
      if (!parse_i64(id, id_num) || id_num < 0) return fail("bad op id");
      op.id = static_cast<std::uint64_t>(id_num);
      if (!parse_i64(time, op.invoke_ns)) return fail("bad time");
      if (!unescape(key, op.key)) return fail("bad escape in key");
      auto k = kOpNames.find(kind);
      if (k == kOpNames.end()) return fail("unknown operation");
      op.kind = k->second;
      std::string arg, extra;
      if (writes_arg(op.kind)) {
        std::string bytes;
        if (!(words >> arg) || !unescape(arg, bytes)) return fail("missing or bad value");
        op.arg = out.values.make(bytes);
      }
      if (words >> extra) return fail("trailing words");
      op.line = lineno;
      if (!by_id.emplace(op.id, out.ops.size()).second) return fail("op id invoked twice");
      out.ops.push_back(std::move(op));
    } else if (verb == "ok" || verb == "fail" || verb == "unknown") {
      std::string id, time;
      if (!(words >> id >> time)) return fail("short completion line");
      std::int64_t id_num = 0, t = 0;
      if (!parse_i64(id, id_num) || id_num < 0) return fail("bad op id");
      if (!parse_i64(time, t)) return fail("bad time");
      auto it = by_id.find(static_cast<std::uint64_t>(id_num));
      if (it == by_id.end()) return fail("completion of an op never invoked");
      Op& op = out.ops[it->second];
      if (op.complete_ns != 0) return fail("op completed twice");
      if (t < op.invoke_ns) return fail("op completes before it was invoked");
      op.complete_ns = t;
      if (verb == "ok") {
        std::string reply, extra;
        if (!(words >> reply) || !parse_reply(reply, out.values, op.reply)) {
          return fail("missing or bad reply");
        }
        // An error reply may carry its message, spaces and all.
        if (op.reply.kind != Reply::Kind::kErr && words >> extra) return fail("trailing words");
        op.outcome = Outcome::kOk;
      } else {
        op.outcome = verb == "fail" ? Outcome::kFail : Outcome::kUnknown;
      }
    } else if (verb == "quiesce") {
      std::string time;
      std::int64_t t = 0;
      if (!(words >> time) || !parse_i64(time, t)) return fail("bad quiesce time");
      if (out.quiesce_ns) return fail("second quiesce line");
      out.quiesce_ns = t;
    } else {
      return fail("unknown line kind");
    }
  }
  return true;
}

std::string_view op_name(OpKind k) {
  for (const auto& [name, kind] : kOpNames) {
    if (kind == k) return name;
  }
  return "?";
}

std::string describe(const Op& op, const Interner& values, std::int64_t t0_ns) {
  std::string s = fmt::format("#{} {} {}", op.id, op.process, op_name(op.kind));
  if (writes_arg(op.kind)) s += " " + values.show(op.arg);
  auto secs = [&](std::int64_t t) { return static_cast<double>(t - t0_ns) / 1e9; };
  switch (op.outcome) {
    case Outcome::kOk:
      switch (op.reply.kind) {
        case Reply::Kind::kNil:
          s += " -> nil";
          break;
        case Reply::Kind::kOk:
          s += " -> OK";
          break;
        case Reply::Kind::kInt:
          s += fmt::format(" -> {}", op.reply.integer);
          break;
        case Reply::Kind::kValue:
          s += " -> " + values.show(op.reply.value);
          break;
        case Reply::Kind::kErr:
          s += " -> error";
          break;
      }
      s += fmt::format(" [{:.6f}..{:.6f}]", secs(op.invoke_ns), secs(op.complete_ns));
      break;
    case Outcome::kFail:
      s += fmt::format(" -> failed [{:.6f}..{:.6f}]", secs(op.invoke_ns), secs(op.complete_ns));
      break;
    case Outcome::kUnknown:
      s += fmt::format(" -> unknown [{:.6f}..]", secs(op.invoke_ns));
      break;
  }
  return s;
}

}  // namespace raftd::lincheck
