#include "tools/lincheck/register_model.h"

#include <fmt/format.h>

#include <limits>

namespace raftd::lincheck {
namespace {

Reply nil_reply() {
  return {};
}
Reply ok_reply() {
  return {Reply::Kind::kOk, 0, {}};
}
Reply int_reply(std::int64_t v) {
  return {Reply::Kind::kInt, v, {}};
}
Reply err_reply() {
  return {Reply::Kind::kErr, 0, {}};
}
Reply value_reply(Value v) {
  return v.is_nil() ? nil_reply() : Reply{Reply::Kind::kValue, 0, v};
}

bool same(const Reply& a, const Reply& b) {
  if (a.kind != b.kind) return false;
  if (a.kind == Reply::Kind::kInt) return a.integer == b.integer;
  if (a.kind == Reply::Kind::kValue) return a.value == b.value;
  return true;
}

std::string show(const Reply& r, const Interner& values) {
  switch (r.kind) {
    case Reply::Kind::kNil:
      return "nil";
    case Reply::Kind::kOk:
      return "OK";
    case Reply::Kind::kInt:
      return std::to_string(r.integer);
    case Reply::Kind::kValue:
      return values.show(r.value);
    case Reply::Kind::kErr:
      return "an error";
  }
  return "?";
}

}  // namespace

Effect apply(Value state, const Op& op) {
  switch (op.kind) {
    case OpKind::kGet:
      return {state, value_reply(state)};
    case OpKind::kSet:
      return {op.arg, ok_reply()};
    case OpKind::kSetNx:
      return state.is_nil() ? Effect{op.arg, ok_reply()} : Effect{state, nil_reply()};
    case OpKind::kSetXx:
      return state.is_nil() ? Effect{state, nil_reply()} : Effect{op.arg, ok_reply()};
    case OpKind::kGetSet:
      return {op.arg, value_reply(state)};
    case OpKind::kIncr:
      // A missing key counts as 0; a non-integer or INT64_MAX is an error that changes nothing.
      if (state.is_nil()) return {Value::integer(1), int_reply(1)};
      // One more integer that no reply shows, and a reply that matches no recorded one.
      if (state.kind == Value::Kind::kUnread) return {state, value_reply(state)};
      if (state.kind != Value::Kind::kInt ||
          state.bits == std::numeric_limits<std::int64_t>::max()) {
        return {state, err_reply()};
      }
      return {Value::integer(state.bits + 1), int_reply(state.bits + 1)};
    case OpKind::kDel:
      return {Value::nil(), int_reply(state.is_nil() ? 0 : 1)};
  }
  return {state, err_reply()};
}

std::optional<Value> step(Value state, const Op& op) {
  Effect e = apply(state, op);
  if (op.outcome == Outcome::kOk && !same(e.reply, op.reply)) return std::nullopt;
  return e.next;
}

std::string mismatch(Value state, const Op& op, const Interner& values) {
  Effect e = apply(state, op);
  return fmt::format("{} replied {} but with the value {} it would reply {}", op_name(op.kind),
                     show(op.reply, values), values.show(state), show(e.reply, values));
}

}  // namespace raftd::lincheck
