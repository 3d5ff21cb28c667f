// Generic key commands (Redis db.c): DEL UNLINK EXISTS TYPE KEYS SCAN RENAME RENAMENX FLUSHDB
// FLUSHALL DBSIZE, and the internal REAPEXPIRED.
#include <limits>

#include "server/keyspace/cmd_util.h"
#include "server/keyspace/glob.h"
#include "server/keyspace/kv_commands.h"
#include "server/keyspace/numbers.h"

namespace raftd::kv {

namespace {

void del_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  std::int64_t deleted = 0;
  for (std::size_t i = 1; i < args.size(); ++i) {
    Keyspace::Ref ref = ks.find_for_write(args[i], now_ms);
    if (ref) {
      ks.erase(ref);
      ++deleted;
    }
  }
  out.integer(deleted);
}

void exists_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  std::int64_t count = 0;  // a key named twice counts twice, as in Redis
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (ks.find(args[i], now_ms) != nullptr) ++count;
  }
  out.integer(count);
}

void type_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const Value* v = ks.find(args[1], now_ms);
  out.simple(v == nullptr ? std::string_view("none") : type_name(v->type()));
}

void keys_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const std::string_view pattern = args[1];
  const bool all = pattern == "*";
  std::vector<std::string_view> keys;
  ks.for_each([&](std::string_view key, const Value& value) {
    if ((all || glob_match(pattern, key)) && ks.visible(key, value, now_ms)) keys.push_back(key);
  });
  out.array(keys.size());
  for (std::string_view k : keys) out.bulk(k);
}

void scan_read(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  std::uint64_t cursor;
  if (!parse_scan_cursor(args[1], cursor)) {
    out.error("ERR invalid cursor");
    return;
  }
  std::int64_t count = 10;
  std::string_view pattern;
  bool use_pattern = false;
  bool use_type = false;
  std::string_view type;
  for (std::size_t i = 2; i < args.size(); i += 2) {
    const bool has_value = i + 1 < args.size();
    const std::string_view opt = until_nul(args[i]);  // strcasecmp on the option, as Redis
    if (iequals(opt, "count") && has_value) {
      if (!parse_int64(args[i + 1], count)) {
        out.error(kErrNotInteger);
        return;
      }
      if (count < 1) {
        out.error(kErrSyntax);
        return;
      }
    } else if (iequals(opt, "match") && has_value) {
      pattern = args[i + 1];
      use_pattern = pattern != "*";
    } else if (iequals(opt, "type") && has_value) {
      type = until_nul(args[i + 1]);  // strcasecmp'd with the type name, as Redis
      use_type = true;
    } else {
      out.error(kErrSyntax);
      return;
    }
  }
  std::vector<std::pair<std::string_view, const Value*>> batch;
  const std::uint64_t next = ks.scan(cursor, static_cast<std::size_t>(count), batch);
  // As in Redis, filters run after the batch is taken: COUNT bounds the work, not the reply.
  std::size_t kept = 0;
  for (auto& [key, value] : batch) {
    const bool keep = (!use_pattern || glob_match(pattern, key)) &&
                      (!use_type || iequals(type, type_name(value->type()))) &&
                      ks.visible(key, *value, now_ms);
    if (keep) batch[kept++] = {key, value};
  }
  out.array(2);
  out.bulk(format_int64(static_cast<std::int64_t>(next)));
  out.array(kept);
  for (std::size_t i = 0; i < kept; ++i) out.bulk(batch[i].first);
}

WriteHandler rename_write(bool nx) {
  return [nx](Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
    const bool same = args[1] == args[2];
    Keyspace::Ref src = ks.find_for_write(args[1], now_ms);
    if (!src) {
      out.error(kErrNoSuchKey);
      return;
    }
    if (same) {
      if (nx) {
        out.integer(0);
      } else {
        out.ok();
      }
      return;
    }
    Keyspace::Ref dst = ks.find_for_write(args[2], now_ms);
    if (dst) {
      if (nx) {
        out.integer(0);
        return;
      }
      ks.erase(dst);
    }
    ks.rename(src, args[2]);  // the expiry moves with the value
    if (nx) {
      out.integer(1);
    } else {
      out.ok();
    }
  };
}

// FLUSHDB/FLUSHALL [ASYNC|SYNC]: both modes free at once here.
bool flush_syntax_ok(Args args) {
  if (args.size() > 2) return false;
  if (args.size() == 1) return true;
  const std::string_view mode = until_nul(args[1]);  // strcasecmp on the option, as Redis
  return iequals(mode, "sync") || iequals(mode, "async");
}

bool flush_prepare(Args args, std::int64_t, std::vector<std::string>&, resp::Writer& out) {
  if (flush_syntax_ok(args)) return true;
  out.error(kErrSyntax);
  return false;
}

void flush_write(Keyspace& ks, Args args, std::int64_t, resp::Writer& out) {
  if (!flush_syntax_ok(args)) {
    out.error(kErrSyntax);
    return;
  }
  ks.clear();
  out.ok();
}

void dbsize_read(const Keyspace& ks, Args, std::int64_t, resp::Writer& out) {
  out.integer(static_cast<std::int64_t>(ks.size()));
}

void reap_write(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out) {
  const std::uint64_t before = ks.stats().expired_keys;
  for (std::size_t i = 1; i < args.size(); ++i) ks.find_for_write(args[i], now_ms);
  out.integer(static_cast<std::int64_t>(ks.stats().expired_keys - before));
}

}  // namespace

void register_key_commands(CommandTable& t) {
  t.add({
      {.name = "del",
       .arity = -2,
       .flags = "write",
       .keys = {1, -1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Delete a key",
       .write = del_write},
      {.name = "unlink",
       .arity = -2,
       .flags = "write fast",
       .keys = {1, -1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but "
                  "non blocking.",
       .write = del_write},
      {.name = "exists",
       .arity = -2,
       .flags = "readonly fast",
       .keys = {1, -1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Determine if a key exists",
       .read = exists_read},
      {.name = "type",
       .arity = 2,
       .flags = "readonly fast",
       .keys = {1, 1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Determine the type stored at key",
       .read = type_read},
      {.name = "keys",
       .arity = 2,
       .flags = "readonly",
       .group = CommandGroup::kGeneric,
       .summary = "Find all keys matching the given pattern",
       .acl = "@dangerous",
       .read = keys_read},
      {.name = "scan",
       .arity = -2,
       .flags = "readonly",
       .group = CommandGroup::kGeneric,
       .summary = "Incrementally iterate the keys space",
       .read = scan_read},
      {.name = "rename",
       .arity = 3,
       .flags = "write",
       .keys = {1, 2, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Rename a key",
       .write = rename_write(false)},
      {.name = "renamenx",
       .arity = 3,
       .flags = "write fast",
       .keys = {1, 2, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Rename a key, only if the new key does not exist",
       .write = rename_write(true)},
      {.name = "flushdb",
       .arity = -1,
       .flags = "write",
       .group = CommandGroup::kServer,
       .summary = "Remove all keys from the current database",
       .acl = "@keyspace @dangerous",
       .prepare = flush_prepare,
       .write = flush_write},
      {.name = "flushall",
       .arity = -1,
       .flags = "write",
       .group = CommandGroup::kServer,
       .summary = "Remove all keys from all databases",
       .acl = "@keyspace @dangerous",
       .prepare = flush_prepare,
       .write = flush_write},
      {.name = "dbsize",
       .arity = 1,
       .flags = "readonly fast",
       .group = CommandGroup::kServer,
       .summary = "Return the number of keys in the selected database",
       .acl = "@keyspace",
       .read = dbsize_read},
      {.name = kReapExpiredCommand,
       .arity = -2,
       .flags = "write fast internal",
       .keys = {1, -1, 1},
       .group = CommandGroup::kGeneric,
       .summary = "Remove the given keys if they have expired (internal)",
       .write = reap_write},
  });
}

}  // namespace raftd::kv
