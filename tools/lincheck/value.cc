#include "tools/lincheck/value.h"

#include <limits>

namespace raftd::lincheck {

std::optional<std::int64_t> parse_redis_int(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  bool negative = s[0] == '-';
  std::string_view digits = negative ? s.substr(1) : s;
  if (digits.empty() || (digits[0] == '0' && (digits.size() > 1 || negative))) return std::nullopt;
  // Accumulate as a negative number so INT64_MIN fits.
  std::int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    int d = c - '0';
    if (v < (std::numeric_limits<std::int64_t>::min() + d) / 10) return std::nullopt;
    v = v * 10 - d;
  }
  if (!negative) {
    if (v == std::numeric_limits<std::int64_t>::min()) return std::nullopt;
    v = -v;
  }
  return v;
}

Value Interner::make(std::string_view bytes) {
  if (auto i = parse_redis_int(bytes)) return Value::integer(*i);
  auto it = ids_.find(bytes);
  if (it == ids_.end()) {
    it = ids_.emplace(std::string(bytes), static_cast<std::int64_t>(names_.size())).first;
    names_.emplace_back(bytes);
  }
  return {Value::Kind::kStr, it->second};
}

std::string Interner::show(Value v) const {
  switch (v.kind) {
    case Value::Kind::kNil:
      return "nil";
    case Value::Kind::kInt:
      return std::to_string(v.bits);
    case Value::Kind::kStr:
      return "\"" + names_.at(static_cast<std::size_t>(v.bits)) + "\"";
    case Value::Kind::kUnread:
      return "(a value no reply shows)";
  }
  return "?";
}

}  // namespace raftd::lincheck
