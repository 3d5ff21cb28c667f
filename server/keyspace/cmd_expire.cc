// Expiry commands (Redis expire.c): EXPIRE PEXPIRE EXPIREAT PEXPIREAT EXPIRETIME PEXPIRETIME
// TTL PTTL PERSIST.
#include <limits>

#include "server/keyspace/cmd_util.h"
#include "server/keyspace/numbers.h"

namespace raftd::kv {

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

enum ExpireFlag : unsigned { kNx = 1, kXx = 2, kGt = 4, kLt = 8 };

// parseExtendedExpireArgumentsOrReply.
bool parse_expire_flags(Args args, unsigned& flags, resp::Writer& out) {
  flags = 0;
  for (std::size_t j = 3; j < args.size(); ++j) {
    const std::string_view opt = until_nul(args[j]);  // strcasecmp on the option, as Redis
    if (iequals(opt, "nx")) {
      flags |= kNx;
    } else if (iequals(opt, "xx")) {
      flags |= kXx;
    } else if (iequals(opt, "gt")) {
      flags |= kGt;
    } else if (iequals(opt, "lt")) {
      flags |= kLt;
    } else {
      out.error(one_line("ERR Unsupported option " + std::string(opt)));
      return false;
    }
  }
  if ((flags & kNx) && (flags & (kXx | kGt | kLt))) {
    out.error("ERR NX and XX, GT or LT options at the same time are not compatible");
    return false;
  }
  if ((flags & kGt) && (flags & kLt)) {
    out.error("ERR GT and LT options at the same time are not compatible");
    return false;
  }
  return true;
}

struct ExpireVariant {
  std::string name;  // for the error text
  bool seconds;      // EXPIRE, EXPIREAT
  bool relative;     // EXPIRE, PEXPIRE: counted from now
};

// The flag and time checks of expireGenericCommand, in Redis's order; `when` is absolute ms.
bool expire_args(const ExpireVariant& v, Args args, std::int64_t now_ms, unsigned& flags,
                 std::int64_t& when, resp::Writer& out) {
  if (!parse_expire_flags(args, flags, out)) return false;
  if (!parse_int64(args[2], when)) {
    out.error(kErrNotInteger);
    return false;
  }
  if (v.seconds) {
    if (when > kInt64Max / 1000 || when < kInt64Min / 1000) {
      out.error(invalid_expire_error(v.name));
      return false;
    }
    when *= 1000;
  }
  const std::int64_t base = v.relative ? now_ms : 0;
  if (when > kInt64Max - base) {
    out.error(invalid_expire_error(v.name));
    return false;
  }
  when += base;
  return true;
}

// Every variant is proposed as PEXPIREAT key <unix ms> [flags], as Redis propagates it.
PrepareHandler expire_prepare(const ExpireVariant& v) {
  return
      [v](Args args, std::int64_t now_ms, std::vector<std::string>& log_args, resp::Writer& out) {
        unsigned flags;
        std::int64_t when;
        if (!expire_args(v, args, now_ms, flags, when, out)) return false;
        if (!v.seconds && !v.relative) return true;  // already PEXPIREAT
        log_args = {"PEXPIREAT", std::string(args[1]), format_int64(when)};
        for (std::size_t j = 3; j < args.size(); ++j) log_args.emplace_back(args[j]);
        return true;
      };
}

WriteHandler expire_write(const ExpireVariant& v) {
  return [v](Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
    unsigned flags;
    std::int64_t when;
    if (!expire_args(v, args, now_ms, flags, when, out)) return;
    Keyspace::Ref ref = ks.find_for_write(args[1], now_ms);
    if (!ref) {
      out.integer(0);
      return;
    }
    const std::int64_t current = ref->expire_at();  // kNoExpire (-1) counts as infinite
    if (((flags & kNx) && current != kNoExpire) || ((flags & kXx) && current == kNoExpire) ||
        ((flags & kGt) && (current == kNoExpire || when <= current)) ||
        ((flags & kLt) && current != kNoExpire && when >= current)) {
      out.integer(0);
      return;
    }
    if (when <= now_ms) {
      ks.erase(ref);  // a time in the past deletes the key (Redis propagates it as DEL)
    } else {
      ks.set_expire(ref, when);
    }
    out.integer(1);
  };
}

// ttlGenericCommand.
ReadHandler ttl_read(bool ms, bool absolute) {
  return [ms, absolute](const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
    const Value* v = ks.find(args[1], now_ms);
    if (v == nullptr) {
      out.integer(-2);
      return;
    }
    if (!v->has_expire()) {
      out.integer(-1);
      return;
    }
    std::int64_t ttl = absolute ? v->expire_at() : v->expire_at() - now_ms;
    if (ttl < 0) ttl = 0;
    // Rounded to seconds without overflowing near INT64_MAX (Redis gets the same digits).
    out.integer(ms ? ttl
                   : static_cast<std::int64_t>((static_cast<std::uint64_t>(ttl) + 500) / 1000));
  };
}

void persist_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  Keyspace::Ref ref = ks.find_for_write(args[1], now_ms);
  if (!ref || !ref->has_expire()) {
    out.integer(0);
    return;
  }
  ks.set_expire(ref, kNoExpire);
  out.integer(1);
}

}  // namespace

void register_expire_commands(CommandTable& t) {
  const ExpireVariant expire{"expire", true, true};
  const ExpireVariant pexpire{"pexpire", false, true};
  const ExpireVariant expireat{"expireat", true, false};
  const ExpireVariant pexpireat{"pexpireat", false, false};
  t.add({
      {.name = "expire",
       .arity = -3,
       .flags = "write fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Set a key's time to live in seconds",
       .prepare = expire_prepare(expire),
       .write = expire_write(expire)},
      {.name = "pexpire",
       .arity = -3,
       .flags = "write fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Set a key's time to live in milliseconds",
       .prepare = expire_prepare(pexpire),
       .write = expire_write(pexpire)},
      {.name = "expireat",
       .arity = -3,
       .flags = "write fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Set the expiration for a key as a UNIX timestamp",
       .prepare = expire_prepare(expireat),
       .write = expire_write(expireat)},
      {.name = "pexpireat",
       .arity = -3,
       .flags = "write fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
       .prepare = expire_prepare(pexpireat),
       .write = expire_write(pexpireat)},
      {.name = "expiretime",
       .arity = 2,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Get the expiration Unix timestamp for a key",
       .read = ttl_read(false, true)},
      {.name = "pexpiretime",
       .arity = 2,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Get the expiration Unix timestamp for a key in milliseconds",
       .read = ttl_read(true, true)},
      {.name = "ttl",
       .arity = 2,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Get the time to live for a key in seconds",
       .read = ttl_read(false, false)},
      {.name = "pttl",
       .arity = 2,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Get the time to live for a key in milliseconds",
       .read = ttl_read(true, false)},
      {.name = "persist",
       .arity = 2,
       .flags = "write fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Remove the expiration from a key",
       .write = persist_write},
  });
}

}  // namespace raftd::kv
