// Hash commands (Redis t_hash.c): HSET HMSET HSETNX HGET HMGET HDEL HLEN HEXISTS HGETALL HKEYS
// HVALS HINCRBY HINCRBYFLOAT HSTRLEN.
#include <cmath>
#include <limits>

#include "server/keyspace/cmd_util.h"
#include "server/keyspace/numbers.h"

namespace raftd::kv {

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

PrepareHandler field_value_pairs_prepare(std::string command) {
  return [command = std::move(command)](Args args, std::int64_t, std::vector<std::string>&,
                                        resp::Writer& out) {
    if (args.size() % 2 == 1) {
      out.error(wrong_arity_error(command));
      return false;
    }
    return true;
  };
}

WriteHandler hset_write(bool hmset) {
  return [hmset](Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
    if (args.size() % 2 == 1) {
      out.error(wrong_arity_error(hmset ? "hmset" : "hset"));
      return;
    }
    const auto h = lookup_write<HashValue>(ks, args[1], now_ms, out, IfAbsent::kCreate);
    if (h.wrong_type()) return;
    std::int64_t created = 0;
    for (std::size_t i = 2; i + 1 < args.size(); i += 2) {
      if (ks.hash_set(h.ref(), args[i], args[i + 1])) ++created;
    }
    if (hmset) {
      out.ok();
    } else {
      out.integer(created);
    }
  };
}

void hsetnx_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto h = lookup_write<HashValue>(ks, args[1], now_ms, out, IfAbsent::kCreate);
  if (h.wrong_type()) return;
  if (h->get(args[2]) != nullptr) {
    out.integer(0);
    return;
  }
  ks.hash_set(h.ref(), args[2], args[3]);
  out.integer(1);
}

void hget_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto h = lookup_read<HashValue>(ks, args[1], now_ms, out);
  if (h.wrong_type()) return;
  const std::string* value = h ? h->get(args[2]) : nullptr;
  if (value == nullptr) {
    out.null();
  } else {
    out.bulk(*value);
  }
}

void hmget_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto h = lookup_read<HashValue>(ks, args[1], now_ms, out);
  if (h.wrong_type()) return;
  out.array(args.size() - 2);
  for (std::size_t i = 2; i < args.size(); ++i) {
    const std::string* value = h ? h->get(args[i]) : nullptr;
    if (value == nullptr) {
      out.null();
    } else {
      out.bulk(*value);
    }
  }
}

void hdel_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto h = lookup_write<HashValue>(ks, args[1], now_ms, out);
  if (h.wrong_type()) return;
  if (h.absent()) {
    out.integer(0);
    return;
  }
  std::int64_t deleted = 0;
  for (std::size_t i = 2; i < args.size(); ++i) {
    if (ks.hash_erase(h.ref(), args[i])) {
      ++deleted;
      if (h->empty()) {  // an empty hash is no key at all
        ks.erase(h.ref());
        break;
      }
    }
  }
  out.integer(deleted);
}

void hlen_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto h = lookup_read<HashValue>(ks, args[1], now_ms, out);
  if (h.wrong_type()) return;
  out.integer(h ? static_cast<std::int64_t>(h->size()) : 0);
}

void hexists_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto h = lookup_read<HashValue>(ks, args[1], now_ms, out);
  if (h.wrong_type()) return;
  out.integer(h && h->get(args[2]) != nullptr ? 1 : 0);
}

void hstrlen_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const auto h = lookup_read<HashValue>(ks, args[1], now_ms, out);
  if (h.wrong_type()) return;
  const std::string* value = h ? h->get(args[2]) : nullptr;
  out.integer(value == nullptr ? 0 : static_cast<std::int64_t>(value->size()));
}

enum class Part { kAll, kKeys, kValues };

ReadHandler hgetall_read(Part part) {
  return [part](const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
    const auto h = lookup_read<HashValue>(ks, args[1], now_ms, out);
    if (h.wrong_type()) return;
    if (h.absent()) {
      out.array(0);
      return;
    }
    out.array(part == Part::kAll ? h->size() * 2 : h->size());
    h->for_each([&](std::string_view field, std::string_view value) {
      if (part != Part::kValues) out.bulk(field);
      if (part != Part::kKeys) out.bulk(value);
    });
  };
}

bool hincrby_prepare(Args args, std::int64_t, std::vector<std::string>&, resp::Writer& out) {
  std::int64_t incr;
  if (parse_int64(args[3], incr)) return true;
  out.error(kErrNotInteger);
  return false;
}

void hincrby_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  std::int64_t incr;
  if (!parse_int64(args[3], incr)) {
    out.error(kErrNotInteger);
    return;
  }
  const auto h = lookup_write<HashValue>(ks, args[1], now_ms, out, IfAbsent::kCreate);
  if (h.wrong_type()) return;
  std::int64_t value = 0;
  if (const std::string* old = h->get(args[2]); old != nullptr) {
    if (!parse_int64(*old, value)) {
      out.error("ERR hash value is not an integer");
      return;
    }
  }
  if ((incr < 0 && value < 0 && incr < kInt64Min - value) ||
      (incr > 0 && value > 0 && incr > kInt64Max - value)) {
    out.error(kErrOverflow);
    return;
  }
  value += incr;
  ks.hash_set(h.ref(), args[2], format_int64(value));
  out.integer(value);
}

bool hincrbyfloat_arg(std::string_view arg, long double& incr, resp::Writer& out) {
  if (!parse_long_double(arg, incr)) {
    out.error(kErrNotFloat);
    return false;
  }
  if (std::isnan(incr) || std::isinf(incr)) {
    out.error("ERR value is NaN or Infinity");
    return false;
  }
  return true;
}

bool hincrbyfloat_prepare(Args args, std::int64_t, std::vector<std::string>&, resp::Writer& out) {
  long double incr;
  return hincrbyfloat_arg(args[3], incr, out);
}

void hincrbyfloat_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  long double incr;
  if (!hincrbyfloat_arg(args[3], incr, out)) return;
  const auto h = lookup_write<HashValue>(ks, args[1], now_ms, out, IfAbsent::kCreate);
  if (h.wrong_type()) return;
  long double value = 0;
  if (const std::string* old = h->get(args[2]); old != nullptr) {
    if (!parse_long_double(*old, value)) {
      out.error("ERR hash value is not a float");
      return;
    }
  }
  value += incr;
  if (std::isnan(value) || std::isinf(value)) {
    out.error(kErrNanOrInf);
    return;
  }
  const std::string text = format_long_double(value);
  ks.hash_set(h.ref(), args[2], text);
  out.bulk(text);
}

}  // namespace

void register_hash_commands(CommandTable& t) {
  t.add({
      {.name = "hset",
       .arity = -4,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Set the string value of a hash field",
       .prepare = field_value_pairs_prepare("hset"),
       .write = hset_write(false)},
      {.name = "hmset",
       .arity = -4,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Set multiple hash fields to multiple values",
       .prepare = field_value_pairs_prepare("hmset"),
       .write = hset_write(true)},
      {.name = "hsetnx",
       .arity = 4,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Set the value of a hash field, only if the field does not exist",
       .write = hsetnx_write},
      {.name = "hget",
       .arity = 3,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Get the value of a hash field",
       .read = hget_read},
      {.name = "hmget",
       .arity = -3,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Get the values of all the given hash fields",
       .read = hmget_read},
      {.name = "hdel",
       .arity = -3,
       .flags = "write fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Delete one or more hash fields",
       .write = hdel_write},
      {.name = "hlen",
       .arity = 2,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Get the number of fields in a hash",
       .read = hlen_read},
      {.name = "hexists",
       .arity = 3,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Determine if a hash field exists",
       .read = hexists_read},
      {.name = "hgetall",
       .arity = 2,
       .flags = "readonly",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Get all the fields and values in a hash",
       .read = hgetall_read(Part::kAll)},
      {.name = "hkeys",
       .arity = 2,
       .flags = "readonly",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Get all the fields in a hash",
       .read = hgetall_read(Part::kKeys)},
      {.name = "hvals",
       .arity = 2,
       .flags = "readonly",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Get all the values in a hash",
       .read = hgetall_read(Part::kValues)},
      {.name = "hincrby",
       .arity = 4,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Increment the integer value of a hash field by the given number",
       .prepare = hincrby_prepare,
       .write = hincrby_write},
      {.name = "hincrbyfloat",
       .arity = 4,
       .flags = "write denyoom fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Increment the float value of a hash field by the given amount",
       .prepare = hincrbyfloat_prepare,
       .write = hincrbyfloat_write},
      {.name = "hstrlen",
       .arity = 3,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kHash,
       .summary = "Get the length of the value of a hash field",
       .read = hstrlen_read},
  });
}

}  // namespace raftd::kv
