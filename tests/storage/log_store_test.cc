// The raft::Storage contract on the RocksDB log store, checked the way MemoryStorage behaves,
// plus restart, truncation, compaction, snapshot install and corruption detection.
#include "storage/log_store.h"

#include <catch2/catch.hpp>
#include <csignal>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "storage/snapshot_store.h"
#include "tests/storage/crash_plan.h"
#include "tests/storage/test_util.h"

using raft::Entry;
using raft::EntryType;
using raft::Index;
using raft::StorageError;
using raft::Term;
using storage::LogStore;
using storage_test::TempDir;

namespace {

Entry entry(Index i, Term t, std::string data = {}) {
  if (data.empty()) data = "entry-" + std::to_string(i) + "-" + std::to_string(t);
  return Entry{t, i, EntryType::kNormal, std::move(data)};
}

std::vector<Entry> run(Index from, Index to, Term t) {
  std::vector<Entry> out;
  for (Index i = from; i <= to; ++i) out.push_back(entry(i, t));
  return out;
}

std::unique_ptr<LogStore> open_store(const std::string& dir, LogStore::Options o = {}) {
  auto r = LogStore::open(dir, o);
  INFO(r.message());
  REQUIRE(r.is_ok());
  return std::move(*r);
}

std::vector<Entry> all_entries(const raft::Storage& s) {
  std::vector<Entry> out;
  REQUIRE(s.entries(s.first_index(), s.last_index() + 1, SIZE_MAX, out) == StorageError::kOk);
  return out;
}

// Everything the core can observe through raft::Storage must be the same in both.
void require_same(const raft::Storage& a, const raft::Storage& b) {
  REQUIRE(a.first_index() == b.first_index());
  REQUIRE(a.last_index() == b.last_index());
  REQUIRE(a.snapshot_meta() == b.snapshot_meta());
  REQUIRE(a.initial_state().hard_state == b.initial_state().hard_state);
  REQUIRE(a.initial_state().conf == b.initial_state().conf);
  REQUIRE(all_entries(a) == all_entries(b));
  for (Index i = a.snapshot_meta().index; i <= a.last_index() + 1; ++i) {
    Term ta = 0;
    Term tb = 0;
    REQUIRE(a.term(i, ta) == b.term(i, tb));
    REQUIRE(ta == tb);
  }
}

}  // namespace

TEST_CASE("a new log store is empty", "[log_store]") {
  TempDir tmp;
  auto s = open_store(tmp.path());
  CHECK(s->first_index() == 1);
  CHECK(s->last_index() == 0);
  CHECK(s->snapshot_meta() == raft::SnapshotMeta{});
  CHECK(s->initial_state().hard_state.empty());
  Term t = 99;
  CHECK(s->term(0, t) == StorageError::kOk);
  CHECK(t == 0);
  CHECK(s->term(1, t) == StorageError::kUnavailable);
  std::vector<Entry> out;
  CHECK(s->entries(1, 1, 100, out) == StorageError::kOk);
  CHECK(out.empty());
  CHECK(s->entries(0, 1, 100, out) == StorageError::kCompacted);
  CHECK(s->entries(1, 2, 100, out) == StorageError::kUnavailable);
  std::string chunk;
  std::uint64_t total = 7;
  CHECK(s->snapshot_chunk(0, 100, chunk, total) == 0);
  CHECK(total == 0);
}

TEST_CASE("entries, terms and bounds follow the MemoryStorage contract", "[log_store]") {
  TempDir tmp;
  // With no cache every read goes to RocksDB; with a cache, to memory. Both must agree.
  const std::size_t cache = GENERATE(std::size_t{0}, std::size_t{1} << 20);
  LogStore::Options o;
  o.entry_cache_bytes = cache;
  auto s = open_store(tmp.path(), o);
  raft::MemoryStorage m;
  std::vector<Entry> es = run(1, 3, 1);
  auto more = run(4, 6, 2);
  es.insert(es.end(), more.begin(), more.end());
  const raft::HardState hs{2, 3, 4};
  s->save(&hs, es);
  m.set_hard_state(hs);
  m.append(es);
  require_same(*s, m);

  for (Index lo = 1; lo <= 6; ++lo) {
    for (Index hi = lo; hi <= 7; ++hi) {
      for (std::size_t max : {std::size_t{0}, std::size_t{9}, std::size_t{20}, SIZE_MAX}) {
        std::vector<Entry> a;
        std::vector<Entry> b;
        REQUIRE(s->entries(lo, hi, max, a) == m.entries(lo, hi, max, b));
        REQUIRE(a == b);
      }
    }
  }
  std::vector<Entry> out;
  CHECK(s->entries(2, 8, SIZE_MAX, out) == StorageError::kUnavailable);
  // max_bytes below the first entry's size still yields that entry.
  out.clear();
  CHECK(s->entries(2, 5, 1, out) == StorageError::kOk);
  CHECK(out == std::vector<Entry>{entry(2, 1)});
  Term t = 0;
  CHECK(s->term(6, t) == StorageError::kOk);
  CHECK(t == 2);
  CHECK(s->term(7, t) == StorageError::kUnavailable);
}

TEST_CASE("appending over a conflicting suffix truncates it, also across restart", "[log_store]") {
  TempDir tmp;
  {
    auto s = open_store(tmp.path());
    s->save(nullptr, run(1, 10, 1));
    // A new leader in term 2 replaces 6.. with two entries: 8..10 must disappear too.
    s->save(nullptr, run(6, 7, 2));
    CHECK(s->last_index() == 7);
    CHECK(all_entries(*s).back() == entry(7, 2));
    Term t = 0;
    CHECK(s->term(8, t) == StorageError::kUnavailable);
    // Overwriting with a longer suffix.
    s->save(nullptr, run(7, 12, 3));
    CHECK(s->last_index() == 12);
  }
  auto s = open_store(tmp.path());
  raft::MemoryStorage m;
  m.append(run(1, 10, 1));
  m.append(run(6, 7, 2));
  m.append(run(7, 12, 3));
  require_same(*s, m);
}

TEST_CASE("hard state alone, entries alone, or both in one batch", "[log_store]") {
  TempDir tmp;
  {
    auto s = open_store(tmp.path());
    const raft::HardState a{1, 1, 0};
    s->save(&a, {});
    s->save(nullptr, run(1, 2, 1));
    const raft::HardState b{1, 1, 2};
    s->save(&b, run(3, 3, 1));
    CHECK(s->hard_state() == b);
  }
  auto s = open_store(tmp.path());
  CHECK(s->initial_state().hard_state == raft::HardState{1, 1, 2});
  CHECK(s->last_index() == 3);
}

TEST_CASE("compaction drops the prefix and remembers the snapshot", "[log_store]") {
  TempDir tmp;
  const raft::SnapshotMeta meta{5, 1, raft::ConfState{{1, 2, 3}, {4}}};
  {
    auto s = open_store(tmp.path());
    s->save(nullptr, run(1, 8, 1));
    s->compact(meta);
    // Compacting to an older point is a no-op.
    s->compact(raft::SnapshotMeta{3, 1, {}});
  }
  auto s = open_store(tmp.path());
  CHECK(s->first_index() == 6);
  CHECK(s->last_index() == 8);
  CHECK(s->snapshot_meta() == meta);
  Term t = 0;
  CHECK(s->term(5, t) == StorageError::kOk);
  CHECK(t == 1);
  CHECK(s->term(4, t) == StorageError::kCompacted);
  std::vector<Entry> out;
  CHECK(s->entries(5, 7, SIZE_MAX, out) == StorageError::kCompacted);
  CHECK(s->entries(6, 9, SIZE_MAX, out) == StorageError::kOk);
  CHECK(out == run(6, 8, 1));
  // Entries at or below the snapshot are ignored when they arrive again.
  s->save(nullptr, run(4, 9, 1));
  CHECK(s->first_index() == 6);
  CHECK(s->last_index() == 9);
  // Compacting everything leaves an empty log after the snapshot.
  s->compact(raft::SnapshotMeta{9, 1, {}});
  CHECK(s->first_index() == 10);
  CHECK(s->last_index() == 9);
  CHECK(s->term(9, t) == StorageError::kOk);
}

TEST_CASE("installing a snapshot keeps a matching suffix or empties the log", "[log_store]") {
  TempDir tmp;
  const raft::ConfState conf{{1, 2}, {}};
  {
    auto s = open_store(tmp.path());
    s->save(nullptr, run(1, 10, 2));
    s->install_snapshot(raft::SnapshotMeta{6, 2, conf});
    CHECK(s->first_index() == 7);
    CHECK(s->last_index() == 10);
    CHECK(s->hard_state().commit == 6);
    CHECK(s->initial_state().conf == conf);
    // A snapshot the log does not match replaces the whole log.
    s->install_snapshot(raft::SnapshotMeta{8, 3, conf});
    CHECK(s->first_index() == 9);
    CHECK(s->last_index() == 8);
    Term t = 0;
    CHECK(s->term(8, t) == StorageError::kOk);
    CHECK(t == 3);
    s->save(nullptr, run(9, 9, 3));
  }
  auto s = open_store(tmp.path());
  CHECK(s->first_index() == 9);
  CHECK(s->last_index() == 9);
  CHECK(s->hard_state().commit == 8);
  CHECK(s->initial_state().conf == conf);
  CHECK(all_entries(*s) == run(9, 9, 3));
}

TEST_CASE("membership is persisted for the next start", "[log_store]") {
  TempDir tmp;
  const raft::ConfState conf{{1, 2, 3}, {7}};
  open_store(tmp.path())->set_conf_state(conf);
  CHECK(open_store(tmp.path())->initial_state().conf == conf);
}

TEST_CASE("snapshot_chunk streams the current snapshot file", "[log_store]") {
  TempDir tmp;
  std::vector<std::string> diags;
  auto snaps = storage::SnapshotStore::open(tmp / "snapshots", diags);
  auto w = snaps->create(storage::SnapshotHeader{raft::SnapshotMeta{3, 1, {{1}, {}}}, "ctx"});
  w->append(std::string(1000, 'x'));
  auto file = snaps->commit(*w);
  REQUIRE(file.is_ok());
  auto s = open_store(tmp / "log");
  s->set_snapshot_file(*file);
  std::string image;
  std::uint64_t total = 0;
  for (std::uint64_t off = 0;;) {
    const std::size_t n = s->snapshot_chunk(off, 333, image, total);
    if (n == 0) break;
    off += n;
  }
  CHECK(total == (*file)->file_size());
  CHECK(image == storage_test::read_file((*file)->path()));
}

TEST_CASE("random writes, reads and restarts agree with MemoryStorage", "[log_store]") {
  TempDir tmp;
  LogStore::Options o;
  o.entry_cache_bytes = 4096;       // small: most reads of older entries go to RocksDB
  o.write_buffer_bytes = 64 << 10;  // small: flushes and compactions happen during the test
  auto s = open_store(tmp.path(), o);
  raft::MemoryStorage m;
  // Batches of several entries are one record each: suffixes replaced in the middle of a record,
  // compactions inside one and restarts between them all come up across these seeds.
  const std::uint64_t seed = GENERATE(42, 1, 2, 3, 4, 5);
  storage_test::Plan plan(seed);
  storage_test::Rng rng(seed + 7);
  for (int step = 0; step < 400; ++step) {
    const storage_test::Op op = plan.next(m, m.initial_state().hard_state);
    storage_test::apply(m, op);
    if (op.kind == storage_test::Op::Kind::kCompact) {
      s->compact(op.snapshot);
    } else {
      s->save(&op.hard_state, op.entries);
    }
    REQUIRE(s->last_index() == m.last_index());
    REQUIRE(s->first_index() == m.first_index());
    // Random range reads with random budgets.
    for (int r = 0; r < 5; ++r) {
      const Index span = m.last_index() - m.first_index() + 2;
      const Index lo = m.first_index() + rng.below(span);
      const Index hi = lo + rng.below(m.last_index() + 2 - lo);
      const std::size_t max = rng.below(2000);
      std::vector<Entry> a;
      std::vector<Entry> b;
      REQUIRE(s->entries(lo, hi, max, a) == m.entries(lo, hi, max, b));
      REQUIRE(a == b);
    }
    if (step % 97 == 96) {
      s.reset();
      s = open_store(tmp.path(), o);
      require_same(*s, m);
    }
  }
  require_same(*s, m);
}

TEST_CASE("a record with a bad CRC makes open fail, naming the directory and index",
          "[log_store][corruption]") {
  TempDir tmp;
  {
    auto s = open_store(tmp.path());
    s->save(nullptr, run(1, 12, 1));
    s->save(nullptr, run(13, 20, 1));  // one record, keyed by its first index
    std::string raw = s->testing_get_raw(13);
    raw.back() ^= 0x01;  // one flipped bit in the data of entry 20
    s->testing_put_raw(13, raw);
  }
  auto r = LogStore::open(tmp.path());
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.message(), Catch::Contains(tmp.path()));
  CHECK_THAT(r.message(), Catch::Contains("corrupt entry at index 13"));
  CHECK_THAT(r.message(), Catch::Contains("CRC32C mismatch"));
}

TEST_CASE("a record stored under the wrong index is detected", "[log_store][corruption]") {
  TempDir tmp;
  {
    auto s = open_store(tmp.path());
    for (Index i = 1; i <= 5; ++i) s->save(nullptr, run(i, i, 1));  // a record each
    // A valid record for index 2, placed at index 4: its CRC covers the key.
    s->testing_put_raw(4, s->testing_get_raw(2));
  }
  auto r = LogStore::open(tmp.path());
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.message(), Catch::Contains("corrupt entry at index 4"));
}

TEST_CASE("a missing record in the middle is detected", "[log_store][corruption]") {
  TempDir tmp;
  {
    auto s = open_store(tmp.path());
    for (Index i = 1; i <= 5; ++i) s->save(nullptr, run(i, i, 1));  // a record each
    // An empty value cannot be a record; and a gap is what a lost write would look like.
    s->testing_put_raw(3, "");
  }
  auto r = LogStore::open(tmp.path());
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.message(), Catch::Contains("corrupt entry at index 3"));
}

namespace {

// Writes entries whose data carries a findable marker, then closes the store.
void write_marked(const std::string& dir, bool flush) {
  auto s = open_store(dir);
  for (Index i = 1; i <= 50; ++i) {
    s->save(nullptr, {entry(i, 1, "MARKER-" + std::to_string(i) + std::string(64, 'p'))});
  }
  if (flush) s->testing_flush();
}

// Flips a byte inside the first occurrence of `needle` in any file of `dir` ending in `suffix`.
std::string flip_in_file(const std::string& dir, const std::string& suffix,
                         const std::string& needle) {
  for (const std::string& path : storage_test::files_with_suffix(dir, suffix)) {
    const std::string data = storage_test::read_file(path);
    const auto pos = data.find(needle);
    if (pos != std::string::npos) {
      storage_test::flip_byte(path, pos + needle.size() + 3);
      return path;
    }
  }
  FAIL("marker " << needle << " not found in any *" << suffix << " file of " << dir);
  return {};
}

}  // namespace

TEST_CASE("a flipped byte in an SST file makes open fail naming the file",
          "[log_store][corruption]") {
  TempDir tmp;
  write_marked(tmp.path(), true);
  const std::string sst = flip_in_file(tmp.path(), ".sst", "MARKER-17");
  auto r = LogStore::open(tmp.path());
  REQUIRE_FALSE(r.is_ok());
  INFO(r.message());
  CHECK_THAT(r.message(), Catch::Contains(tmp.path()));
  CHECK_THAT(r.message(), Catch::Contains("Corruption"));
  CHECK_THAT(r.message(), Catch::Contains(sst.substr(sst.rfind('/') + 1)));
}

TEST_CASE("a flipped byte in the WAL makes open fail instead of dropping synced writes",
          "[log_store][corruption]") {
  TempDir tmp;
  write_marked(tmp.path(), false);
  // Early in the WAL (later records follow) and in its very last record.
  const std::string marker = GENERATE(std::string("MARKER-17"), std::string("MARKER-50"));
  flip_in_file(tmp.path(), ".log", marker);
  auto r = LogStore::open(tmp.path());
  REQUIRE_FALSE(r.is_ok());
  INFO(r.message());
  CHECK_THAT(r.message(), Catch::Contains(tmp.path()));
  CHECK_THAT(r.message(), Catch::Contains("Corruption"));
}

TEST_CASE("reading a damaged record aborts with its index instead of returning it",
          "[log_store][corruption]") {
  TempDir tmp;
  {
    auto s = open_store(tmp.path());
    for (Index i = 1; i <= 20; ++i) s->save(nullptr, run(i, i, 1));  // a record each
    std::string raw = s->testing_get_raw(9);
    raw[14] ^= 0x40;  // inside the term
    s->testing_put_raw(9, raw);
  }
  // The child skips the open-time scan, so the damage is first seen by a read.
  storage_test::Child child({"read", tmp.path(), "5", "15"});
  const int status = child.wait();
  const std::string err = child.read_stderr();
  INFO(err);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK_THAT(err, Catch::Contains("corrupt entry at index 9"));
  CHECK_THAT(err, Catch::Contains(tmp.path()));
}

TEST_CASE("an append that would leave a gap aborts with context", "[log_store]") {
  TempDir tmp;
  storage_test::Child child({"bad-append", tmp.path()});
  const int status = child.wait();
  const std::string err = child.read_stderr();
  INFO(err);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK_THAT(err, Catch::Contains("leaves a gap after last index 3"));
}
