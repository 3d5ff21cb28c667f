// The admission gate (server/client/admission.h): the one check every command passes, from a
// client of this node or forwarded by a follower.
#include "server/client/admission.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "server/commands/connection_commands.h"
#include "server/config.h"
#include "server/keyspace/kv_commands.h"

namespace raftd::test {

namespace {

struct Gate {
  Gate() {
    register_kv_commands(table);
    register_connection_commands(table);
    config.max_entry_size = 64;
  }
  Result<const CommandSpec*> admit(std::vector<std::string> words) {
    std::vector<std::string_view> args(words.begin(), words.end());
    return gate.admit(Args(args.data(), args.size()));
  }
  CommandTable table;
  Config config;
  AdmissionGate gate{table, config};
};

}  // namespace

TEST_CASE("admission names the row, case-insensitively, and caches nothing wrong") {
  Gate g;
  auto r = g.admit({"get", "k"});
  REQUIRE(r);
  CHECK((*r)->name == "get");
  // The cache is keyed by exact bytes: other spellings still find the row, near misses do not.
  for (int i = 0; i < 3; ++i) {
    CHECK(*g.admit({"GET", "k"}) == g.table.find("get"));
    CHECK(*g.admit({"gEt", "k"}) == g.table.find("get"));
    CHECK(*g.admit({"set", "k", "v"}) == g.table.find("set"));
  }
  auto miss = g.admit({"gett", "k", "x"});
  REQUIRE_FALSE(miss);
  CHECK(miss.status().message() ==
        "ERR unknown command 'gett', with args beginning with: 'k' 'x' ");
  CHECK(g.gate.is_write("SET"));
  CHECK_FALSE(g.gate.is_write("get"));
  CHECK_FALSE(g.gate.is_write("nosuch"));
}

TEST_CASE("admission refuses internal rows, bad subcommands and wrong arity") {
  Gate g;
  auto internal = g.admit({"reapexpired", "k"});
  REQUIRE_FALSE(internal);
  CHECK(internal.status().message().rfind("ERR unknown command 'reapexpired'", 0) == 0);
  CHECK_FALSE(g.gate.is_write("reapexpired"));

  auto arity = g.admit({"get"});
  REQUIRE_FALSE(arity);
  CHECK(arity.status().message() == "ERR wrong number of arguments for 'get' command");

  auto sub = g.admit({"client", "setname", "x"});
  REQUIRE(sub);
  CHECK((*sub)->name == "client|setname");
  auto bad_sub = g.admit({"CLIENT", "fly"});
  REQUIRE_FALSE(bad_sub);
  CHECK(bad_sub.status().message().rfind("ERR unknown subcommand 'fly'", 0) == 0);
  auto sub_arity = g.admit({"client", "setname"});
  REQUIRE_FALSE(sub_arity);
  CHECK(sub_arity.status().message() ==
        "ERR wrong number of arguments for 'client|setname' command");

  auto empty = g.admit({});
  CHECK_FALSE(empty);
}

TEST_CASE("admission refuses a write larger than max-entry-size, and only a write") {
  Gate g;
  CHECK(g.admit({"set", "k", std::string(50, 'v')}));
  auto big = g.admit({"set", "k", std::string(64, 'v')});
  REQUIRE_FALSE(big);
  CHECK(big.status().message() ==
        "ERR write too large to replicate: its arguments take 68 bytes, more than "
        "max-entry-size (64 bytes)");
  // Reads are never copied into the log: no limit beyond proto-max-bulk-len.
  CHECK(g.admit({"get", std::string(200, 'k')}));
  // The option is live: the gate reads the value each time.
  g.config.max_entry_size = 1000;
  CHECK(g.admit({"set", "k", std::string(64, 'v')}));
}

}  // namespace raftd::test
