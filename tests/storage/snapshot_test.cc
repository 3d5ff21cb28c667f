// Snapshot files and the snapshot directory: format round trip, streaming, detection of
// truncated or bit-flipped files, choosing the newest valid one, pruning, and receiving a
// snapshot from a leader in chunks.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/crc32c.h"
#include "storage/log_store.h"
#include "storage/snapshot_file.h"
#include "storage/snapshot_store.h"
#include "tests/storage/crash_plan.h"
#include "tests/storage/test_util.h"

using storage::SnapshotFile;
using storage::SnapshotHeader;
using storage::SnapshotStore;
using storage_test::TempDir;

namespace {

std::string body_of(std::size_t size, std::uint64_t seed) {
  storage_test::Rng rng(seed);
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(rng.next());
  return s;
}

SnapshotHeader header(raft::Index index, raft::Term term) {
  return SnapshotHeader{raft::SnapshotMeta{index, term, raft::ConfState{{1, 2, 3}, {9}}},
                        "1=10.0.0.1:7001,2=10.0.0.2:7001"};
}

// Writes a snapshot through the store and returns its path.
std::string commit(SnapshotStore& store, raft::Index index, raft::Term term,
                   const std::string& body) {
  auto w = store.create(header(index, term));
  for (std::size_t off = 0; off < body.size(); off += 4000) w->append(body.substr(off, 4000));
  auto f = store.commit(*w);
  INFO(f.message());
  REQUIRE(f.is_ok());
  return (*f)->path();
}

// Reads a body through the streaming reader; fails the test if verification fails.
std::string read_body(const SnapshotFile& f, std::size_t chunk) {
  storage::SnapshotBodyReader reader = f.body_reader(chunk);
  std::string body;
  std::string piece;
  for (;;) {
    auto more = reader.next(piece);
    INFO(more.message());
    REQUIRE(more.is_ok());
    if (!*more) return body;
    REQUIRE(piece.size() <= chunk);
    body += piece;
  }
}

std::unique_ptr<SnapshotStore> open_store(const std::string& dir,
                                          std::vector<std::string>* diags = nullptr) {
  std::vector<std::string> local;
  return SnapshotStore::open(dir, diags ? *diags : local);
}

}  // namespace

TEST_CASE("crc32c matches the standard check values", "[snapshot]") {
  CHECK(storage::crc32c("") == 0);
  CHECK(storage::crc32c("123456789") == 0xE3069283u);
  CHECK(storage::crc32c(std::string(32, '\0')) == 0x8A9136AAu);  // RFC 3720 B.4
  const std::string data = body_of(1000, 3);
  for (std::size_t split : {0, 1, 7, 8, 9, 500, 1000}) {
    const auto a = std::string_view(data).substr(0, split);
    const auto b = std::string_view(data).substr(split);
    CHECK(storage::crc32c_extend(storage::crc32c(a), b) == storage::crc32c(data));
    CHECK(storage::detail::crc32c_extend_portable(storage::crc32c(a), b) == storage::crc32c(data));
  }
}

TEST_CASE("snapshot file names sort like (index, term) and parse back", "[snapshot]") {
  raft::Index i = 0;
  raft::Term t = 0;
  const std::string name = storage::snapshot_file_name(1234, 7);
  CHECK(name == "snap-00000000000000001234-00000000000000000007.snap");
  CHECK(storage::parse_snapshot_file_name(name, i, t));
  CHECK(i == 1234);
  CHECK(t == 7);
  CHECK(storage::snapshot_file_name(99, 9) < storage::snapshot_file_name(100, 1));
  CHECK_FALSE(storage::parse_snapshot_file_name("tmp-1-2", i, t));
  CHECK_FALSE(storage::parse_snapshot_file_name(name + ".x", i, t));
  CHECK_FALSE(storage::parse_snapshot_file_name(
      "snap-0000000000000000123x-00000000000000000007.snap", i, t));
}

TEST_CASE("a snapshot streams out and back in unchanged", "[snapshot]") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  CHECK(store->current() == nullptr);
  // Empty, small, and larger than the writer's 1 MiB buffer (appended in uneven chunks).
  const std::size_t size = GENERATE(std::size_t{0}, std::size_t{10}, std::size_t{3} << 20);
  const std::string body = body_of(size, size);
  auto w = store->create(header(10, 2));
  std::size_t off = 0;
  for (std::size_t n = 1; off < body.size(); n = n * 3 + 1) {
    const std::size_t take = std::min(n, body.size() - off);
    w->append(std::string_view(body).substr(off, take));
    off += take;
  }
  auto f = store->commit(*w);
  REQUIRE(f.is_ok());
  CHECK(store->current() == *f);
  CHECK((*f)->header() == header(10, 2));
  CHECK((*f)->body_size() == size);
  CHECK((*f)->verify().is_ok());
  CHECK(read_body(**f, 1 << 16) == body);
  CHECK(read_body(**f, 7777) == body);
  // And after reopening the directory.
  auto again = open_store(tmp.path());
  REQUIRE(again->current() != nullptr);
  CHECK(again->current()->meta() == header(10, 2).meta);
  CHECK(read_body(*again->current(), 4096) == body);
  CHECK(storage_test::files_with_suffix(tmp.path(), "") ==
        std::vector<std::string>{tmp / storage::snapshot_file_name(10, 2)});
}

TEST_CASE("damaged snapshot files are named and rejected", "[snapshot][corruption]") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  const std::string path = commit(*store, 10, 2, body_of(5000, 1));
  const auto header_size = (*SnapshotFile::open(path))->body_offset();

  SECTION("a flipped bit in the body fails verification, not the header check") {
    storage_test::flip_byte(path, header_size + 4321);
    auto f = SnapshotFile::open(path);
    REQUIRE(f.is_ok());
    const storage::Status s = (*f)->verify();
    REQUIRE_FALSE(s.is_ok());
    CHECK_THAT(s.message(), Catch::Contains(path));
    CHECK_THAT(s.message(), Catch::Contains("corrupt body: CRC32C mismatch"));
    // The streaming reader hands out the bytes but reports the failure at the end.
    storage::SnapshotBodyReader reader = (*f)->body_reader(1000);
    std::string piece;
    auto more = reader.next(piece);
    while (more.is_ok() && *more) more = reader.next(piece);
    CHECK_FALSE(more.is_ok());
  }
  SECTION("a flipped bit in the header") {
    storage_test::flip_byte(path, 20);  // inside the last index
    auto f = SnapshotFile::open(path);
    REQUIRE_FALSE(f.is_ok());
    CHECK_THAT(f.message(), Catch::Contains(path));
    CHECK_THAT(f.message(), Catch::Contains("corrupt header: CRC32C mismatch"));
  }
  SECTION("truncated in the body") {
    storage_test::truncate_file(path, header_size + 100);
    auto f = SnapshotFile::open(path);
    REQUIRE_FALSE(f.is_ok());
    CHECK_THAT(f.message(), Catch::Contains(path));
    CHECK_THAT(f.message(), Catch::Contains("truncated"));
  }
  SECTION("truncated in the header") {
    storage_test::truncate_file(path, 30);
    auto f = SnapshotFile::open(path);
    REQUIRE_FALSE(f.is_ok());
    CHECK_THAT(f.message(), Catch::Contains("truncated"));
  }
  SECTION("trailing garbage") {
    storage_test::write_file(path, storage_test::read_file(path) + "junk");
    auto f = SnapshotFile::open(path);
    REQUIRE_FALSE(f.is_ok());
    CHECK_THAT(f.message(), Catch::Contains("4 bytes after"));
  }
  SECTION("not a snapshot at all") {
    storage_test::write_file(path, std::string(100, 'z'));
    auto f = SnapshotFile::open(path);
    REQUIRE_FALSE(f.is_ok());
    CHECK_THAT(f.message(), Catch::Contains("bad magic"));
  }
  SECTION("a future format version") {
    storage_test::flip_byte(path, 11);
    auto f = SnapshotFile::open(path);
    REQUIRE_FALSE(f.is_ok());
    CHECK_THAT(f.message(), Catch::Contains("unsupported format version"));
  }
}

TEST_CASE("the newest valid snapshot is used and an invalid newer one is reported",
          "[snapshot][corruption]") {
  TempDir tmp;
  std::string older;
  std::string newer;
  const std::string older_body = body_of(7000, 10);
  {
    auto store = open_store(tmp.path());
    older = commit(*store, 10, 1, older_body);
    newer = commit(*store, 20, 1, body_of(7000, 20));
  }
  const auto header_size = (*SnapshotFile::open(newer))->body_offset();
  const std::string damage = GENERATE(std::string("truncate"), std::string("flip-body"),
                                      std::string("flip-header"), std::string("empty"));
  if (damage == "truncate") storage_test::truncate_file(newer, header_size + 6999);
  if (damage == "flip-body") storage_test::flip_byte(newer, header_size + 6999);
  if (damage == "flip-header") storage_test::flip_byte(newer, 33);
  if (damage == "empty") storage_test::truncate_file(newer, 0);

  std::vector<std::string> diags;
  auto store = open_store(tmp.path(), &diags);
  REQUIRE(store->current() != nullptr);
  CHECK(store->current()->path() == older);
  CHECK(read_body(*store->current(), 1000) == older_body);
  REQUIRE(diags.size() == 1);
  CHECK_THAT(diags[0], Catch::Contains(newer));
  // The damaged file stays for inspection.
  CHECK(std::filesystem::exists(newer));
}

TEST_CASE("no valid snapshot at all leaves none current", "[snapshot][corruption]") {
  TempDir tmp;
  std::string path;
  {
    auto store = open_store(tmp.path());
    path = commit(*store, 10, 1, body_of(100, 1));
  }
  storage_test::flip_byte(path, storage_test::read_file(path).size() - 1);
  std::vector<std::string> diags;
  auto store = open_store(tmp.path(), &diags);
  CHECK(store->current() == nullptr);
  CHECK(diags.size() == 1);
}

TEST_CASE("old snapshots are pruned, keeping the current one and its predecessor", "[snapshot]") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  commit(*store, 10, 1, "a");
  commit(*store, 20, 1, "b");
  commit(*store, 30, 2, "c");
  CHECK(store->list() == std::vector<std::string>{storage::snapshot_file_name(20, 1),
                                                  storage::snapshot_file_name(30, 2)});
  // A snapshot older than the current one is refused and leaves no trace.
  auto w = store->create(header(25, 2));
  w->append("late");
  auto r = store->commit(*w);
  CHECK_FALSE(r.is_ok());
  CHECK(store->current()->meta().index == 30);
  w.reset();
  CHECK(store->list().size() == 2);
  CHECK(storage_test::files_with_suffix(tmp.path(), "").size() == 2);
}

TEST_CASE("unfinished snapshots never become current", "[snapshot]") {
  TempDir tmp;
  {
    auto store = open_store(tmp.path());
    commit(*store, 5, 1, "five");
    auto w = store->create(header(10, 1));
    w->append("half written");
    // A temporary file exists while writing...
    CHECK(storage_test::files_with_suffix(tmp.path(), "").size() == 2);
    // ...and an abandoned writer removes it.
  }
  CHECK(storage_test::files_with_suffix(tmp.path(), "").size() == 1);
  // A temporary file left by a crash is removed at open.
  storage_test::write_file(tmp / "tmp-123-4", "leftover");
  auto store = open_store(tmp.path());
  CHECK(store->current()->meta().index == 5);
  CHECK_FALSE(std::filesystem::exists(tmp / "tmp-123-4"));
}

namespace {

// A leader with a snapshot file and a LogStore serving it.
struct Leader {
  TempDir tmp;
  std::unique_ptr<SnapshotStore> snaps = open_store(tmp / "snapshots");
  std::unique_ptr<storage::LogStore> log = *storage::LogStore::open(tmp / "log");
  std::string body = body_of(300000, 77);
  std::shared_ptr<const SnapshotFile> file;

  Leader() {
    commit(*snaps, 40, 3, body);
    file = snaps->current();
    log->set_snapshot_file(file);
  }
  std::string chunk(std::uint64_t offset, std::size_t max) {
    std::string out;
    std::uint64_t total = 0;
    log->snapshot_chunk(offset, max, out, total);
    return out;
  }
};

}  // namespace

TEST_CASE("a snapshot received in chunks is verified before it becomes current", "[snapshot]") {
  Leader leader;
  TempDir tmp;
  auto follower = open_store(tmp.path());
  const raft::SnapshotMeta meta = leader.file->meta();
  const std::uint64_t total = leader.file->file_size();
  auto in = follower->receive(meta, total);

  SECTION("in order, with retransmitted and overlapping chunks, and a gap refused") {
    std::uint64_t off = 0;
    for (int n = 0; off < total; ++n) {
      // Every other chunk starts a little before what was received (a resend that overlaps).
      const std::uint64_t from = n % 2 == 1 ? off - 10 : off;
      const std::string c = leader.chunk(from, 65536);
      REQUIRE(in->write(from, c).is_ok());
      off = from + c.size();
      REQUIRE(in->received() == off);
      // Bytes already written, sent again, change nothing.
      REQUIRE(in->write(off - 100, leader.chunk(off - 100, 100)).is_ok());
      REQUIRE(in->received() == off);
      if (off < total) CHECK_FALSE(in->write(off + 1, "x").is_ok());
    }
    auto f = follower->commit(*in);
    INFO(f.message());
    REQUIRE(f.is_ok());
    CHECK(follower->current() == *f);
    CHECK((*f)->header() == leader.file->header());
    CHECK(read_body(**f, 1 << 20) == leader.body);
    CHECK(storage_test::read_file((*f)->path()) == storage_test::read_file(leader.file->path()));
  }
  SECTION("a byte damaged in transit is caught and nothing changes") {
    for (std::uint64_t off = 0; off < total;) {
      std::string c = leader.chunk(off, 50000);
      if (off == 100000) c[123] ^= 0x10;
      REQUIRE(in->write(off, c).is_ok());
      off += c.size();
    }
    auto f = follower->commit(*in);
    REQUIRE_FALSE(f.is_ok());
    CHECK_THAT(f.message(), Catch::Contains("CRC32C mismatch"));
    CHECK(follower->current() == nullptr);
    CHECK(storage_test::files_with_suffix(tmp.path(), "").empty());
  }
  SECTION("an incomplete transfer is refused") {
    REQUIRE(in->write(0, leader.chunk(0, 1000)).is_ok());
    auto f = follower->commit(*in);
    REQUIRE_FALSE(f.is_ok());
    CHECK_THAT(f.message(), Catch::Contains("incomplete"));
    CHECK(storage_test::files_with_suffix(tmp.path(), "").empty());
  }
  SECTION("a chunk beyond the announced size is refused") {
    CHECK_FALSE(in->write(total - 5, std::string(10, 'x')).is_ok());
  }
}

TEST_CASE("a received file that describes another snapshot is refused", "[snapshot]") {
  Leader leader;
  TempDir tmp;
  auto follower = open_store(tmp.path());
  raft::SnapshotMeta announced = leader.file->meta();
  announced.term += 1;
  const std::uint64_t total = leader.file->file_size();
  auto in = follower->receive(announced, total);
  REQUIRE(in->write(0, leader.chunk(0, total)).is_ok());
  auto f = follower->commit(*in);
  REQUIRE_FALSE(f.is_ok());
  CHECK_THAT(f.message(), Catch::Contains("but the leader announced"));
  CHECK(follower->current() == nullptr);
}

TEST_CASE("a pruned snapshot keeps streaming to a follower that started on it", "[snapshot]") {
  Leader leader;
  const std::string first = leader.chunk(0, 1000);
  commit(*leader.snaps, 50, 3, "x");
  commit(*leader.snaps, 60, 3, "y");
  CHECK_FALSE(std::filesystem::exists(leader.file->path()));
  std::string rest;
  std::uint64_t total = 0;
  leader.log->snapshot_chunk(1000, SIZE_MAX, rest, total);
  CHECK(first + rest == [&] {
    std::string all;
    leader.file->read_raw(0, SIZE_MAX, all);
    return all;
  }());
  CHECK(total == leader.file->file_size());
}
