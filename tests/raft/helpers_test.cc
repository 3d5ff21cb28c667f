// The small pure helpers, each tested alone: quorum math (against a naive version), inflight
// windows, progress transitions, the log view, and the conf-change encoding.
#include <catch2/catch.hpp>

#include "raft/conf_history.h"
#include "raft/log.h"
#include "raft/memory_storage.h"
#include "raft/progress.h"
#include "raft/quorum.h"
#include "raft/types.h"
#include "tests/raft/cluster.h"

using namespace raft;
using rafttest::entries_with_terms;
using rafttest::Rng;

namespace {

// Naive commit index: the largest N such that a majority has match >= N.
Index naive_committed(const std::vector<NodeId>& voters, const std::map<NodeId, Index>& match) {
  Index best = 0;
  for (const auto& [id, candidate] : match) {
    (void)id;
    std::size_t n = 0;
    for (NodeId v : voters) {
      auto it = match.find(v);
      n += (it != match.end() && it->second >= candidate);
    }
    if (n >= voters.size() / 2 + 1) best = std::max(best, candidate);
  }
  return best;
}

[[noreturn]] void die(const std::string& w) {
  FAIL(w);
  std::abort();
}

}  // namespace

TEST_CASE("quorum::committed_index agrees with the naive definition", "[raft][quorum]") {
  Rng rng(42);
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<NodeId> voters;
    const std::size_t n = 1 + rng(7);
    for (NodeId id = 1; id <= n; ++id) voters.push_back(id);
    std::map<NodeId, Index> match;
    for (NodeId id = 1; id <= n + 2; ++id) {  // ids > n are learners: must not count
      if (rng(4) != 0) match[id] = rng(20);
    }
    INFO("iteration " << iter);
    REQUIRE(quorum::committed_index(voters, match) == naive_committed(voters, match));
  }
  REQUIRE(quorum::committed_index({}, {}) == 0);
}

TEST_CASE("quorum::vote_result", "[raft][quorum]") {
  using quorum::VoteResult;
  const std::vector<NodeId> five{1, 2, 3, 4, 5};
  REQUIRE(quorum::vote_result(five, {{1, true}, {2, true}}) == VoteResult::kPending);
  REQUIRE(quorum::vote_result(five, {{1, true}, {2, true}, {3, true}}) == VoteResult::kWon);
  REQUIRE(quorum::vote_result(five, {{1, true}, {2, false}, {3, false}, {4, false}}) ==
          VoteResult::kLost);
  // Votes from non-members (learners) count for nothing.
  REQUIRE(quorum::vote_result(five, {{1, true}, {6, true}, {7, true}}) == VoteResult::kPending);
  REQUIRE(quorum::vote_result({1}, {{1, true}}) == VoteResult::kWon);
  REQUIRE(quorum::vote_result({1, 2}, {{1, true}, {2, false}}) == VoteResult::kLost);
  REQUIRE(quorum::has_quorum({1, 2, 3}, {1, 3}));
  REQUIRE_FALSE(quorum::has_quorum({1, 2, 3}, {1, 4, 5}));
}

TEST_CASE("Inflights: bounded window freed by acknowledgements", "[raft][progress]") {
  Inflights in(3);
  in.add(5);
  in.add(9);
  REQUIRE_FALSE(in.full());
  in.add(12);
  REQUIRE(in.full());
  in.free_le(8);
  REQUIRE(in.count() == 2);
  in.free_le(100);
  REQUIRE(in.count() == 0);
}

TEST_CASE("Progress: probe, replicate and snapshot transitions", "[raft][progress]") {
  Progress pr(2);
  pr.match = 3;
  pr.next = 4;
  // Probe: one Append, then paused until an answer.
  REQUIRE_FALSE(pr.is_paused());
  pr.sent_entries(6, 3);
  REQUIRE(pr.is_paused());
  REQUIRE(pr.maybe_update(6));
  REQUIRE_FALSE(pr.is_paused());
  pr.become_replicate();
  REQUIRE(pr.next == 7);
  pr.sent_entries(8, 2);
  pr.sent_entries(10, 2);
  REQUIRE(pr.next == 11);
  REQUIRE(pr.is_paused());  // window of 2 is full
  // A stale rejection (at or below match) is ignored; a real one falls back to probing.
  REQUIRE_FALSE(pr.maybe_decr_to(6, 0));
  REQUIRE(pr.maybe_decr_to(8, 7));
  REQUIRE(pr.state == ProgressState::kProbe);
  REQUIRE(pr.next == 8);  // min(rejected, hint + 1), at least match + 1
  // Probe: only the answer to the outstanding probe (prev = next - 1) counts.
  REQUIRE_FALSE(pr.maybe_decr_to(9, 0));
  REQUIRE(pr.maybe_decr_to(7, 2));
  REQUIRE(pr.next == 7);  // never below match + 1
  pr.become_snapshot(20);
  REQUIRE(pr.is_paused());
  pr.maybe_update(20);
  pr.become_probe();
  REQUIRE(pr.next == 21);
}

TEST_CASE("RaftLog: unstable tail over storage", "[raft][log]") {
  MemoryStorage st;
  st.append(entries_with_terms(1, {1, 1, 2}));
  RaftLog log(st, die);
  REQUIRE(log.first_index() == 1);
  REQUIRE(log.last_index() == 3);
  REQUIRE(log.last_term() == 2);
  // Append over a suffix: index 3 is replaced, 4 added, not yet stable.
  log.append(entries_with_terms(3, {3, 3}));
  REQUIRE(log.last_index() == 4);
  REQUIRE(log.term_or_zero(3) == 3);
  REQUIRE(log.persisted_index() == 2);
  std::vector<Entry> next = log.next_unstable_entries();
  REQUIRE(next.size() == 2);
  log.accept_unstable();
  REQUIRE_FALSE(log.has_next_unstable_entries());
  st.append(next);
  log.stable_to(4, 3);
  REQUIRE(log.persisted_index() == 4);
  // Reading across the storage/unstable boundary honours the byte bound (first entry always).
  log.append(entries_with_terms(5, {3, 3}));
  std::vector<Entry> out;
  REQUIRE(log.entries(1, 7, 1000, out) == StorageError::kOk);
  REQUIRE(out.size() == 6);
  out.clear();
  REQUIRE(log.entries(3, 7, 2, out) == StorageError::kOk);
  REQUIRE(out.size() == 1);
  REQUIRE(log.is_up_to_date(6, 3));
  REQUIRE_FALSE(log.is_up_to_date(5, 3));
  REQUIRE(log.is_up_to_date(1, 4));
}

TEST_CASE("RaftLog::find_conflict_by_term", "[raft][log]") {
  MemoryStorage st;
  // index: 1 2 3 4 5 6 7
  // term:  1 1 2 2 4 4 4
  st.append(entries_with_terms(1, {1, 1, 2, 2, 4, 4, 4}));
  RaftLog log(st, die);
  REQUIRE(log.find_conflict_by_term(7, 4) == std::make_pair<Index, Term>(7, 4));
  REQUIRE(log.find_conflict_by_term(7, 3) == std::make_pair<Index, Term>(4, 2));
  REQUIRE(log.find_conflict_by_term(7, 1) == std::make_pair<Index, Term>(2, 1));
  REQUIRE(log.find_conflict_by_term(7, 0) == std::make_pair<Index, Term>(0, 0));
  // Compacted terms are unknown: the index itself is returned with term 0.
  st.compact(SnapshotMeta{3, 2, {}}, "");
  RaftLog log2(st, die);
  REQUIRE(log2.find_conflict_by_term(7, 2) == std::make_pair<Index, Term>(4, 2));
  REQUIRE(log2.find_conflict_by_term(7, 1) == std::make_pair<Index, Term>(2, 0));
}

TEST_CASE("RaftLog: commit never decreases; committed entries are handed out once", "[raft][log]") {
  MemoryStorage st;
  st.append(entries_with_terms(1, {1, 1, 1}));
  RaftLog log(st, die);
  log.commit_to(2);
  log.commit_to(1);
  REQUIRE(log.committed() == 2);
  std::vector<Entry> c = log.next_committed(1 << 20);
  REQUIRE(c.size() == 2);
  log.applying_to(2);
  REQUIRE_FALSE(log.has_next_committed());
  log.commit_to(3);
  REQUIRE(log.next_committed(1 << 20).size() == 1);
}

TEST_CASE("conf change encoding round-trips and rejects garbage", "[raft][types]") {
  const ConfChange cc{ConfChangeType::kAddLearner, 0x0102030405060708ULL,
                      std::string("host:1\0\xff", 8)};
  REQUIRE(decode_conf_change(encode_conf_change(cc)) == cc);
  const ConfState after{{1, 2}, {0x0102030405060708ULL}};
  const ConfState before{{1, 2, 3}, {}};
  const std::string entry = encode_conf_change_entry(cc, after, before);
  REQUIRE(decode_conf_change(entry) == cc);
  REQUIRE(decode_conf_state(entry) == after);
  REQUIRE(decode_previous_conf_state(entry) == before);
  REQUIRE_FALSE(decode_conf_state(encode_conf_change(cc)));
  std::string bad = encode_conf_change(cc);
  REQUIRE_FALSE(decode_conf_change(bad.substr(0, bad.size() - 1)));
  REQUIRE_FALSE(decode_conf_change(bad + "x"));
  bad[0] = 9;
  REQUIRE_FALSE(decode_conf_change(bad));
  REQUIRE_FALSE(decode_conf_change(""));
  for (std::size_t n = 0; n < entry.size(); ++n) {
    REQUIRE_FALSE(decode_conf_state(entry.substr(0, n)));
  }
}

TEST_CASE("apply_conf_change keeps the lists sorted and disjoint", "[raft][types]") {
  ConfState c{{1, 3}, {5}};
  c = apply_conf_change(c, {ConfChangeType::kAddVoter, 2, ""});
  REQUIRE(c.voters == std::vector<NodeId>{1, 2, 3});
  c = apply_conf_change(c, {ConfChangeType::kAddVoter, 5, ""});  // promote
  REQUIRE(c.voters == std::vector<NodeId>{1, 2, 3, 5});
  REQUIRE(c.learners.empty());
  c = apply_conf_change(c, {ConfChangeType::kAddLearner, 1, ""});  // demote
  REQUIRE(c.voters == std::vector<NodeId>{2, 3, 5});
  REQUIRE(c.learners == std::vector<NodeId>{1});
  c = apply_conf_change(c, {ConfChangeType::kRemoveNode, 1, ""});
  c = apply_conf_change(c, {ConfChangeType::kRemoveNode, 9, ""});
  REQUIRE(c == ConfState{{2, 3, 5}, {}});
  // Replaying a change is idempotent: what start-up relies on.
  REQUIRE(apply_conf_change(c, {ConfChangeType::kAddVoter, 2, ""}) == c);
}

TEST_CASE("ConfHistory: truncation reverts, compaction folds", "[raft][types]") {
  ConfHistory h;
  h.reset(0, {{1, 2, 3}, {}});
  h.add(5, {{1, 2}, {}});
  h.add(9, {{1, 2}, {4}});
  REQUIRE(h.current() == ConfState{{1, 2}, {4}});
  REQUIRE(h.last_change_index() == 9);
  h.truncate_from(9);
  REQUIRE(h.current() == ConfState{{1, 2}, {}});
  h.truncate_from(3);
  REQUIRE(h.current() == ConfState{{1, 2, 3}, {}});
  h.add(5, {{1, 2}, {}});
  h.compact_to(6);
  REQUIRE(h.last_change_index() == 0);
  REQUIRE(h.current() == ConfState{{1, 2}, {}});
  REQUIRE(h.base_index() == 5);
}
