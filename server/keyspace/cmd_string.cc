// String commands (Redis t_string.c): GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET MSET
// MSETNX APPEND STRLEN GETRANGE SETRANGE INCR DECR INCRBY DECRBY INCRBYFLOAT.
#include <cmath>
#include <limits>

#include "server/keyspace/cmd_util.h"
#include "server/keyspace/numbers.h"

namespace raftd::kv {

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

// ------------------------------------------------------------- SET / GETEX option parsing

enum class ExpireKind { kNone, kEx, kPx, kExat, kPxat };

struct StringOptions {
  bool nx = false;
  bool xx = false;
  bool get = false;
  bool keepttl = false;
  bool persist = false;
  ExpireKind kind = ExpireKind::kNone;
  std::size_t expire_index = 0;  // args index of the expire value
};

// parseExtendedStringArgumentsOrReply: an expire option excludes the other kinds, KEEPTTL and
// PERSIST (repeating the same kind is fine, the last one wins); NX excludes XX.
bool parse_string_options(Args args, bool is_set, StringOptions& o) {
  for (std::size_t j = is_set ? 3 : 2; j < args.size(); ++j) {
    const std::string_view opt = until_nul(args[j]);  // strcasecmp on the option, as Redis
    const bool has_next = j + 1 < args.size();
    const auto expire_ok = [&](ExpireKind kind) {
      return has_next && !o.keepttl && !o.persist &&
             (o.kind == ExpireKind::kNone || o.kind == kind);
    };
    if (is_set && iequals(opt, "nx") && !o.xx) {
      o.nx = true;
    } else if (is_set && iequals(opt, "xx") && !o.nx) {
      o.xx = true;
    } else if (is_set && iequals(opt, "get")) {
      o.get = true;
    } else if (is_set && iequals(opt, "keepttl") && !o.persist && o.kind == ExpireKind::kNone) {
      o.keepttl = true;
    } else if (!is_set && iequals(opt, "persist") && o.kind == ExpireKind::kNone && !o.keepttl) {
      o.persist = true;
    } else if (iequals(opt, "ex") && expire_ok(ExpireKind::kEx)) {
      o.kind = ExpireKind::kEx;
      o.expire_index = ++j;
    } else if (iequals(opt, "px") && expire_ok(ExpireKind::kPx)) {
      o.kind = ExpireKind::kPx;
      o.expire_index = ++j;
    } else if (iequals(opt, "exat") && expire_ok(ExpireKind::kExat)) {
      o.kind = ExpireKind::kExat;
      o.expire_index = ++j;
    } else if (iequals(opt, "pxat") && expire_ok(ExpireKind::kPxat)) {
      o.kind = ExpireKind::kPxat;
      o.expire_index = ++j;
    } else {
      return false;
    }
  }
  return true;
}

// getExpireMillisecondsOrReply: the absolute expiry in unix ms, relative kinds counted from
// `now_ms`. On error writes Redis's reply and returns false.
bool absolute_expire(std::string_view value, ExpireKind kind, std::int64_t now_ms,
                     std::string_view command, std::int64_t& when, resp::Writer& out) {
  std::int64_t ms;
  if (!parse_int64(value, ms)) {
    out.error(kErrNotInteger);
    return false;
  }
  const bool seconds = kind == ExpireKind::kEx || kind == ExpireKind::kExat;
  if (ms <= 0 || (seconds && ms > kInt64Max / 1000)) {
    out.error(invalid_expire_error(command));
    return false;
  }
  if (seconds) ms *= 1000;
  if (kind == ExpireKind::kEx || kind == ExpireKind::kPx) {
    if (__builtin_add_overflow(ms, now_ms, &ms) || ms <= 0) {
      out.error(invalid_expire_error(command));
      return false;
    }
  }
  when = ms;
  return true;
}

enum class SetReply { kOk, kOneZero };  // SET's +OK/nil, or SETNX's :1/:0

// setGenericCommand. `when` is the absolute expiry or kNoExpire.
void set_generic(Keyspace& ks, std::string_view key, std::string_view value, const StringOptions& o,
                 std::int64_t when, std::int64_t now_ms, SetReply style, resp::Writer& out) {
  Keyspace::Ref ref = ks.find_for_write(key, now_ms);
  if (o.get) {
    // GET reads the old value as a string; without it SET overwrites a value of any type.
    const auto old = check_type<std::string>(ref, out);
    if (old.wrong_type()) return;
    if (old) {
      out.bulk(*old);
    } else {
      out.null();
    }
  }
  if ((o.nx && ref) || (o.xx && !ref)) {
    if (!o.get) {
      if (style == SetReply::kOk) {
        out.null();
      } else {
        out.integer(0);
      }
    }
    return;
  }
  if (ref) {
    ks.set_string(ref, value);
    if (!o.keepttl) ks.set_expire(ref, when);
  } else {
    ref = ks.insert_string(key, value, when);
  }
  // An absolute time already past: the key is expired as of this entry, so remove it now, the
  // same way on every node.
  if (when != kNoExpire && when <= now_ms) ks.erase(ref);
  if (!o.get) {
    if (style == SetReply::kOk) {
      out.ok();
    } else {
      out.integer(1);
    }
  }
}

std::string int_arg(std::int64_t v) {
  return format_int64(v);
}

// ------------------------------------------------------------------------------ GET family

void get_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto s = lookup_read<std::string>(ks, args[1], now_ms, out);
  if (s.wrong_type()) return;
  if (s) {
    out.bulk(*s);
  } else {
    out.null();
  }
}

void mget_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  out.array(args.size() - 1);
  for (std::size_t i = 1; i < args.size(); ++i) {
    // A key of another type reads as nil here, never WRONGTYPE.
    const Value* v = ks.find(args[i], now_ms);
    const std::string* s = v == nullptr ? nullptr : ValueKind<std::string>::get(*v);
    if (s == nullptr) {
      out.null();
    } else {
      out.bulk(*s);
    }
  }
}

void strlen_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto s = lookup_read<std::string>(ks, args[1], now_ms, out);
  if (s.wrong_type()) return;
  out.integer(s ? static_cast<std::int64_t>(s->size()) : 0);
}

void getrange_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  std::int64_t start, end;
  if (!parse_int64(args[2], start) || !parse_int64(args[3], end)) {
    out.error(kErrNotInteger);
    return;
  }
  const auto found = lookup_read<std::string>(ks, args[1], now_ms, out);
  if (found.wrong_type()) return;
  if (found.absent()) {
    out.bulk("");
    return;
  }
  const std::string& s = *found;
  const auto len = static_cast<std::int64_t>(s.size());
  if (start < 0 && end < 0 && start > end) {
    out.bulk("");
    return;
  }
  if (start < 0) start += len;
  if (end < 0) end += len;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len == 0) {
    out.bulk("");
  } else {
    out.bulk(std::string_view(s).substr(static_cast<std::size_t>(start),
                                        static_cast<std::size_t>(end - start + 1)));
  }
}

// ------------------------------------------------------------------------------ SET family

bool set_prepare(Args args, std::int64_t now_ms, std::vector<std::string>& log_args,
                 resp::Writer& out) {
  if (args.size() == 3) return true;  // plain SET: nothing to check or rewrite
  StringOptions o;
  if (!parse_string_options(args, true, o)) {
    out.error(kErrSyntax);
    return false;
  }
  if (o.kind == ExpireKind::kNone) return true;
  std::int64_t when;
  if (!absolute_expire(args[o.expire_index], o.kind, now_ms, "set", when, out)) return false;
  // As Redis propagates it: SET key value [NX|XX] [GET] PXAT <unix ms>.
  log_args = {std::string(args[0]), std::string(args[1]), std::string(args[2])};
  if (o.nx) log_args.emplace_back("NX");
  if (o.xx) log_args.emplace_back("XX");
  if (o.get) log_args.emplace_back("GET");
  log_args.emplace_back("PXAT");
  log_args.push_back(int_arg(when));
  return true;
}

void set_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  StringOptions o;
  if (args.size() > 3 && !parse_string_options(args, true, o)) {
    out.error(kErrSyntax);
    return;
  }
  std::int64_t when = kNoExpire;
  if (o.kind != ExpireKind::kNone &&
      !absolute_expire(args[o.expire_index], o.kind, now_ms, "set", when, out)) {
    return;
  }
  set_generic(ks, args[1], args[2], o, when, now_ms, SetReply::kOk, out);
}

void setnx_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  StringOptions o;
  o.nx = true;
  set_generic(ks, args[1], args[2], o, kNoExpire, now_ms, SetReply::kOneZero, out);
}

// SETEX/PSETEX key time value: proposed as SET key value PXAT <unix ms> (same +OK reply).
PrepareHandler setex_prepare(ExpireKind kind, std::string command) {
  return
      [kind, command = std::move(command)](Args args, std::int64_t now_ms,
                                           std::vector<std::string>& log_args, resp::Writer& out) {
        std::int64_t when;
        if (!absolute_expire(args[2], kind, now_ms, command, when, out)) return false;
        log_args = {"SET", std::string(args[1]), std::string(args[3]), "PXAT", int_arg(when)};
        return true;
      };
}

// Applying SETEX/PSETEX as such (an entry not made by prepare_write) counts from the entry's
// timestamp: still deterministic.
WriteHandler setex_write(ExpireKind kind, std::string command) {
  return [kind, command = std::move(command)](Keyspace& ks, Args args, std::int64_t now_ms,
                                              resp::Writer& out) {
    std::int64_t when;
    if (!absolute_expire(args[2], kind, now_ms, command, when, out)) return;
    StringOptions o;
    set_generic(ks, args[1], args[3], o, when, now_ms, SetReply::kOk, out);
  };
}

void getset_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  StringOptions o;
  o.get = true;
  set_generic(ks, args[1], args[2], o, kNoExpire, now_ms, SetReply::kOk, out);
}

void getdel_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto s = lookup_write<std::string>(ks, args[1], now_ms, out);
  if (s.wrong_type()) return;
  if (s.absent()) {
    out.null();
    return;
  }
  out.bulk(*s);
  ks.erase(s.ref());
}

bool getex_prepare(Args args, std::int64_t now_ms, std::vector<std::string>& log_args,
                   resp::Writer& out) {
  StringOptions o;
  if (!parse_string_options(args, false, o)) {
    out.error(kErrSyntax);
    return false;
  }
  if (o.kind == ExpireKind::kNone || o.kind == ExpireKind::kPxat) return true;
  // Redis checks the time only after finding the key (a missing key replies nil even with a bad
  // time), so a bad time is left for apply to report; a good one becomes absolute now.
  std::string scratch;
  resp::Writer ignored(scratch);
  std::int64_t when;
  if (!absolute_expire(args[o.expire_index], o.kind, now_ms, "getex", when, ignored)) return true;
  log_args = {std::string(args[0]), std::string(args[1]), "PXAT", int_arg(when)};
  return true;
}

void getex_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  StringOptions o;
  if (!parse_string_options(args, false, o)) {
    out.error(kErrSyntax);
    return;
  }
  const auto s = lookup_write<std::string>(ks, args[1], now_ms, out);
  if (s.wrong_type()) return;
  if (s.absent()) {
    out.null();
    return;
  }
  std::int64_t when = kNoExpire;
  if (o.kind != ExpireKind::kNone &&
      !absolute_expire(args[o.expire_index], o.kind, now_ms, "getex", when, out)) {
    return;
  }
  out.bulk(*s);
  if (o.kind != ExpireKind::kNone) {
    if (when <= now_ms) {
      ks.erase(s.ref());
    } else {
      ks.set_expire(s.ref(), when);
    }
  } else if (o.persist) {
    ks.set_expire(s.ref(), kNoExpire);
  }
}

// MSET/MSETNX want key/value pairs; Redis reports an odd count as a wrong arity.
PrepareHandler pairs_prepare(std::string command) {
  return [command = std::move(command)](Args args, std::int64_t, std::vector<std::string>&,
                                        resp::Writer& out) {
    if (args.size() % 2 == 0) {
      out.error(wrong_arity_error(command));
      return false;
    }
    return true;
  };
}

void mset_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  if (args.size() % 2 == 0) {
    out.error(wrong_arity_error("mset"));
    return;
  }
  for (std::size_t i = 1; i + 1 < args.size(); i += 2) {
    Keyspace::Ref ref = ks.find_for_write(args[i], now_ms);
    if (ref) {
      ks.set_string(ref, args[i + 1]);
      ks.set_expire(ref, kNoExpire);
    } else {
      ks.insert_string(args[i], args[i + 1]);
    }
  }
  out.ok();
}

void msetnx_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  if (args.size() % 2 == 0) {
    out.error(wrong_arity_error("msetnx"));
    return;
  }
  for (std::size_t i = 1; i + 1 < args.size(); i += 2) {
    if (ks.find_for_write(args[i], now_ms)) {
      out.integer(0);
      return;
    }
  }
  for (std::size_t i = 1; i + 1 < args.size(); i += 2) {
    // A key may repeat: the later value wins, as with consecutive SETs.
    Keyspace::Ref ref = ks.find_for_write(args[i], now_ms);
    if (ref) {
      ks.set_string(ref, args[i + 1]);
    } else {
      ks.insert_string(args[i], args[i + 1]);
    }
  }
  out.integer(1);
}

void append_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto s = lookup_write<std::string>(ks, args[1], now_ms, out);
  if (s.wrong_type()) return;
  if (s.absent()) {
    ks.insert_string(args[1], args[2]);
    out.integer(static_cast<std::int64_t>(args[2].size()));
    return;
  }
  if (static_cast<std::int64_t>(s->size() + args[2].size()) > kMaxStringLength) {
    out.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    return;
  }
  out.integer(static_cast<std::int64_t>(ks.append(s.ref(), args[2])));
}

// SETRANGE checks the offset before looking at the key.
bool setrange_offset(std::string_view arg, std::int64_t& offset, resp::Writer& out) {
  if (!parse_int64(arg, offset)) {
    out.error(kErrNotInteger);
    return false;
  }
  if (offset < 0) {
    out.error("ERR offset is out of range");
    return false;
  }
  return true;
}

bool setrange_prepare(Args args, std::int64_t, std::vector<std::string>&, resp::Writer& out) {
  std::int64_t offset;
  return setrange_offset(args[2], offset, out);
}

void setrange_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  std::int64_t offset;
  if (!setrange_offset(args[2], offset, out)) return;
  const std::string_view value = args[3];
  const auto too_long = [&] {
    return offset > kMaxStringLength - static_cast<std::int64_t>(value.size());
  };
  const auto s = lookup_write<std::string>(ks, args[1], now_ms, out);
  if (s.wrong_type()) return;
  Keyspace::Ref ref = s.ref();
  if (s.absent()) {
    if (value.empty()) {
      out.integer(0);
      return;
    }
    if (too_long()) {
      out.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
      return;
    }
    ref = ks.insert_string(args[1], "");
  } else {
    if (value.empty()) {
      out.integer(static_cast<std::int64_t>(s->size()));
      return;
    }
    if (too_long()) {
      out.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
      return;
    }
  }
  out.integer(
      static_cast<std::int64_t>(ks.set_range(ref, static_cast<std::size_t>(offset), value)));
}

// ----------------------------------------------------------------------------- counters

// incrDecrCommand: the stored value must be a Redis integer; the result keeps the key's TTL.
void incr_by(Keyspace& ks, std::string_view key, std::int64_t incr, std::int64_t now_ms,
             resp::Writer& out) {
  const auto s = lookup_write<std::string>(ks, key, now_ms, out);
  if (s.wrong_type()) return;
  std::int64_t value = 0;
  if (s && !parse_int64(*s, value)) {
    out.error(kErrNotInteger);
    return;
  }
  if ((incr < 0 && value < 0 && incr < kInt64Min - value) ||
      (incr > 0 && value > 0 && incr > kInt64Max - value)) {
    out.error(kErrOverflow);
    return;
  }
  value += incr;
  const std::string text = format_int64(value);
  if (s) {
    ks.set_string(s.ref(), text);
  } else {
    ks.insert_string(key, text);
  }
  out.integer(value);
}

// INCRBY/DECRBY check their increment before the key; DECRBY cannot negate INT64_MIN.
bool incr_arg(std::string_view arg, bool negate, std::int64_t& incr, resp::Writer& out) {
  if (!parse_int64(arg, incr)) {
    out.error(kErrNotInteger);
    return false;
  }
  if (negate) {
    if (incr == kInt64Min) {
      out.error("ERR decrement would overflow");
      return false;
    }
    incr = -incr;
  }
  return true;
}

PrepareHandler incrby_prepare(bool negate) {
  return [negate](Args args, std::int64_t, std::vector<std::string>&, resp::Writer& out) {
    std::int64_t incr;
    return incr_arg(args[2], negate, incr, out);
  };
}

WriteHandler incrby_write(bool negate) {
  return [negate](Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
    std::int64_t incr;
    if (!incr_arg(args[2], negate, incr, out)) return;
    incr_by(ks, args[1], incr, now_ms, out);
  };
}

WriteHandler incr_write(std::int64_t incr) {
  return [incr](Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
    incr_by(ks, args[1], incr, now_ms, out);
  };
}

// Redis parses the stored value before the increment, so a bad increment on a key of the wrong
// type says WRONGTYPE: all checks happen in apply. The result is computed in long double and
// stored as text; replicas agree because they run the same code on the same kind of CPU.
void incrbyfloat_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto s = lookup_write<std::string>(ks, args[1], now_ms, out);
  if (s.wrong_type()) return;
  long double value = 0;
  long double incr = 0;
  if ((s && !parse_long_double(*s, value)) || !parse_long_double(args[2], incr)) {
    out.error(kErrNotFloat);
    return;
  }
  value += incr;
  if (std::isnan(value) || std::isinf(value)) {
    out.error(kErrNanOrInf);
    return;
  }
  const std::string text = format_long_double(value);
  if (s) {
    ks.set_string(s.ref(), text);
  } else {
    ks.insert_string(args[1], text);
  }
  out.bulk(text);
}

}  // namespace

void register_string_commands(CommandTable& t) {
  t.add({
      {.name = "get",
       .arity = 2,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Get the value of a key",
       .read = get_read},
      {.name = "set",
       .arity = -3,
       .flags = "write denyoom",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Set the string value of a key",
       .prepare = set_prepare,
       .write = set_write},
      {.name = "setnx",
       .arity = 3,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Set the value of a key, only if the key does not exist",
       .write = setnx_write},
      {.name = "setex",
       .arity = 4,
       .flags = "write denyoom",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Set the value and expiration of a key",
       .prepare = setex_prepare(ExpireKind::kEx, "setex"),
       .write = setex_write(ExpireKind::kEx, "setex")},
      {.name = "psetex",
       .arity = 4,
       .flags = "write denyoom",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Set the value and expiration in milliseconds of a key",
       .prepare = setex_prepare(ExpireKind::kPx, "psetex"),
       .write = setex_write(ExpireKind::kPx, "psetex")},
      {.name = "getset",
       .arity = 3,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Set the string value of a key and return its old value",
       .write = getset_write},
      {.name = "getdel",
       .arity = 2,
       .flags = "write fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Get the value of a key and delete the key",
       .write = getdel_write},
      {.name = "getex",
       .arity = -2,
       .flags = "write fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Get the value of a key and optionally set its expiration",
       .prepare = getex_prepare,
       .write = getex_write},
      {.name = "mget",
       .arity = -2,
       .flags = "readonly fast",
       .keys = {1, -1, 1},
       .group = CommandGroup::kString,
       .summary = "Get the values of all the given keys",
       .read = mget_read},
      {.name = "mset",
       .arity = -3,
       .flags = "write denyoom",
       .keys = {1, -1, 2},
       .group = CommandGroup::kString,
       .summary = "Set multiple keys to multiple values",
       .prepare = pairs_prepare("mset"),
       .write = mset_write},
      {.name = "msetnx",
       .arity = -3,
       .flags = "write denyoom",
       .keys = {1, -1, 2},
       .group = CommandGroup::kString,
       .summary = "Set multiple keys to multiple values, only if none of the keys exist",
       .prepare = pairs_prepare("msetnx"),
       .write = msetnx_write},
      {.name = "append",
       .arity = 3,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Append a value to a key",
       .write = append_write},
      {.name = "strlen",
       .arity = 2,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Get the length of the value stored in a key",
       .read = strlen_read},
      {.name = "getrange",
       .arity = 4,
       .flags = "readonly",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Get a substring of the string stored at a key",
       .read = getrange_read},
      {.name = "setrange",
       .arity = 4,
       .flags = "write denyoom",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Overwrite part of a string at key starting at the specified offset",
       .prepare = setrange_prepare,
       .write = setrange_write},
      {.name = "incr",
       .arity = 2,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Increment the integer value of a key by one",
       .write = incr_write(1)},
      {.name = "decr",
       .arity = 2,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Decrement the integer value of a key by one",
       .write = incr_write(-1)},
      {.name = "incrby",
       .arity = 3,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Increment the integer value of a key by the given amount",
       .prepare = incrby_prepare(false),
       .write = incrby_write(false)},
      {.name = "decrby",
       .arity = 3,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Decrement the integer value of a key by the given number",
       .prepare = incrby_prepare(true),
       .write = incrby_write(true)},
      {.name = "incrbyfloat",
       .arity = 3,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kString,
       .summary = "Increment the float value of a key by the given amount",
       .write = incrbyfloat_write},
  });
}

}  // namespace raftd::kv
