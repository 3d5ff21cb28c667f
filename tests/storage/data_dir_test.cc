// The data directory: lock, identity, layout, and reconciling the log with the snapshot files
// after a crash between the two.
#include "storage/data_dir.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>

#include "tests/storage/test_util.h"

using storage::DataDir;
using storage::Identity;
using storage_test::TempDir;

namespace {

const Identity kId{"cluster-a", 1, "127.0.0.1:7001"};

std::unique_ptr<DataDir> open_dir(const std::string& path, const Identity& id = kId) {
  auto r = DataDir::open(path, id);
  INFO(r.message());
  REQUIRE(r.is_ok());
  return std::move(*r);
}

std::vector<raft::Entry> run(raft::Index from, raft::Index to, raft::Term t) {
  std::vector<raft::Entry> out;
  for (raft::Index i = from; i <= to; ++i) out.push_back(raft::Entry{t, i, {}, "e"});
  return out;
}

// Takes a snapshot at `index` the way the host would (through DataDir, log compacted too).
void take_snapshot(DataDir& d, raft::Index index, const std::string& body) {
  raft::Term term = 0;
  REQUIRE(d.log().term(index, term) == raft::StorageError::kOk);
  auto w = d.snapshots().create(storage::SnapshotHeader{raft::SnapshotMeta{index, term, {}}, ""});
  w->append(body);
  REQUIRE(d.commit_snapshot(*w).is_ok());
}

}  // namespace

TEST_CASE("a new data directory gets its layout and identity", "[data_dir]") {
  TempDir tmp;
  const std::string dir = tmp / "node";
  std::uint64_t dir_id = 0;
  {
    auto d = open_dir(dir);
    Identity want = kId;
    want.dir_id = d->identity().dir_id;  // random, made now
    CHECK(want.dir_id != 0);
    dir_id = want.dir_id;
    CHECK(d->identity() == want);
    CHECK(d->diagnostics().empty());
    d->log().save(nullptr, run(1, 3, 1));
  }
  CHECK(std::filesystem::is_regular_file(dir + "/LOCK"));
  CHECK(std::filesystem::is_regular_file(dir + "/IDENTITY"));
  CHECK(std::filesystem::is_regular_file(dir + "/log/CURRENT"));
  CHECK(std::filesystem::is_directory(dir + "/snapshots"));
  // Reopening with the same identity, or with none given, works and keeps the log.
  CHECK(open_dir(dir)->log().last_index() == 3);
  auto d = open_dir(dir, Identity{});
  CHECK(d->identity().dir_id == dir_id);  // fixed at creation
  CHECK(d->identity().cluster_id == kId.cluster_id);
}

TEST_CASE("an identity mismatch is refused and named", "[data_dir]") {
  TempDir tmp;
  open_dir(tmp.path());
  Identity other = kId;
  std::string field;
  SECTION("cluster") {
    other.cluster_id = "cluster-b";
    field = "different cluster id";
  }
  SECTION("node") {
    other.node_id = 2;
    field = "different node id";
  }
  SECTION("address") {
    other.address = "127.0.0.1:7003";
    field = "different address";
  }
  auto r = DataDir::open(tmp.path(), other);
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.message(), Catch::Contains(tmp.path()));
  CHECK_THAT(r.message(), Catch::Contains("belongs to cluster \"cluster-a\" node 1"));
  CHECK_THAT(r.message(), Catch::Contains(field));
}

TEST_CASE("a damaged or missing identity is refused", "[data_dir]") {
  TempDir tmp;
  open_dir(tmp.path());
  SECTION("edited") {
    std::string text = storage_test::read_file(tmp / "IDENTITY");
    text.replace(text.find("node_id=1"), 9, "node_id=2");
    storage_test::write_file(tmp / "IDENTITY", text);
    auto r = DataDir::open(tmp.path(), Identity{});
    REQUIRE_FALSE(r.is_ok());
    CHECK_THAT(r.message(), Catch::Contains(tmp / "IDENTITY"));
    CHECK_THAT(r.message(), Catch::Contains("checksum mismatch"));
  }
  SECTION("deleted while a log exists") {
    std::filesystem::remove(tmp / "IDENTITY");
    auto r = DataDir::open(tmp.path(), kId);
    REQUIRE_FALSE(r.is_ok());
    CHECK_THAT(r.message(), Catch::Contains("no IDENTITY file"));
  }
}

TEST_CASE("identity text round trips", "[data_dir]") {
  Identity with_dir = kId;
  with_dir.dir_id = 0x1234;
  auto id = storage::decode_identity("f", storage::encode_identity(with_dir));
  REQUIRE(id.is_ok());
  CHECK(*id == with_dir);
  CHECK_FALSE(storage::decode_identity("f", "").is_ok());
}

TEST_CASE("a new directory has a new id, so a wiped one is told apart", "[data_dir]") {
  TempDir tmp;
  std::uint64_t first = 0;
  {
    auto d = open_dir(tmp / "n", Identity{"", 1, "127.0.0.1:7001"});
    CHECK_FALSE(d->formed());
    first = d->identity().dir_id;
  }
  std::filesystem::remove_all(tmp / "n");
  auto d = open_dir(tmp / "n", Identity{"", 1, "127.0.0.1:7001"});
  CHECK(d->identity().dir_id != first);
}

TEST_CASE("formation writes the record and secret, then the identity", "[data_dir]") {
  TempDir tmp;
  const Identity fresh{"", 1, "127.0.0.1:7001"};
  {
    auto d = open_dir(tmp / "n", fresh);
    d->save_formation_key("private key bytes");
    CHECK(d->formation_key() == "private key bytes");
  }
  {
    auto d = open_dir(tmp / "n", fresh);
    CHECK(d->formation_key() == "private key bytes");  // kept across restarts until formed
    REQUIRE(d->form("00000000000000ab", "founding record", "cluster secret").is_ok());
    CHECK(d->formed());
    CHECK_FALSE(d->form("00000000000000cd", "x", "y").is_ok());
  }
  auto d = open_dir(tmp / "n", fresh);
  CHECK(d->identity().cluster_id == "00000000000000ab");
  CHECK(d->cluster_record() == "founding record");
  CHECK(d->secret() == "cluster secret");
  CHECK(d->formation_key().empty());
  CHECK((std::filesystem::status(tmp / "n/SECRET").permissions() &
         std::filesystem::perms::others_read) == std::filesystem::perms::none);
}

TEST_CASE("a formed directory whose log is gone is refused, naming the fix", "[data_dir]") {
  TempDir tmp;
  const Identity fresh{"", 1, "127.0.0.1:7001"};
  {
    auto d = open_dir(tmp / "n", fresh);
    REQUIRE(d->form("00000000000000ab", "record", "secret").is_ok());
    d->log().save(nullptr, run(1, 3, 1));
  }
  std::filesystem::remove_all(tmp / "n/log");
  auto r = DataDir::open(tmp / "n", fresh);
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.message(), Catch::Contains("Raft log") && Catch::Contains("is missing") &&
                              Catch::Contains("join it again"));
}

TEST_CASE("a damaged founding record or secret is refused, never served", "[data_dir]") {
  TempDir tmp;
  const Identity fresh{"", 1, "127.0.0.1:7001"};
  {
    auto d = open_dir(tmp / "n", fresh);
    REQUIRE(d->form("00000000000000ab", "record", "secret").is_ok());
  }
  std::string text = storage_test::read_file(tmp / "n/CLUSTER");
  text.back() = static_cast<char>(text.back() ^ 1);
  storage_test::write_file(tmp / "n/CLUSTER", text);
  auto r = DataDir::open(tmp / "n", fresh);
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.message(), Catch::Contains("CLUSTER is damaged"));
}

TEST_CASE("a log in a directory never formed is refused", "[data_dir]") {
  TempDir tmp;
  const Identity fresh{"", 1, "127.0.0.1:7001"};
  {
    auto d = open_dir(tmp / "n", fresh);
    d->log().save(nullptr, run(1, 2, 1));
  }
  auto r = DataDir::open(tmp / "n", fresh);
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.message(), Catch::Contains("never formed"));
}

TEST_CASE("a new directory needs a node id", "[data_dir]") {
  TempDir tmp;
  auto r = DataDir::open(tmp / "n", Identity{"c", 0, ""});
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.message(), Catch::Contains("needs a node id"));
}

TEST_CASE("a second open of a directory in use fails with the holder's pid", "[data_dir]") {
  TempDir tmp;
  {
    auto first = open_dir(tmp.path());
    auto second = DataDir::open(tmp.path(), kId);
    REQUIRE_FALSE(second.is_ok());
    CHECK(second.message() == "data directory " + tmp.path() + " is in use by another raftd (pid " +
                                  std::to_string(::getpid()) + ")");
  }
  // Released when the first one closes.
  open_dir(tmp.path());
}

TEST_CASE("another process holding the directory keeps us out until it dies", "[data_dir]") {
  TempDir tmp;
  open_dir(tmp.path(), Identity{"c1", 7, "127.0.0.1:7001"});
  storage_test::Child holder({"hold-lock", tmp.path()});
  const auto line = holder.read_line(std::chrono::steady_clock::now() + std::chrono::seconds(60));
  REQUIRE(line == std::optional<std::string>("locked"));
  auto r = DataDir::open(tmp.path(), Identity{});
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.message(), Catch::Contains("is in use by another raftd (pid " +
                                          std::to_string(holder.pid()) + ")"));
  holder.kill();
  holder.wait();
  // The kernel drops a flock with its holder: no stale lock after a crash.
  open_dir(tmp.path(), Identity{});
}

TEST_CASE("a snapshot taken through the data directory survives a restart", "[data_dir]") {
  TempDir tmp;
  {
    auto d = open_dir(tmp.path());
    d->log().save(nullptr, run(1, 10, 1));
    take_snapshot(*d, 6, "state at 6");
  }
  auto d = open_dir(tmp.path());
  CHECK(d->diagnostics().empty());
  CHECK(d->log().first_index() == 7);
  CHECK(d->log().snapshot_meta().index == 6);
  std::string image;
  std::uint64_t total = 0;
  d->log().snapshot_chunk(0, SIZE_MAX, image, total);
  CHECK(image == storage_test::read_file(d->snapshots().current()->path()));
}

TEST_CASE("a crash after the snapshot file but before compaction is repaired at open",
          "[data_dir]") {
  TempDir tmp;
  {
    auto d = open_dir(tmp.path());
    d->log().save(nullptr, run(1, 10, 1));
    auto w = d->snapshots().create(storage::SnapshotHeader{raft::SnapshotMeta{8, 1, {}}, ""});
    w->append("state at 8");
    REQUIRE(d->snapshots().commit(*w).is_ok());  // "crash" before log().compact()
  }
  auto d = open_dir(tmp.path());
  REQUIRE(d->diagnostics().size() == 1);
  CHECK_THAT(d->diagnostics()[0], Catch::Contains("was behind snapshot"));
  CHECK(d->log().first_index() == 9);
  CHECK(d->log().last_index() == 10);
}

TEST_CASE("a damaged newest snapshot falls back to the older one when the log allows it",
          "[data_dir][corruption]") {
  TempDir tmp;
  std::string newest;
  {
    auto d = open_dir(tmp.path());
    d->log().save(nullptr, run(1, 20, 1));
    take_snapshot(*d, 5, "state at 5");
    auto w = d->snapshots().create(storage::SnapshotHeader{raft::SnapshotMeta{15, 1, {}}, ""});
    w->append("state at 15");
    newest = (*d->snapshots().commit(*w))->path();  // crash before compaction
  }
  storage_test::flip_byte(newest, std::filesystem::file_size(newest) - 1);
  auto d = open_dir(tmp.path());
  REQUIRE(d->diagnostics().size() == 1);
  CHECK_THAT(d->diagnostics()[0], Catch::Contains(newest));
  CHECK(d->snapshots().current()->meta().index == 5);
  CHECK(d->log().snapshot_meta().index == 5);
  CHECK(d->log().first_index() == 6);
}

TEST_CASE("a damaged snapshot the log depends on stops the open, naming the file",
          "[data_dir][corruption]") {
  TempDir tmp;
  std::string newest;
  {
    auto d = open_dir(tmp.path());
    d->log().save(nullptr, run(1, 20, 1));
    take_snapshot(*d, 5, "state at 5");
    take_snapshot(*d, 15, "state at 15");
    newest = d->snapshots().current()->path();
  }
  storage_test::flip_byte(newest, std::filesystem::file_size(newest) - 2);
  auto r = DataDir::open(tmp.path(), kId);
  REQUIRE_FALSE(r.is_ok());
  INFO(r.message());
  CHECK_THAT(r.message(), Catch::Contains("compacted through index 15"));
  CHECK_THAT(r.message(), Catch::Contains(newest));
}

TEST_CASE("installing a received snapshot replaces the log", "[data_dir]") {
  TempDir tmp;
  auto d = open_dir(tmp.path());
  d->log().save(nullptr, run(1, 3, 1));
  // Build the leader's file image in another store and feed it in two chunks.
  TempDir leader_dir;
  std::vector<std::string> diags;
  auto leader = storage::SnapshotStore::open(leader_dir.path(), diags);
  const raft::SnapshotMeta meta{50, 4, raft::ConfState{{1, 2, 3}, {}}};
  auto w = leader->create(storage::SnapshotHeader{meta, "addresses"});
  w->append(std::string(10000, 's'));
  auto lf = leader->commit(*w);
  REQUIRE(lf.is_ok());
  std::string image;
  (*lf)->read_raw(0, SIZE_MAX, image);
  auto in = d->snapshots().receive(meta, image.size());
  REQUIRE(in->write(0, image.substr(0, 5000)).is_ok());
  REQUIRE(in->write(5000, image.substr(5000)).is_ok());
  auto f = d->install_snapshot(*in);
  REQUIRE(f.is_ok());
  CHECK((*f)->header().context == "addresses");
  CHECK(d->log().first_index() == 51);
  CHECK(d->log().last_index() == 50);
  CHECK(d->log().initial_state().conf == meta.conf);
  CHECK(d->log().hard_state().commit == 50);
}

namespace {

std::unique_ptr<DataDir> open_keeping(const std::string& path) {
  DataDir::Options o;
  o.keep_log_to_previous_snapshot = true;
  auto r = DataDir::open(path, kId, o);
  INFO(r.message());
  REQUIRE(r.is_ok());
  return std::move(*r);
}

}  // namespace

TEST_CASE("keep_log_to_previous_snapshot: the log reaches back to the previous snapshot",
          "[data_dir]") {
  TempDir tmp;
  auto d = open_keeping(tmp.path());
  d->log().save(nullptr, run(1, 30, 1));
  take_snapshot(*d, 10, "state at 10");
  CHECK(d->log().first_index() == 1);  // no older snapshot yet: the whole log stays
  take_snapshot(*d, 20, "state at 20");
  CHECK(d->snapshots().current()->meta().index == 20);
  CHECK(d->log().first_index() == 11);  // compacted to the previous snapshot only
  std::string image;
  std::uint64_t total = 0;
  d->log().snapshot_chunk(0, SIZE_MAX, image, total);
  auto streamed = d->snapshots().open_verified(d->log().snapshot_meta());
  REQUIRE(streamed.is_ok());
  CHECK(total == (*streamed)->file_size());  // followers get the snapshot the log starts at
  take_snapshot(*d, 30, "state at 30");
  CHECK(d->log().first_index() == 21);
}

TEST_CASE("keep_log_to_previous_snapshot: a damaged newest snapshot falls back to the older one",
          "[data_dir][corruption]") {
  TempDir tmp;
  std::string newest;
  {
    auto d = open_keeping(tmp.path());
    d->log().save(nullptr, run(1, 30, 1));
    take_snapshot(*d, 10, "state at 10");
    take_snapshot(*d, 20, "state at 20");
    newest = d->snapshots().current()->path();
  }
  storage_test::flip_byte(newest, std::filesystem::file_size(newest) - 2);
  auto d = open_keeping(tmp.path());
  REQUIRE(d->snapshots().current() != nullptr);
  CHECK(d->snapshots().current()->meta().index == 10);  // loaded instead, log replays 11..30
  CHECK(d->log().first_index() == 11);
  CHECK(d->log().last_index() == 30);
  bool said = false;
  for (const auto& diag : d->diagnostics()) said |= diag.find(newest) != std::string::npos;
  CHECK(said);
}

TEST_CASE(
    "keep_log_to_previous_snapshot: without the older file the log is compacted to the newest",
    "[data_dir]") {
  TempDir tmp;
  std::string older;
  {
    auto d = open_keeping(tmp.path());
    d->log().save(nullptr, run(1, 30, 1));
    take_snapshot(*d, 10, "state at 10");
    older = d->snapshots().current()->path();
    take_snapshot(*d, 20, "state at 20");
  }
  std::filesystem::remove(older);
  auto d = open_keeping(tmp.path());
  CHECK(d->snapshots().current()->meta().index == 20);
  CHECK(d->log().first_index() == 21);
  REQUIRE_FALSE(d->diagnostics().empty());
  CHECK_THAT(d->diagnostics().back(), Catch::Contains("compacted the log to"));
}

TEST_CASE("snapshots left in a directory whose identity and log were removed are refused",
          "[data_dir]") {
  // An operator "resetting" a node with rm -r log IDENTITY must not revive its old state.
  TempDir tmp;
  {
    auto d = open_dir(tmp / "n");
    d->log().save(nullptr, run(1, 5, 1));
    take_snapshot(*d, 5, "old state");
  }
  std::filesystem::remove_all(tmp / "n/log");
  std::filesystem::remove(tmp / "n/IDENTITY");
  auto r = DataDir::open(tmp / "n", Identity{"", 1, "127.0.0.1:7001"});
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.message(), Catch::Contains("never formed"));
}

TEST_CASE("a formation that crashed before its commit point leaves a new directory", "[data_dir]") {
  TempDir tmp;
  const Identity fresh{"", 1, "127.0.0.1:7001"};
  { open_dir(tmp / "n", fresh); }
  // CLUSTER and SECRET were written, IDENTITY (the commit) was not.
  storage_test::write_file(tmp / "n/CLUSTER", "RAFTDF01 garbage of a crashed formation");
  auto d = open_dir(tmp / "n", fresh);
  CHECK_FALSE(d->formed());
  CHECK(d->cluster_record().empty());
  CHECK_FALSE(std::filesystem::exists(tmp / "n/CLUSTER"));
}
