// The state machine: prepare rewrites, apply, determinism across replicas, expiry driven by
// entry timestamps, REAPEXPIRED safety, and refusing (never half-applying) what cannot apply.
#include "server/keyspace/state_machine.h"

#include <catch2/catch.hpp>
#include <random>

#include "harness.h"

namespace raftd::test {

namespace {

struct Prepared {
  bool ok = false;
  std::string error;
  DecodedEntry entry;
  std::string bytes;
};

Prepared prepare(const CommandTable& table, std::vector<std::string_view> args, std::int64_t now) {
  Prepared p;
  const CommandSpec* spec = table.find(args[0]);
  REQUIRE(spec != nullptr);
  REQUIRE(CommandTable::check_arity(*spec, args.size()));
  resp::Writer out(p.error);
  p.ok = prepare_write(*spec, args, now, p.bytes, out);
  if (p.ok) REQUIRE(decode_entry(p.bytes, p.entry) == DecodeStatus::kOk);
  return p;
}

std::vector<std::string> args_of(const Prepared& p) {
  return {p.entry.args.begin(), p.entry.args.end()};
}

}  // namespace

TEST_CASE("prepare turns relative times into absolute ones and leaves the rest alone") {
  CommandTable t;
  register_kv_commands(t);
  const std::int64_t now = kT0;
  const std::string at10s = std::to_string(now + 10000);

  auto p = prepare(t, {"SET", "k", "v"}, now);
  CHECK(p.ok);
  CHECK(args_of(p) == std::vector<std::string>{"SET", "k", "v"});
  CHECK(p.entry.timestamp_ms == now);

  CHECK(args_of(prepare(t, {"set", "k", "v", "EX", "10", "NX", "GET"}, now)) ==
        std::vector<std::string>{"set", "k", "v", "NX", "GET", "PXAT", at10s});
  CHECK(args_of(prepare(t, {"SET", "k", "v", "px", "10000", "xx"}, now)) ==
        std::vector<std::string>{"SET", "k", "v", "XX", "PXAT", at10s});
  CHECK(args_of(prepare(t, {"SET", "k", "v", "EXAT", "1700000010"}, now)) ==
        std::vector<std::string>{"SET", "k", "v", "PXAT", "1700000010000"});
  CHECK(args_of(prepare(t, {"SET", "k", "v", "PXAT", "123"}, now)) ==
        std::vector<std::string>{"SET", "k", "v", "PXAT", "123"});
  CHECK(args_of(prepare(t, {"SET", "k", "v", "KEEPTTL"}, now)) ==
        std::vector<std::string>{"SET", "k", "v", "KEEPTTL"});
  CHECK(args_of(prepare(t, {"SETEX", "k", "10", "v"}, now)) ==
        std::vector<std::string>{"SET", "k", "v", "PXAT", at10s});
  CHECK(args_of(prepare(t, {"PSETEX", "k", "10000", "v"}, now)) ==
        std::vector<std::string>{"SET", "k", "v", "PXAT", at10s});
  CHECK(args_of(prepare(t, {"EXPIRE", "k", "10", "GT"}, now)) ==
        std::vector<std::string>{"PEXPIREAT", "k", at10s, "GT"});
  CHECK(args_of(prepare(t, {"PEXPIRE", "k", "10000"}, now)) ==
        std::vector<std::string>{"PEXPIREAT", "k", at10s});
  CHECK(args_of(prepare(t, {"EXPIREAT", "k", "1700000010"}, now)) ==
        std::vector<std::string>{"PEXPIREAT", "k", "1700000010000"});
  CHECK(args_of(prepare(t, {"PEXPIREAT", "k", "5", "nx"}, now)) ==
        std::vector<std::string>{"PEXPIREAT", "k", "5", "nx"});
  CHECK(args_of(prepare(t, {"GETEX", "k", "EX", "10"}, now)) ==
        std::vector<std::string>{"GETEX", "k", "PXAT", at10s});
  // A bad GETEX time is Redis's to report after the lookup: left for apply.
  CHECK(args_of(prepare(t, {"GETEX", "k", "EX", "abc"}, now)) ==
        std::vector<std::string>{"GETEX", "k", "EX", "abc"});
  CHECK(args_of(prepare(t, {"INCRBYFLOAT", "k", "abc"}, now)) ==
        std::vector<std::string>{"INCRBYFLOAT", "k", "abc"});

  // Syntax errors: nothing to propose.
  p = prepare(t, {"SET", "k", "v", "EX", "10", "PX", "5"}, now);
  CHECK_FALSE(p.ok);
  CHECK(p.bytes.empty());
  CHECK(p.error == "-ERR syntax error\r\n");
  p = prepare(t, {"EXPIRE", "k", "10", "FOO"}, now);
  CHECK(p.error == "-ERR Unsupported option FOO\r\n");
  p = prepare(t, {"INCRBY", "k", "x"}, now);
  CHECK(p.error == "-ERR value is not an integer or out of range\r\n");
  p = prepare(t, {"MSET", "a", "1", "b"}, now);
  CHECK(p.error == "-ERR wrong number of arguments for 'mset' command\r\n");
}

TEST_CASE("expiry follows entry timestamps in apply and the local clock in reads") {
  Harness leader;
  CommandTable t;
  register_kv_commands(t);
  StateMachine follower(t);
  std::string reply;

  leader.now = kT0;
  leader.run({"SET", "k", "v", "PX", "1000"});
  REQUIRE(follower.apply(leader.entries.back(), reply));
  CHECK(reply == "+OK\r\n");

  const CommandSpec* get = t.find("get");
  const auto read = [&](std::int64_t now) {
    std::string r;
    resp::Writer w(r);
    const std::vector<std::string_view> args = {"GET", "k"};
    follower.read(*get, args, now, w);
    return r;
  };
  CHECK(read(kT0 + 999) == "$1\r\nv\r\n");
  CHECK(read(kT0 + 1000) == "$-1\r\n");
  CHECK(follower.keyspace().size() == 1);  // hidden, not deleted

  // A write stamped before the expiry still sees the key, even if applied much later.
  leader.now = kT0 + 999;
  CHECK(leader.run({"APPEND", "k", "1"}) == ":2\r\n");
  REQUIRE(follower.apply(leader.entries.back(), reply));
  CHECK(reply == ":2\r\n");
  // One stamped at the expiry treats it as absent (and removes it) on every node.
  leader.now = kT0 + 1000;
  CHECK(leader.run({"APPEND", "k", "x"}) == ":1\r\n");
  REQUIRE(follower.apply(leader.entries.back(), reply));
  CHECK(reply == ":1\r\n");
  CHECK(follower.keyspace().stats().expired_keys == 1);
  CHECK(dump(follower.keyspace()) == dump(leader.keyspace()));
  CHECK(dump(follower.keyspace()) == "k @- string=x\n");
}

TEST_CASE("REAPEXPIRED removes only keys still expired at its timestamp") {
  Harness h;
  h.run({"SET", "old", "v", "PX", "100"});
  h.run({"SET", "again", "v", "PX", "100"});
  h.run({"SET", "live", "v"});
  h.now += 200;
  CHECK(h.run({"GET", "old"}) == "$-1\r\n");
  CHECK(h.run({"GET", "again"}) == "$-1\r\n");
  auto candidates = h.keyspace().drain_expired_candidates();
  CHECK(candidates == std::vector<std::string>{"again", "old"});
  // Before the reap entry commits, a client sets "again" anew: the reap must not touch it.
  h.run({"SET", "again", "fresh"});
  std::string reply;
  candidates.push_back("live");
  candidates.push_back("missing");
  REQUIRE(h.state_machine().apply(make_reap_entry(h.now, candidates), reply));
  CHECK(reply == ":1\r\n");
  CHECK(h.run({"GET", "again"}) == "$5\r\nfresh\r\n");
  CHECK(h.run({"GET", "live"}) == "$1\r\nv\r\n");
  CHECK(h.keyspace().size() == 2);
  // "old" by the reap, "again" by the SET that found it expired.
  CHECK(h.keyspace().stats().expired_keys == 2);
}

TEST_CASE("apply: empty entries are no-ops and the reply is replaced") {
  Harness h;
  std::string reply = "stale";
  REQUIRE(h.state_machine().apply("", reply));
  CHECK(reply.empty());
  h.run({"SET", "k", "v"});
  reply = "stale";
  REQUIRE(h.state_machine().apply(h.entries.back(), reply));
  CHECK(reply == "+OK\r\n");
}

TEST_CASE("replicas fed the same entries end identical, through expiry and every command") {
  std::mt19937_64 rng(2024);
  Harness leader;
  CommandTable t;
  register_kv_commands(t);
  StateMachine replica(t);
  const auto key = [&] { return "k" + std::to_string(rng() % 40); };
  const auto num = [&](int m) { return std::to_string(static_cast<int>(rng() % m) - m / 4); };
  std::size_t applied = 0;
  for (int i = 0; i < 6000; ++i) {
    leader.now += static_cast<std::int64_t>(rng() % 300);
    std::vector<std::string> cmd;
    switch (rng() % 24) {
      case 0:
        cmd = {"SET", key(), num(100)};
        break;
      case 1:
        cmd = {"SET", key(), "v", "PX", std::to_string(1 + rng() % 2000)};
        break;
      case 2:
        cmd = {"SET", key(), "v", "EX", "1", "GET"};
        break;
      case 3:
        cmd = {"EXPIRE", key(), num(5)};
        break;
      case 4:
        cmd = {"PEXPIRE", key(), std::to_string(rng() % 1500), "GT"};
        break;
      case 5:
        cmd = {"DEL", key(), key()};
        break;
      case 6:
        cmd = {"INCR", key()};
        break;
      case 7:
        cmd = {"APPEND", key(), "ab"};
        break;
      case 8:
        cmd = {"HSET", key(), "f" + num(8), num(100)};
        break;
      case 9:
        cmd = {"HDEL", key(), "f" + num(8)};
        break;
      case 10:
        cmd = {"RENAME", key(), key()};
        break;
      case 11:
        cmd = {"GETEX", key(), "PX", std::to_string(1 + rng() % 1000)};
        break;
      case 12:
        cmd = {"SETRANGE", key(), std::to_string(rng() % 10), "xyz"};
        break;
      case 13:
        cmd = {"INCRBYFLOAT", key(), "0.1"};
        break;
      case 14:
        cmd = {"MSET", key(), "1", key(), "2"};
        break;
      case 15:
        cmd = {"PERSIST", key()};
        break;
      case 16:
        cmd = {"HINCRBY", key(), "n", num(10)};
        break;
      case 17:
        cmd = {"GETDEL", key()};
        break;
      case 18:
        cmd = {"SETNX", key(), "n"};
        break;
      case 19:
        cmd = {"MSETNX", key(), "1", key(), "2"};
        break;
      case 20:
        cmd = {"RENAMENX", key(), key()};
        break;
      case 21:
        cmd = {"GET", key()};
        break;  // reads: must not change replicated state
      case 22:
        cmd = {"KEYS", "*"};
        break;
      default:
        if (rng() % 50 == 0) {
          cmd = {"FLUSHDB"};
        } else {
          cmd = {"REAPEXPIRED", key(), key(), key()};
        }
    }
    const std::string leader_reply = leader.run(cmd);
    if (applied < leader.entries.size()) {  // a write was proposed: one entry
      REQUIRE(applied + 1 == leader.entries.size());
      std::string replica_reply;
      REQUIRE(replica.apply(leader.entries[applied++], replica_reply));
      REQUIRE(replica_reply == leader_reply);
    }
    if (i % 500 == 0) REQUIRE(dump(replica.keyspace()) == dump(leader.keyspace()));
  }
  CHECK(dump(replica.keyspace()) == dump(leader.keyspace()));
  CHECK(replica.keyspace().stats().expired_keys == leader.keyspace().stats().expired_keys);
  CHECK(replica.keyspace().stats().used_bytes == leader.keyspace().stats().used_bytes);
  CHECK(leader.keyspace().stats().expired_keys > 0);
  CHECK(leader.keyspace().size() > 0);

  // Two more replicas replaying the whole log later agree with each other and the leader.
  StateMachine third(t);
  StateMachine fourth(t);
  for (const auto& e : leader.entries) {
    std::string a, b;
    REQUIRE(third.apply(e, a));
    REQUIRE(fourth.apply(e, b));
    REQUIRE(a == b);
  }
  CHECK(dump(third.keyspace()) == dump(leader.keyspace()));
}

TEST_CASE("an entry this node cannot apply is refused with its reason and changes nothing") {
  CommandTable t;
  register_kv_commands(t);
  StateMachine sm(t);
  std::string reply;
  const auto entry = [](std::vector<std::string_view> args) {
    std::string e;
    encode_entry(kT0, args, e);
    return e;
  };
  const auto refused = [&](const std::string& e) {
    const Status checked = sm.check(e);
    const Status applied = sm.apply(e, reply);
    CHECK(checked.message() == applied.message());
    return applied ? std::string("<applied>") : applied.message();
  };
  CHECK_THAT(refused(entry({"PLUGIN.SET", "k", "v"})),
             Catch::Contains("unknown command 'PLUGIN.SET'") &&
                 Catch::Contains("plugin loaded on the leader but not on this node"));
  CHECK_THAT(refused("\x07garbage"), Catch::Contains("unknown entry format version"));
  CHECK_THAT(refused(entry({"SET", "k", "v"}).substr(0, 20)), Catch::Contains("truncated entry"));
  CHECK_THAT(refused(entry({"GET", "k"})), Catch::Contains("'get' is not a write command"));
  CHECK_THAT(refused(entry({"SET", "k"})), Catch::Contains("does not fit its arity"));
  CHECK(sm.keyspace().size() == 0);
  CHECK(refused(entry({"SET", "k", "v"})) == "<applied>");
  CHECK(sm.keyspace().size() == 1);
}

}  // namespace raftd::test
