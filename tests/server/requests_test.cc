// The node host's request tracker (server/node/requests.h): who gets which answer, when.
// Time is passed in, so nothing here sleeps.
#include "server/node/requests.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace raftd::test {

namespace {

/// Completions that record their replies, in the order they ran.
struct Replies {
  std::vector<std::string> got;
  Proposer::Completion done(std::string tag) {
    return [this, tag](std::string_view r) { got.push_back(tag + ":" + std::string(r)); };
  }
};

Proposer::ReadFn read_value(std::string value) {
  return [value](std::string& out) { out = value; };
}

}  // namespace

TEST_CASE("a write gets the reply of its own entry; one cut from the log learns it") {
  RequestTracker t(42);
  Replies r;
  t.add_write(5, 2, r.done("a"), 1000);
  t.add_write(6, 2, r.done("b"), 1000);
  t.add_write(8, 2, r.done("c"), 1000);
  t.write_applied(6, 2, "+OK\r\n");  // 5 was overwritten by another leader's entry at 6
  REQUIRE(r.got.size() == 2);
  CHECK(r.got[0] ==
        "a:-CLUSTERDOWN leader changed before the command was committed; it was not applied\r\n");
  CHECK(r.got[1] == "b:+OK\r\n");
  t.write_applied(8, 3, ":1\r\n");  // same index, another term: not ours
  CHECK(r.got.back().rfind("c:-CLUSTERDOWN leader changed", 0) == 0);
  CHECK(t.pending_writes() == 0);
}

TEST_CASE("writes decided inside an installed snapshot have an unknown outcome") {
  RequestTracker t(1);
  Replies r;
  t.add_write(3, 1, r.done("a"), 1000);
  t.add_write(9, 1, r.done("b"), 1000);
  t.writes_replaced(5);
  REQUIRE(r.got.size() == 1);
  CHECK(r.got[0].rfind("a:-TIMEOUT the command's outcome is unknown", 0) == 0);
  CHECK(t.pending_writes() == 1);
}

TEST_CASE("reads of one turn share one round and run once their index is applied") {
  RequestTracker t(7);
  Replies r;
  CHECK_FALSE(t.open_read_round(true));  // nothing waits
  t.add_read(read_value("$1\r\nx\r\n"), r.done("a"), 1000);
  t.add_read(read_value("$1\r\ny\r\n"), r.done("b"), 1000);
  auto ctx = t.open_read_round(true);
  REQUIRE(ctx);
  CHECK(t.read_rounds() == 1);
  CHECK(t.pending_reads() == 2);
  CHECK_FALSE(t.open_read_round(true));  // both are in the round
  t.read_round_confirmed(*ctx, 10);
  std::string scratch;
  t.run_confirmed_reads(9, scratch);
  CHECK(r.got.empty());  // index 10 not applied yet
  t.run_confirmed_reads(10, scratch);
  CHECK(r.got == std::vector<std::string>{"a:$1\r\nx\r\n", "b:$1\r\ny\r\n"});
  // A confirmation of an unknown (timed-out or superseded) round is ignored.
  t.read_round_confirmed(*ctx, 11);
  t.read_round_confirmed(*ctx + 1000, 11);
  CHECK(t.pending_reads() == 0);
}

TEST_CASE("round contexts and forward ids differ between incarnations") {
  RequestTracker a(1000), b(2000);
  Replies r;
  a.add_read(read_value(""), r.done("a"), 1);
  b.add_read(read_value(""), r.done("b"), 1);
  CHECK(*a.open_read_round(true) != *b.open_read_round(true));
  CHECK(a.next_forward_id() != b.next_forward_id());
}

TEST_CASE("without a leader new reads fail at once; reads under way wait for the next one") {
  RequestTracker t(3);
  Replies r;
  t.add_read(read_value("old"), r.done("under-way"), 500);
  auto ctx = t.open_read_round(true);
  REQUIRE(ctx);
  CHECK(t.leader_changed());  // the round will never be confirmed
  CHECK_FALSE(t.leader_changed());
  t.read_round_confirmed(*ctx, 4);  // a late answer to the old round changes nothing
  t.add_read(read_value("new"), r.done("new"), 600);
  CHECK_FALSE(t.open_read_round(false));
  REQUIRE(r.got.size() == 1);
  CHECK(r.got[0] == "new:-CLUSTERDOWN no leader\r\n");
  CHECK(t.pending_reads() == 1);
  // A leader is known again: the waiting read is asked again, first.
  t.add_read(read_value("later"), r.done("later"), 700);
  auto again = t.open_read_round(true);
  REQUIRE(again);
  CHECK(*again != *ctx);
  t.read_round_confirmed(*again, 4);
  std::string scratch;
  t.run_confirmed_reads(4, scratch);
  CHECK(r.got ==
        std::vector<std::string>{"new:-CLUSTERDOWN no leader\r\n", "under-way:old", "later:later"});
}

TEST_CASE("deadlines expire each kind of request with its own -TIMEOUT, and only those due") {
  RequestTracker t(9);
  Replies r;
  t.add_write(1, 1, r.done("w1"), 100);
  t.add_write(2, 1, r.done("w2"), 200);
  t.add_read(read_value(""), r.done("r1"), 100);
  auto ctx = t.open_read_round(true);
  REQUIRE(ctx);
  t.add_read(read_value(""), r.done("r2"), 150);
  REQUIRE(t.open_read_round(true));
  CHECK(t.leader_changed());  // both rounds now wait for a leader
  t.add_read(read_value(""), r.done("r3"), 100);
  REQUIRE(t.open_read_round(true));  // r1 and r2 asked again with r3, in one round
  const std::uint64_t f1 = t.next_forward_id();
  t.add_forward(f1, 7, r.done("f1"), 100);
  const std::uint64_t f2 = t.next_forward_id();
  t.add_forward(f2, 7, r.done("f2"), 300);

  t.expire(99);
  CHECK(r.got.empty());
  t.expire(100);
  CHECK(r.got == std::vector<std::string>{
                     "w1:-TIMEOUT the command was proposed but its outcome is unknown (no commit "
                     "in time)\r\n",
                     "r1:-TIMEOUT the read could not be confirmed in time\r\n",
                     "r2:-TIMEOUT the read could not be confirmed in time\r\n",
                     "r3:-TIMEOUT the read could not be confirmed in time\r\n",
                     "f1:-TIMEOUT no reply from the leader; the command's outcome is unknown\r\n"});
  r.got.clear();
  t.forward_replied(f1, "+late\r\n");  // already answered: ignored
  t.forward_replied(f2, "+OK\r\n");
  CHECK(r.got == std::vector<std::string>{"f2:+OK\r\n"});
  CHECK(t.pending_writes() == 1);
  CHECK(t.pending_forwards() == 0);
}

TEST_CASE("reads waiting for a leader expire in arrival order") {
  RequestTracker t(5);
  Replies r;
  t.add_read(read_value(""), r.done("a"), 100);
  REQUIRE(t.open_read_round(true));
  t.add_read(read_value(""), r.done("b"), 200);
  REQUIRE(t.open_read_round(true));
  CHECK(t.leader_changed());
  t.expire(150);
  CHECK(r.got == std::vector<std::string>{"a:-TIMEOUT no leader to confirm the read in time\r\n"});
  CHECK(t.pending_reads() == 1);
}

TEST_CASE("a lost leader connection fails only the writes forwarded to it") {
  RequestTracker t(11);
  Replies r;
  const auto a = t.next_forward_id();
  t.add_forward(a, 1, r.done("a"), 1000);
  const auto b = t.next_forward_id();
  t.add_forward(b, 2, r.done("b"), 1000);
  t.forwards_lost(1, "-TIMEOUT lost\r\n");
  CHECK(r.got == std::vector<std::string>{"a:-TIMEOUT lost\r\n"});
  CHECK(t.pending_forwards() == 1);
}

TEST_CASE("fail_all answers everything, and a completion may add requests meanwhile") {
  RequestTracker t(13);
  Replies r;
  t.add_write(1, 1, r.done("w"), 1000);
  t.add_forward(t.next_forward_id(), 2, r.done("f"), 1000);
  t.add_read(read_value(""), r.done("round"), 1000);
  auto ctx = t.open_read_round(true);
  REQUIRE(ctx);
  t.add_read(read_value(""), r.done("confirmed"), 1000);
  t.read_round_confirmed(*t.open_read_round(true), 50);
  // A completion that re-enters, as a session running its next parked command does.
  t.add_read(
      read_value(""),
      [&](std::string_view reply) {
        r.got.push_back("unsent:" + std::string(reply));
        t.add_read(read_value(""), r.done("added"), 1000);
      },
      1000);
  t.fail_all("-TIMEOUT unknown\r\n", "-CLUSTERDOWN down\r\n");
  CHECK(r.got == std::vector<std::string>{"w:-TIMEOUT unknown\r\n", "f:-TIMEOUT unknown\r\n",
                                          "round:-CLUSTERDOWN down\r\n",
                                          "unsent:-CLUSTERDOWN down\r\n",
                                          "confirmed:-CLUSTERDOWN down\r\n"});
  CHECK(t.pending_reads() == 1);  // the one added from inside a completion, untouched
  CHECK(t.pending_writes() == 0);
}

}  // namespace raftd::test
