// Shared pieces of the data-command implementations (not part of the public interface).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/writer.h"
#include "server/commands/command_table.h"
#include "server/keyspace/keyspace.h"
#include "server/text.h"

namespace raftd::kv {

// Redis 7.0's shared error texts (server.c createSharedObjects), without the leading '-'.
inline constexpr std::string_view kErrWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kErrSyntax = "ERR syntax error";
inline constexpr std::string_view kErrNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kErrNotFloat = "ERR value is not a valid float";
inline constexpr std::string_view kErrNoSuchKey = "ERR no such key";
inline constexpr std::string_view kErrOverflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view kErrNanOrInf = "ERR increment would produce NaN or Infinity";
/// Redis proto-max-bulk-len default: the largest string SETRANGE/APPEND may build.
inline constexpr std::int64_t kMaxStringLength = 512ll * 1024 * 1024;

// ---------------------------------------------------------------------------- typed lookups
//
// Every data command starts the same way: find the key, check that it holds the type the
// command works on, and reply WRONGTYPE if it does not (Redis's lookupKeyReadOrReply /
// lookupKeyWrite + checkType). lookup_read and lookup_write do that once for every type; a
// handler only says which type it wants:
//
//   const auto h = lookup_read<HashValue>(ks, args[1], now_ms, out);
//   if (h.wrong_type()) return;  // WRONGTYPE already replied
//   out.integer(h ? static_cast<std::int64_t>(h->size()) : 0);  // absent reads as empty

/// How a command reaches the payload of one value type: one row per type. A new type (list,
/// set, zset) adds its row here and every lookup below works for it.
template <class T>
struct ValueKind;

template <>
struct ValueKind<std::string> {
  static const std::string* get(const Value& v) { return v.is_string() ? &v.str() : nullptr; }
  static Keyspace::Ref create(Keyspace& ks, std::string_view key) {
    return ks.insert_string(key, "");
  }
};

template <>
struct ValueKind<HashValue> {
  static const HashValue* get(const Value& v) { return v.is_hash() ? &v.hash() : nullptr; }
  static Keyspace::Ref create(Keyspace& ks, std::string_view key) { return ks.insert_hash(key); }
};

/// What lookup_read found at a key: exactly one of absent(), wrong_type() (WRONGTYPE has been
/// replied: the handler replies nothing more and returns) or found (true; * and -> give the T).
template <class T>
class ReadLookup {
 public:
  static ReadLookup absent_key() { return ReadLookup(nullptr, false); }
  static ReadLookup wrong_type_key() { return ReadLookup(nullptr, true); }
  static ReadLookup found(const T* value) { return ReadLookup(value, false); }

  bool absent() const { return value_ == nullptr && !wrong_type_; }
  bool wrong_type() const { return wrong_type_; }
  explicit operator bool() const { return value_ != nullptr; }
  const T& operator*() const { return *value_; }
  const T* operator->() const { return value_; }
  /// The T, or nullptr when absent (or of another type).
  const T* get() const { return value_; }

 private:
  ReadLookup(const T* value, bool wrong_type) : value_(value), wrong_type_(wrong_type) {}
  const T* value_;
  bool wrong_type_;
};

/// What lookup_write found (or created) inside apply: the same three states, and the key's Ref
/// for the Keyspace calls that change it (empty unless found). Valid as long as the Ref is.
template <class T>
class WriteLookup {
 public:
  static WriteLookup absent_key() { return WriteLookup({}, false); }
  static WriteLookup wrong_type_key() { return WriteLookup({}, true); }
  static WriteLookup found(Keyspace::Ref ref) { return WriteLookup(ref, false); }

  bool absent() const { return !ref_ && !wrong_type_; }
  bool wrong_type() const { return wrong_type_; }
  explicit operator bool() const { return static_cast<bool>(ref_); }
  const T& operator*() const { return *get(); }
  const T* operator->() const { return get(); }
  /// The T (read afresh, so it reflects changes made through ref()), or nullptr unless found.
  const T* get() const { return ref_ ? ValueKind<T>::get(ref_.value()) : nullptr; }
  Keyspace::Ref ref() const { return ref_; }

 private:
  WriteLookup(Keyspace::Ref ref, bool wrong_type) : ref_(ref), wrong_type_(wrong_type) {}
  Keyspace::Ref ref_;
  bool wrong_type_;
};

/// Redis's checkType on a key a write handler already found (or an empty Ref): WRONGTYPE is
/// replied if it holds something other than a T.
template <class T>
WriteLookup<T> check_type(Keyspace::Ref ref, resp::Writer& out) {
  if (!ref) return WriteLookup<T>::absent_key();
  if (ValueKind<T>::get(ref.value()) == nullptr) {
    out.error(kErrWrongType);
    return WriteLookup<T>::wrong_type_key();
  }
  return WriteLookup<T>::found(ref);
}

/// A read handler's lookup (Keyspace::find: counts a keyspace hit or miss, hides expired keys).
template <class T>
ReadLookup<T> lookup_read(const Keyspace& ks, std::string_view key, std::int64_t now_ms,
                          resp::Writer& out) {
  const Value* v = ks.find(key, now_ms);
  if (v == nullptr) return ReadLookup<T>::absent_key();
  const T* typed = ValueKind<T>::get(*v);
  if (typed == nullptr) {
    out.error(kErrWrongType);
    return ReadLookup<T>::wrong_type_key();
  }
  return ReadLookup<T>::found(typed);
}

enum class IfAbsent {
  kLeave,  ///< an absent key stays absent (the lookup says absent())
  /// An absent key is created holding an empty T (Redis's hashTypeLookupWriteOrCreate and
  /// kin). The handler then fills it: an empty hash (list, set, zset) must not stay behind.
  kCreate,
};

/// A write handler's lookup inside apply (Keyspace::find_for_write: removes the key if it is
/// expired at the entry's timestamp).
template <class T>
WriteLookup<T> lookup_write(Keyspace& ks, std::string_view key, std::int64_t now_ms,
                            resp::Writer& out, IfAbsent if_absent = IfAbsent::kLeave) {
  Keyspace::Ref ref = ks.find_for_write(key, now_ms);
  if (!ref && if_absent == IfAbsent::kCreate) {
    return WriteLookup<T>::found(ValueKind<T>::create(ks, key));
  }
  return check_type<T>(ref, out);
}

/// "ERR invalid expire time in '<cmd>' command" (addReplyErrorExpireTime).
std::string invalid_expire_error(std::string_view command);

/// Copies args into log_args (for prepare steps that rewrite one or two of them).
void copy_args(Args args, std::vector<std::string>& log_args);

void register_string_commands(CommandTable& table);
void register_key_commands(CommandTable& table);
void register_expire_commands(CommandTable& table);
void register_hash_commands(CommandTable& table);

}  // namespace raftd::kv
