// The invariant checker must catch what it claims to catch: each test feeds it a history that
// breaks one Raft property (thesis figure 3.2) and expects exactly that kind of violation, and a
// correct history must pass untouched.
#include "tests/sim/checker.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/sim/entry_hash.h"
#include "tests/sim/sim_state_machine.h"

using raft::Entry;
using raft::EntryType;
using raft::HardState;
using raft::Role;
using raftsim::Checker;

namespace {

Entry E(raft::Index i, raft::Term t, std::string data = {}) {
  return Entry{t, i, EntryType::kNormal, std::move(data)};
}

/// State hash after applying `es` from the empty state (what SimStateMachine reports).
std::uint64_t state_after(const std::vector<Entry>& es) {
  std::uint64_t h = raftsim::kEmptyPrefixHash;
  for (const Entry& e : es) h = raftsim::chain_hash(h, e);
  return h;
}

bool mentions(const Checker& c, const std::string& what) {
  for (const std::string& v : c.violations()) {
    if (v.find(what) != std::string::npos) return true;
  }
  return false;
}

/// Node `id` durably holds `log` with commit `commit` in `term`.
void persist(Checker& c, raft::NodeId id, const std::vector<Entry>& log, raft::Term term,
             raft::Index commit, raft::NodeId vote = raft::kNoNode) {
  c.log_append(id, log);
  c.hard_state_persisted(id, HardState{term, vote, commit});
}

}  // namespace

TEST_CASE("a correct history passes every check", "[sim][checker]") {
  Checker c;
  const std::vector<Entry> log = {E(1, 1), E(2, 1, "a=1"), E(3, 2), E(4, 2, "b=2")};
  for (raft::NodeId id : {1, 2, 3}) c.incarnation_started(id, 0, raftsim::kEmptyPrefixHash);
  c.observe_role(1, 1, Role::kLeader);
  persist(c, 1, {log[0], log[1]}, 1, 0, 1);
  persist(c, 2, {log[0], log[1]}, 1, 2, 1);
  c.hard_state_persisted(1, HardState{1, 1, 2});
  c.observe_role(2, 2, Role::kLeader);
  persist(c, 2, {log[2], log[3]}, 2, 4, 2);
  persist(c, 3, log, 2, 4, 2);
  c.observe_role(2, 2, Role::kLeader);
  std::vector<Entry> applied;
  for (const Entry& e : log) {
    applied.push_back(e);
    c.applied(2, 2, e, state_after(applied));
    c.applied(3, 2, e, state_after(applied));
  }
  c.read_issued("r1");
  c.read_confirmed(2, raft::ReadState{4, "r1"});
  c.log_compact(3, 3, 2);
  c.observe_progress(2, 4, 4);
  c.check_logs_pairwise();
  c.check_converged(2, 4);
  c.check_converged(3, 4);
  INFO((c.ok() ? std::string() : c.violations().front()));
  CHECK(c.ok());
  CHECK(c.max_committed() == 4);
}

TEST_CASE("two leaders in one term break election safety", "[sim][checker]") {
  Checker c;
  c.observe_role(1, 5, Role::kLeader);
  c.observe_role(1, 5, Role::kLeader);  // the same leader again is fine
  CHECK(c.ok());
  c.observe_role(2, 5, Role::kLeader);
  CHECK_FALSE(c.ok());
  CHECK(mentions(c, "election safety"));
}

TEST_CASE("divergent applied entries break state machine safety", "[sim][checker]") {
  Checker c;
  c.incarnation_started(1, 0, raftsim::kEmptyPrefixHash);
  c.incarnation_started(2, 0, raftsim::kEmptyPrefixHash);
  persist(c, 1, {E(1, 1, "x=1")}, 1, 1);
  persist(c, 2, {E(1, 2, "x=2")}, 2, 1);
  c.applied(1, 1, E(1, 1, "x=1"), state_after({E(1, 1, "x=1")}));
  c.applied(2, 2, E(1, 2, "x=2"), state_after({E(1, 2, "x=2")}));
  CHECK_FALSE(c.ok());
  CHECK(mentions(c, "state machine safety"));
}

TEST_CASE("the same entry applied over a different state is caught", "[sim][checker]") {
  Checker c;
  c.incarnation_started(1, 0, raftsim::kEmptyPrefixHash);
  c.incarnation_started(2, 0, raftsim::kEmptyPrefixHash);
  persist(c, 1, {E(1, 1, "a"), E(2, 1, "b")}, 1, 2);
  c.applied(1, 1, E(1, 1, "a"), state_after({E(1, 1, "a")}));
  c.applied(1, 1, E(2, 1, "b"), state_after({E(1, 1, "a"), E(2, 1, "b")}));
  REQUIRE(c.ok());
  // Node 2 reports index 2 with the same entry but a state built from a different index 1.
  persist(c, 2, {E(1, 1, "a"), E(2, 1, "b")}, 1, 2);
  c.applied(2, 1, E(1, 1, "a"), state_after({E(1, 1, "a")}));
  c.applied(2, 1, E(2, 1, "b"), state_after({E(1, 1, "z"), E(2, 1, "b")}));
  CHECK(mentions(c, "state machine safety"));
}

TEST_CASE("same index and term with different data breaks log matching", "[sim][checker]") {
  Checker c;
  c.log_append(1, {E(1, 1, "a"), E(2, 1, "b")});
  c.log_append(2, {E(1, 1, "a"), E(2, 1, "c")});
  CHECK(mentions(c, "log matching"));
}

TEST_CASE("same entry over different prefixes breaks log matching", "[sim][checker]") {
  Checker c;
  c.log_append(1, {E(1, 1, "a"), E(2, 3, "b")});
  c.log_append(2, {E(1, 2, "z"), E(2, 3, "b")});
  CHECK(mentions(c, "log matching"));
}

TEST_CASE("pairwise log matching finds divergent prefixes", "[sim][checker]") {
  Checker c;
  c.log_append(1, {E(1, 1, "a"), E(2, 1, "b")});
  c.check_logs_pairwise();
  REQUIRE(c.ok());
  // Registering 2@1 first from a different prefix would already fire incrementally; this checks
  // the independent pairwise pass on a mirror that was compacted differently.
  Checker d;
  d.log_append(1, {E(1, 1, "a"), E(2, 2, "b")});
  d.log_append(2, {E(1, 1, "q")});
  d.check_logs_pairwise();
  CHECK(mentions(d, "log matching"));
}

TEST_CASE("a leader missing a committed entry breaks leader completeness", "[sim][checker]") {
  Checker c;
  persist(c, 1, {E(1, 1), E(2, 1, "x=1")}, 1, 2);
  persist(c, 2, {E(1, 1), E(2, 1, "x=1")}, 1, 2);
  persist(c, 3, {E(1, 1)}, 2, 1);
  c.observe_role(3, 2, Role::kLeader);
  CHECK_FALSE(c.ok());
  CHECK(mentions(c, "leader completeness"));
}

TEST_CASE("a stale leader of an earlier term is not held to later commits", "[sim][checker]") {
  Checker c;
  persist(c, 1, {E(1, 1)}, 1, 1);
  persist(c, 2, {E(1, 1), E(2, 3, "y")}, 3, 2);
  c.observe_role(1, 1, Role::kLeader);  // term 1 < 3: entry 2 was committed later
  CHECK(c.ok());
}

TEST_CASE("overwriting a durable committed entry is caught", "[sim][checker]") {
  Checker c;
  persist(c, 1, {E(1, 1, "a"), E(2, 1, "b")}, 1, 2);
  c.log_append(1, {E(2, 2, "c")});
  CHECK(mentions(c, "committed entry"));
}

TEST_CASE("commit going back is caught, durably and per incarnation", "[sim][checker]") {
  Checker c;
  persist(c, 1, {E(1, 1), E(2, 1)}, 1, 2);
  c.hard_state_persisted(1, HardState{1, 0, 1});
  CHECK(mentions(c, "durable commit went back"));

  Checker d;
  d.observe_progress(1, 5, 5);
  d.observe_progress(1, 4, 5);
  CHECK(mentions(d, "commit index went back"));
  Checker e;
  e.observe_progress(1, 5, 5);
  e.incarnation_started(1, 0, raftsim::kEmptyPrefixHash);  // a restart may start lower
  e.observe_progress(1, 3, 0);
  CHECK(e.ok());
}

TEST_CASE("changing a vote within a term is caught", "[sim][checker]") {
  Checker c;
  c.hard_state_persisted(1, HardState{4, 2, 0});
  c.hard_state_persisted(1, HardState{4, 3, 0});
  CHECK(mentions(c, "vote changed"));
  Checker d;
  d.hard_state_persisted(1, HardState{4, 2, 0});
  d.hard_state_persisted(1, HardState{3, 2, 0});
  CHECK(mentions(d, "term went back"));
}

TEST_CASE("a stale read index breaks ReadIndex linearizability", "[sim][checker]") {
  Checker c;
  persist(c, 1, {E(1, 1), E(2, 1, "x=1"), E(3, 1, "x=2")}, 1, 3);
  c.read_issued("r");
  c.read_confirmed(2, raft::ReadState{2, "r"});
  CHECK(mentions(c, "linearizability"));
}

TEST_CASE("applying out of order, twice, or uncommitted is caught", "[sim][checker]") {
  Checker c;
  c.incarnation_started(1, 0, raftsim::kEmptyPrefixHash);
  persist(c, 1, {E(1, 1), E(2, 1, "a"), E(3, 1, "b")}, 1, 2);
  c.applied(1, 1, E(2, 1, "a"), state_after({E(2, 1, "a")}));
  CHECK(mentions(c, "in order"));

  Checker d;
  d.incarnation_started(1, 0, raftsim::kEmptyPrefixHash);
  persist(d, 1, {E(1, 1), E(2, 1, "a")}, 1, 1);
  d.applied(1, 1, E(1, 1), state_after({E(1, 1)}));
  d.applied(1, 1, E(2, 1, "a"), state_after({E(1, 1), E(2, 1, "a")}));
  CHECK(mentions(d, "beyond its durable commit"));
}

TEST_CASE("a node that misses committed entries after healing is caught", "[sim][checker]") {
  Checker c;
  persist(c, 1, {E(1, 1), E(2, 1)}, 1, 2);
  c.check_converged(2, 1);
  CHECK(mentions(c, "after healing"));
}

TEST_CASE("snapshots must be of the committed state", "[sim][checker]") {
  Checker c;
  c.incarnation_started(1, 0, raftsim::kEmptyPrefixHash);
  persist(c, 1, {E(1, 1), E(2, 1, "a")}, 1, 1);
  c.log_compact(1, 2, 1);  // index 2 is not committed
  CHECK(mentions(c, "not of the committed log"));

  Checker d;
  d.incarnation_started(1, 0, raftsim::kEmptyPrefixHash);
  persist(d, 1, {E(1, 1), E(2, 1, "a")}, 1, 2);
  d.applied(1, 1, E(1, 1), state_after({E(1, 1)}));
  d.applied(1, 1, E(2, 1, "a"), state_after({E(1, 1), E(2, 1, "a")}));
  d.snapshot_restored(1, 2, state_after({E(1, 1), E(2, 1, "zzz")}));
  CHECK(mentions(d, "not the committed state"));
}

TEST_CASE("the state machine snapshot round-trips and rejects corruption", "[sim][checker]") {
  raftsim::SimStateMachine sm(raft::ConfState{{1, 2, 3}, {}});
  REQUIRE(sm.apply(E(1, 1)));
  REQUIRE(sm.apply(E(2, 1, "k=v")));
  const raft::ConfChange cc{raft::ConfChangeType::kAddLearner, 4, "ctx"};
  REQUIRE(sm.apply(Entry{1, 3, EntryType::kConfChange, raft::encode_conf_change(cc)}));
  const std::string body = sm.serialize();
  auto back = raftsim::SimStateMachine::parse(body);
  REQUIRE(back);
  CHECK(back->applied() == 3);
  CHECK(back->hash() == sm.hash());
  CHECK(back->conf() == sm.conf());
  CHECK(back->kv() == sm.kv());
  std::string bad = body;
  bad[bad.size() / 2] ^= 0x40;
  CHECK_FALSE(raftsim::SimStateMachine::parse(bad));
  CHECK_FALSE(raftsim::SimStateMachine::parse(body.substr(0, body.size() - 1)));
}
