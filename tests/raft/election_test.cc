#include <catch2/catch.hpp>

#include "tests/raft/cluster.h"

using namespace rafttest;
using raft::Role;

TEST_CASE("smoke: three nodes elect a leader and replicate", "[raft][smoke]") {
  Cluster c = Cluster::of(3);
  REQUIRE(c.elect(1) == 1);
  const Index i = c.propose(1, "hello");
  REQUIRE(i == 2);
  for (NodeId id : c.ids()) {
    INFO("node " << id);
    REQUIRE(c.peer(id).sm == std::vector<std::string>{"hello"});
  }
}

TEST_CASE("smoke: single node elects itself and commits", "[raft][smoke]") {
  Cluster c = Cluster::of(1);
  REQUIRE(c.elect(1) == 1);
  REQUIRE(c.propose(1, "x") == 2);
  REQUIRE(c.peer(1).sm == std::vector<std::string>{"x"});
}

TEST_CASE("smoke: ticking elects a leader", "[raft][smoke]") {
  Cluster c = Cluster::of(5);
  REQUIRE(c.tick_until([&] { return c.leader() != 0; }, 100));
}
