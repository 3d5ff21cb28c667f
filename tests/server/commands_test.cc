// The command table itself: lookup, arity, metadata, and the dispatcher's error texts.
#include <catch2/catch.hpp>

#include "harness.h"
#include "server/commands/command_table.h"
#include "server/keyspace/kv_commands.h"

namespace raftd::test {

TEST_CASE("every data command is registered with consistent metadata") {
  CommandTable t;
  register_kv_commands(t);
  const std::vector<std::string> names = {
      "get",      "set",     "setnx",    "setex",     "psetex",       "getset",      "getdel",
      "getex",    "mget",    "mset",     "msetnx",    "append",       "strlen",      "getrange",
      "setrange", "incr",    "decr",     "incrby",    "decrby",       "incrbyfloat", "del",
      "unlink",   "exists",  "type",     "keys",      "scan",         "rename",      "renamenx",
      "expire",   "pexpire", "expireat", "pexpireat", "expiretime",   "pexpiretime", "ttl",
      "pttl",     "persist", "flushdb",  "flushall",  "dbsize",       "hset",        "hsetnx",
      "hget",     "hmget",   "hdel",     "hlen",      "hexists",      "hgetall",     "hkeys",
      "hvals",    "hincrby", "hstrlen",  "hmset",     "hincrbyfloat", "reapexpired"};
  CHECK(t.all().size() == names.size());
  for (const auto& n : names) {
    INFO(n);
    const CommandSpec* spec = t.find(n);
    REQUIRE(spec != nullptr);
    CHECK(spec->name == n);
    CHECK(spec->arity != 0);
    CHECK_FALSE(spec->summary.empty());
    const bool write = spec->flags & kCmdWrite;
    const bool read = spec->flags & kCmdReadonly;
    CHECK(write != read);
    CHECK(static_cast<bool>(spec->write) == write);
    CHECK(static_cast<bool>(spec->read) == read);
    CHECK_FALSE(spec->connection);
    if (spec->first_key > 0) {
      CHECK(spec->key_step > 0);
      CHECK((spec->last_key == -1 || spec->last_key >= spec->first_key));
    }
  }
  CHECK(t.find("reapexpired")->flags & kCmdInternal);
  CHECK_FALSE(t.find("set")->flags & kCmdInternal);
}

TEST_CASE("Redis 7.0 metadata for a sample of rows") {
  CommandTable t;
  register_kv_commands(t);
  const auto* mset = t.find("MSET");
  CHECK(mset->arity == -3);
  CHECK(mset->first_key == 1);
  CHECK(mset->last_key == -1);
  CHECK(mset->key_step == 2);
  CHECK(mset->flags == (kCmdWrite | kCmdDenyOom));
  const auto* get = t.find("Get");
  CHECK(get->flags == (kCmdReadonly | kCmdFast));
  CHECK(get->summary == "Get the value of a key");
  const auto* rename = t.find("rename");
  CHECK(rename->last_key == 2);
  const auto* keys = t.find("keys");
  CHECK(keys->first_key == 0);
}

TEST_CASE("lookup is case-insensitive and rejects near misses") {
  CommandTable t;
  register_kv_commands(t);
  CHECK(t.find("GET") == t.find("get"));
  CHECK(t.find("gEt") == t.find("get"));
  CHECK(t.find("ge") == nullptr);
  CHECK(t.find("gett") == nullptr);
  CHECK(t.find("") == nullptr);
  CHECK(t.find(std::string(100, 'g')) == nullptr);
  CHECK(t.find(std::string_view("get\0", 4)) == nullptr);

  const ReadHandler noop = [](const Keyspace&, Args, std::int64_t, resp::Writer&) {};
  Status dup = t.try_add({.name = "GET", .arity = 2, .flags = "readonly", .read = noop});
  CHECK_FALSE(dup);  // names are stored lower case, so this clashes
  CHECK(dup.message() == "command 'get' is registered twice");
  CHECK(t.try_add({.name = "A.Very.Long.Plugin.Command.Name.Beyond.32.Chars",
                   .arity = 1,
                   .flags = "readonly",
                   .read = noop}));
  CHECK(t.find("a.very.long.plugin.command.name.beyond.32.chars") != nullptr);
  CHECK(t.find("A.VERY.LONG.PLUGIN.COMMAND.NAME.BEYOND.32.CHARS") != nullptr);
}

TEST_CASE("a row's flags, handler, keys and categories must agree") {
  CommandTable t;
  const ReadHandler read = [](const Keyspace&, Args, std::int64_t, resp::Writer&) {};
  const WriteHandler write = [](Keyspace&, Args, std::int64_t, resp::Writer&) {};
  const auto refused = [&](CommandRow row, std::string_view why) {
    Status s = t.try_add(std::move(row));
    CHECK_FALSE(s);
    CHECK(s.message().find(why) != std::string::npos);
  };
  refused({.name = "x", .arity = 2, .flags = "readonly quick", .read = read},
          "unknown flag 'quick'");
  refused({.name = "x", .arity = 2, .flags = "write", .read = read}, "handler goes with");
  refused({.name = "x", .arity = 2, .flags = "readonly", .write = write}, "handler goes with");
  refused({.name = "x", .arity = 2, .flags = "readonly", .acl = "@fancy", .read = read},
          "unknown ACL category '@fancy'");
  refused({.name = "x", .arity = 0, .flags = "readonly", .read = read}, "arity 0");
  refused({.name = "x", .arity = 2, .flags = "readonly", .keys = {1, 1, 0}, .read = read},
          "key positions");
  refused({.name = "x", .arity = 2}, "exactly one handler");
  CHECK(t.find("x") == nullptr);

  // Categories: those the flags imply, the group's, then the row's own, in Redis's order.
  REQUIRE(t.try_add({.name = "x",
                     .arity = -2,
                     .flags = "write denyoom",
                     .keys = {1, -1, 2},
                     .group = CommandGroup::kString,
                     .acl = "@dangerous",
                     .write = write}));
  const CommandSpec* x = t.find("x");
  REQUIRE(x != nullptr);
  CHECK(flag_words(x->flags) == std::vector<std::string_view>{"write", "denyoom"});
  CHECK(category_words(x->acl_categories) ==
        std::vector<std::string_view>{"@write", "@string", "@slow", "@dangerous"});
  CHECK(group_name(x->group) == "string");
  CHECK((x->first_key == 1 && x->last_key == -1 && x->key_step == 2));
}

TEST_CASE("check_arity follows Redis's convention") {
  CommandSpec exact;
  exact.arity = 3;
  CHECK(CommandTable::check_arity(exact, 3));
  CHECK_FALSE(CommandTable::check_arity(exact, 2));
  CHECK_FALSE(CommandTable::check_arity(exact, 4));
  CommandSpec at_least;
  at_least.arity = -3;
  CHECK_FALSE(CommandTable::check_arity(at_least, 2));
  CHECK(CommandTable::check_arity(at_least, 3));
  CHECK(CommandTable::check_arity(at_least, 300));
}

TEST_CASE("dispatcher error texts are Redis 7.0's") {
  const std::vector<std::string_view> a = {"foo", "a", "b"};
  CHECK(unknown_command_error(a) ==
        "ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
  const std::vector<std::string_view> none = {"foo"};
  CHECK(unknown_command_error(none) == "ERR unknown command 'foo', with args beginning with: ");
  CHECK(wrong_arity_error("get") == "ERR wrong number of arguments for 'get' command");
  CHECK(wrong_arity_error("client|setname") ==
        "ERR wrong number of arguments for 'client|setname' command");
  CHECK(unknown_subcommand_error("client", "foo") ==
        "ERR unknown subcommand 'foo'. Try CLIENT HELP.");
  CHECK(unknown_subcommand_error("Config", std::string(200, 'x')) ==
        "ERR unknown subcommand '" + std::string(128, 'x') + "'. Try CONFIG HELP.");
  CHECK(unknown_subcommand_error("config", "a\r\nb") ==
        "ERR unknown subcommand 'a  b'. Try CONFIG HELP.");
}

TEST_CASE("the harness drives writes through prepare, the log and apply") {
  Harness h;
  CHECK(h.run({"SET", "k", "v"}) == "+OK\r\n");
  CHECK(h.entries.size() == 1);
  CHECK(h.run({"GET", "k"}) == "$1\r\nv\r\n");
  CHECK(h.entries.size() == 1);  // reads are not logged
  CHECK(h.run({"SET", "k", "v", "BAD"}) == "-ERR syntax error\r\n");
  CHECK(h.entries.size() == 1);  // syntax errors are not logged
  CHECK(h.run({"INCR", "k"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(h.entries.size() == 2);  // data errors come from apply
}

}  // namespace raftd::test

namespace raftd::test {

TEST_CASE("random arguments to every command never break the keyspace or the replicas") {
  const std::vector<std::string> pool = {"k1",
                                         "k2",
                                         "h1",
                                         "",
                                         "0",
                                         "1",
                                         "-1",
                                         "7",
                                         "100",
                                         "9223372036854775807",
                                         "-9223372036854775808",
                                         "9223372036854775808",
                                         "abc",
                                         "1.5",
                                         "inf",
                                         "-inf",
                                         "nan",
                                         "1e308",
                                         "EX",
                                         "PX",
                                         "EXAT",
                                         "PXAT",
                                         "NX",
                                         "XX",
                                         "GT",
                                         "LT",
                                         "GET",
                                         "KEEPTTL",
                                         "PERSIST",
                                         "SYNC",
                                         "ASYNC",
                                         "COUNT",
                                         "MATCH",
                                         "TYPE",
                                         "string",
                                         "hash",
                                         "*",
                                         "k*",
                                         "[",
                                         "\\",
                                         "f1",
                                         "f2"};
  std::mt19937_64 rng(5);
  Harness h;
  std::vector<std::string> names;
  for (const auto& [name, spec] : h.table().all()) names.push_back(name);
  for (int i = 0; i < 30000; ++i) {
    h.now += static_cast<std::int64_t>(rng() % 500);
    std::vector<std::string> args = {names[rng() % names.size()]};
    const std::size_t extra = rng() % 6;
    for (std::size_t j = 0; j < extra; ++j) args.push_back(pool[rng() % pool.size()]);
    const std::string reply = h.run(args);
    REQUIRE_FALSE(reply.empty());
    REQUIRE(std::string("+-:$*").find(reply[0]) != std::string::npos);
  }
  CommandTable t;
  register_kv_commands(t);
  StateMachine replica(t);
  std::string reply;
  for (const auto& e : h.entries) REQUIRE(replica.apply(e, reply));
  CHECK(dump(replica.keyspace()) == dump(h.keyspace()));
  CHECK(replica.keyspace().stats().used_bytes == h.keyspace().stats().used_bytes);
  CHECK(replica.keyspace().stats().expires == h.keyspace().stats().expires);
}

}  // namespace raftd::test
