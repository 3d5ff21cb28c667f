// Register values for the linearizability checker: absent (nil), a Redis integer, or any other
// byte string. Strings are interned so the search copies and compares 16-byte values only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raftd::lincheck {

struct Value {
  /// kUnread stands for any integer that no reply in the history shows (see checker.cc).
  enum class Kind : std::uint8_t { kNil, kInt, kStr, kUnread };
  Kind kind = Kind::kNil;
  /// The integer for kInt, the interned string's id for kStr, 0 for kNil.
  std::int64_t bits = 0;

  static Value nil() { return {}; }
  static Value integer(std::int64_t v) { return {Kind::kInt, v}; }
  static Value unread() { return {Kind::kUnread, 0}; }
  bool is_nil() const { return kind == Kind::kNil; }
  bool operator==(const Value&) const = default;
  std::uint64_t hash() const {
    return static_cast<std::uint64_t>(bits) * 0x9e3779b97f4a7c15ULL + static_cast<unsigned>(kind);
  }
};

/// Redis's string2ll: what INCR accepts as an integer. No sign but '-', no leading zeros, no
/// spaces, no "-0", within int64. A string that fails this is a plain string to the model, so
/// "01" and "1" stay different values, as they are to GET.
std::optional<std::int64_t> parse_redis_int(std::string_view s);

/// Turns byte strings into Values (canonical integers become kInt) and back.
class Interner {
 public:
  Value make(std::string_view bytes);
  /// The bytes of a value, or "nil".
  std::string show(Value v) const;

 private:
  std::map<std::string, std::int64_t, std::less<>> ids_;
  std::vector<std::string> names_;
};

}  // namespace raftd::lincheck
