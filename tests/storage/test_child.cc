// Helper process for the storage tests (run by them, never by hand). Modes:
//   crash-append DIR SEED   opens a LogStore in DIR and applies Plan(SEED) forever, printing
//                           "ok N" after op N is durable; the test SIGKILLs it.
//   crash-snapshot DIR I    writes snapshots at index I, I+1, ... into a SnapshotStore in DIR,
//                           printing "ok I" after each commit; the test SIGKILLs it.
//   read DIR LO HI          opens DIR without the open-time scan and reads entries [LO, HI);
//                           a damaged record must abort it with a message.
//   bad-append DIR          appends 1..3 then 5: must abort (a gap is a host bug).
//   hold-lock DIR           opens DataDir DIR, prints "locked", then waits to be killed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "storage/data_dir.h"
#include "storage/log_store.h"
#include "tests/storage/crash_plan.h"

namespace {

void say(const std::string& line) {
  const std::string s = line + "\n";
  // One write per line: the parent may kill us at any moment and must never see half a line.
  if (::write(1, s.data(), s.size()) != static_cast<ssize_t>(s.size())) std::_Exit(3);
}

int crash_append(const std::string& dir, std::uint64_t seed) {
  storage::LogStore::Options options;
  // A small memtable, so kills also land during flushes and compactions, and recovery reads a
  // mix of SST files and WAL.
  options.write_buffer_bytes = 256 << 10;
  auto store = storage::LogStore::open(dir, options);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.message().c_str());
    return 1;
  }
  storage::LogStore& log = **store;
  storage_test::Plan plan(seed);
  storage_test::Op op = plan.next(log, log.hard_state());
  for (std::uint64_t n = 1;; ++n) {
    if (op.kind == storage_test::Op::Kind::kCompact) {
      log.compact(op.snapshot);
    } else {
      log.save(&op.hard_state, op.entries);
    }
    // Prepare the next op before reporting this one, so that a kill sent on our report lands in
    // the middle of the next write rather than while we compute it.
    storage_test::Op next = plan.next(log, log.hard_state());
    say("ok " + std::to_string(n));
    op = std::move(next);
  }
}

int read_range(const std::string& dir, raft::Index lo, raft::Index hi) {
  storage::LogStore::Options options;
  options.verify_on_open = false;
  auto store = storage::LogStore::open(dir, options);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.message().c_str());
    return 1;
  }
  std::vector<raft::Entry> out;
  const raft::StorageError err = (*store)->entries(lo, hi, SIZE_MAX, out);
  say("read " + std::to_string(static_cast<int>(err)) + " " + std::to_string(out.size()));
  return 0;
}

int crash_snapshot(const std::string& dir, std::uint64_t first_index) {
  std::vector<std::string> diags;
  auto store = storage::SnapshotStore::open(dir, diags);
  storage_test::Rng rng(first_index);
  std::string chunk(64 << 10, '\0');
  for (std::uint64_t index = first_index;; ++index) {
    auto w = store->create(
        storage::SnapshotHeader{raft::SnapshotMeta{index, 1, storage_test::plan_conf()}, "ctx"});
    // 1..4 MiB, so that the kill often lands while the body is being written.
    const std::uint64_t chunks = 16 + rng.below(48);
    for (std::uint64_t c = 0; c < chunks; ++c) {
      for (char& ch : chunk) ch = static_cast<char>(rng.next());
      w->append(chunk);
    }
    auto f = store->commit(*w);
    if (!f) {
      std::fprintf(stderr, "%s\n", f.message().c_str());
      return 1;
    }
    say("ok " + std::to_string(index));
  }
}

int bad_append(const std::string& dir) {
  auto store = storage::LogStore::open(dir);
  if (!store) return 1;
  std::vector<raft::Entry> es;
  for (raft::Index i = 1; i <= 3; ++i) es.push_back(raft::Entry{1, i, {}, "x"});
  (*store)->save(nullptr, es);
  (*store)->save(nullptr, {raft::Entry{1, 5, {}, "gap"}});
  return 0;
}

int hold_lock(const std::string& dir) {
  auto d = storage::DataDir::open(dir, storage::Identity{"c1", 7, "127.0.0.1:7001"});
  if (!d) {
    std::fprintf(stderr, "%s\n", d.message().c_str());
    return 1;
  }
  say("locked");
  for (;;) ::pause();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "crash-append" && argc == 4) return crash_append(argv[2], std::stoull(argv[3]));
  if (mode == "read" && argc == 5)
    return read_range(argv[2], std::stoull(argv[3]), std::stoull(argv[4]));
  if (mode == "crash-snapshot" && argc == 4) return crash_snapshot(argv[2], std::stoull(argv[3]));
  if (mode == "bad-append" && argc == 3) return bad_append(argv[2]);
  if (mode == "hold-lock" && argc == 3) return hold_lock(argv[2]);
  std::fprintf(stderr,
               "usage: storage_test_child crash-append DIR SEED | crash-snapshot DIR I | "
               "read DIR LO HI | bad-append DIR | hold-lock DIR\n");
  return 2;
}
