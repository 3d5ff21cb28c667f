// Crash safety: a child process appends to a LogStore (or writes snapshots) and reports each
// durable op on a pipe; we SIGKILL it mid-stream, reopen, and check that every reported op is
// there, intact, and that nothing else is (the state is exactly the one after the last reported
// op, or after the op that was in flight).
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "raft/memory_storage.h"
#include "storage/log_store.h"
#include "storage/snapshot_store.h"
#include "tests/storage/crash_plan.h"
#include "tests/storage/test_util.h"

using storage_test::TempDir;

namespace {

constexpr auto kDeadline = std::chrono::seconds(120);

bool same(const raft::Storage& a, const raft::Storage& b) {
  if (a.first_index() != b.first_index() || a.last_index() != b.last_index() ||
      a.snapshot_meta() != b.snapshot_meta() ||
      a.initial_state().hard_state != b.initial_state().hard_state) {
    return false;
  }
  std::vector<raft::Entry> ea;
  std::vector<raft::Entry> eb;
  a.entries(a.first_index(), a.last_index() + 1, SIZE_MAX, ea);
  b.entries(b.first_index(), b.last_index() + 1, SIZE_MAX, eb);
  return ea == eb;
}

// Reads "ok N" lines following report `seen` until N reaches `until`, the pipe closes, or the
// deadline passes; returns the highest N seen.
std::uint64_t read_reports(storage_test::Child& child, std::uint64_t seen, std::uint64_t until,
                           std::chrono::steady_clock::time_point deadline) {
  while (seen < until) {
    const auto line = child.read_line(deadline);
    if (!line) break;
    REQUIRE(line->rfind("ok ", 0) == 0);
    const std::uint64_t n = std::stoull(line->substr(3));
    REQUIRE(n == seen + 1);
    seen = n;
  }
  return seen;
}

}  // namespace

TEST_CASE("SIGKILL during appends loses nothing that was reported durable", "[crash]") {
  TempDir tmp;
  raft::MemoryStorage model;  // the state the store must be in when no child is running
  storage_test::Rng rng(2024);
  std::uint64_t total_ops = 0;
  for (int round = 0; round < 8; ++round) {
    const std::uint64_t seed = 1000 + static_cast<std::uint64_t>(round);
    // Kill after a varying number of reports, so the kill lands at different points.
    const std::uint64_t kill_after = 10 + rng.below(150);
    std::uint64_t reported = 0;
    {
      storage_test::Child child({"crash-append", tmp.path(), std::to_string(seed)});
      const auto deadline = std::chrono::steady_clock::now() + kDeadline;
      reported = read_reports(child, 0, kill_after, deadline);
      REQUIRE(reported == kill_after);
      child.kill();
      const int status = child.wait();
      INFO(child.read_stderr());
      REQUIRE(WIFSIGNALED(status));
      REQUIRE(WTERMSIG(status) == SIGKILL);
      // Reports already in the pipe when it died count too.
      reported = read_reports(child, reported, UINT64_MAX,
                              std::chrono::steady_clock::now() + std::chrono::seconds(10));
    }
    total_ops += reported;

    auto store = storage::LogStore::open(tmp.path());
    INFO("round " << round << ", " << reported << " ops reported: " << store.message());
    REQUIRE(store.is_ok());

    // Replay the child's plan on the model: the store must be in state S_reported, or in
    // S_reported+1 if the op in flight reached the disk before the kill.
    storage_test::Plan plan(seed);
    for (std::uint64_t i = 0; i < reported; ++i) {
      storage_test::apply(model, plan.next(model, model.initial_state().hard_state));
    }
    if (!same(**store, model)) {
      storage_test::apply(model, plan.next(model, model.initial_state().hard_state));
      INFO("neither the state after op " << reported << " nor the one after it");
      REQUIRE(same(**store, model));
    }
  }
  // Make sure the test exercised real volume (the reports are cumulative per round).
  CHECK(total_ops >= 8 * 10);
}

TEST_CASE("SIGKILL while writing snapshots never leaves a bad one current", "[crash]") {
  TempDir tmp;
  std::uint64_t last_reported = 0;
  for (int round = 0; round < 4; ++round) {
    storage_test::Child child({"crash-snapshot", tmp.path(), std::to_string(last_reported + 1)});
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    std::uint64_t reported = 0;  // index of the newest snapshot reported durable
    for (int count = 0; count < 2 + round; ++count) {
      const auto line = child.read_line(deadline);
      REQUIRE(line.has_value());
      reported = std::stoull(line->substr(3));
    }
    child.kill();
    child.wait();
    while (auto line =
               child.read_line(std::chrono::steady_clock::now() + std::chrono::seconds(10))) {
      reported = std::stoull(line->substr(3));
    }
    std::vector<std::string> diags;
    auto store = storage::SnapshotStore::open(tmp.path(), diags);
    INFO(diags.size() << " diagnostics");
    CHECK(diags.empty());  // a crash leaves a temporary file, never a damaged snapshot
    REQUIRE(store->current() != nullptr);
    // The newest reported snapshot (or the one in flight) is current, and it verifies.
    CHECK(store->current()->meta().index >= reported);
    CHECK(store->current()->meta().index <= reported + 1);
    CHECK(store->current()->verify().is_ok());
    CHECK(storage_test::files_with_suffix(tmp.path(), "").size() <= 2);
    last_reported = store->current()->meta().index;
  }
}
