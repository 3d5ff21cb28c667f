// Snapshots of the keyspace on disk (server/node/snapshotter.h): through a real SnapshotStore and
// DataDir in a scratch directory, written synchronously or by a forked child while the parent
// keeps changing the keyspace; failures in the child; refusal of an out-of-date snapshot.
#include "server/node/snapshotter.h"

#include <fmt/core.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness.h"
#include "server/keyspace/snapshot.h"
#include "storage/data_dir.h"
#include "storage/snapshot_store.h"

namespace raftd::test {

namespace {

using Clock = std::chrono::steady_clock;

// A fresh directory under $TMPDIR, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "raftd-snapshotter-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  REQUIRE(out);
}

const storage::Identity kId{"cluster-s", 1, "127.0.0.1:7001"};

std::unique_ptr<storage::DataDir> open_dir(const std::string& path, bool sync = false) {
  storage::DataDir::Options options;
  options.log.sync = sync;
  auto r = storage::DataDir::open(path, kId, options);
  INFO(r.message());
  REQUIRE(r.is_ok());
  return std::move(*r);
}

// Log entries 1..to in term 1, so a snapshot anywhere up to `to` can compact the log.
void append_log(storage::DataDir& d, raft::Index to) {
  std::vector<raft::Entry> entries;
  for (raft::Index i = d.log().last_index() + 1; i <= to; ++i) {
    entries.push_back(raft::Entry{1, i, raft::EntryType::kNormal, "e"});
  }
  d.log().save(nullptr, entries);
}

storage::SnapshotHeader header_at(raft::Index index) {
  return storage::SnapshotHeader{raft::SnapshotMeta{index, 1, raft::ConfState{{1, 2, 3}, {4}}},
                                 "1=127.0.0.1:7001,2=127.0.0.1:7003,3=127.0.0.1:7005"};
}

std::string body_of(const Keyspace& ks) {
  std::string out;
  write_snapshot_body(ks, [&](std::string_view piece) { out.append(piece); });
  return out;
}

void fill(Keyspace& ks, int n, std::string_view tag = "v") {
  for (int i = 0; i < n; ++i) {
    const std::string key = fmt::format("key:{}", i);
    if (i % 50 == 0) {
      auto h = ks.insert_hash(key);
      for (int f = 0; f < 3 + i % 200; ++f) ks.hash_set(h, fmt::format("f{}", f), tag);
      if (i % 100 == 0) ks.set_expire(h, kT0 + i);
    } else {
      ks.insert_string(key, fmt::format("{}-{}-{}", tag, i, std::string(i % 64, 'x')),
                       i % 3 == 0 ? kT0 + i : kNoExpire);
    }
  }
}

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("tmp-", 0) == 0) out.push_back(name);
  }
  return out;
}

// Loads the store's current snapshot into a fresh keyspace and returns its body re-serialized.
std::string reload(const storage::SnapshotFile& file) {
  Keyspace ks;
  raftd::Status st = load_snapshot(file, ks);
  INFO(st.message());
  REQUIRE(st.is_ok());
  return body_of(ks);
}

}  // namespace

TEST_CASE("a keyspace round-trips through a real snapshot file", "[snapshotter]") {
  TempDir tmp;
  std::vector<std::string> diagnostics;
  auto store = storage::SnapshotStore::open(tmp / "snapshots", diagnostics);
  Harness h;
  h.run({"SET", "s", "v", "PX", "100"});
  h.run({"HSET", "h", "f", "v"});
  fill(h.keyspace(), 5000);
  const std::string want = body_of(h.keyspace());

  // create -> append in pieces -> commit -> read back in small chunks -> load.
  auto writer = store->create(header_at(7));
  write_snapshot_body(h.keyspace(), [&](std::string_view piece) { writer->append(piece); });
  auto file = store->commit(*writer);
  REQUIRE(file.is_ok());
  CHECK((*file)->header() == header_at(7));
  CHECK((*file)->body_size() == want.size());

  Keyspace loaded;
  storage::SnapshotBodyReader reader = (*file)->body_reader(777);
  raftd::Status st = load_snapshot_body(reader, loaded, (*file)->body_size());
  INFO(st.message());
  REQUIRE(st.is_ok());
  CHECK(body_of(loaded) == want);
  CHECK(dump(loaded) == dump(h.keyspace()));
  CHECK(reload(**file) == want);
}

TEST_CASE("a damaged snapshot file is an error naming the file", "[snapshotter]") {
  TempDir tmp;
  std::vector<std::string> diagnostics;
  auto store = storage::SnapshotStore::open(tmp / "snapshots", diagnostics);
  Keyspace ks;
  fill(ks, 2000);

  SECTION("a flipped body byte: the CRC says so") {
    auto writer = store->create(header_at(3));
    write_snapshot_body(ks, [&](std::string_view piece) { writer->append(piece); });
    auto file = store->commit(*writer);
    REQUIRE(file.is_ok());
    const std::string path = (*file)->path();
    for (std::uint64_t at : {std::uint64_t{0}, std::uint64_t{40}, (*file)->body_size() / 2,
                             (*file)->body_size() - 1}) {
      std::string bytes = read_file(path);
      bytes[(*file)->body_offset() + at] ^= 0x04;
      const std::string bad_path = tmp / fmt::format("bad-{}.snap", at);
      write_file(bad_path, bytes);
      auto bad = storage::SnapshotFile::open(bad_path);
      REQUIRE(bad.is_ok());
      Keyspace into;
      raftd::Status st = load_snapshot(**bad, into);
      REQUIRE_FALSE(st.is_ok());
      CHECK_THAT(st.message(), Catch::Contains(bad_path));
    }
  }
  SECTION("a body that checks out but is not a keyspace") {
    auto writer = store->create(header_at(3));
    writer->append("RAFTDKV");
    writer->append(std::string(30, '\x01'));
    auto file = store->commit(*writer);
    REQUIRE(file.is_ok());
    Keyspace into;
    raftd::Status st = load_snapshot(**file, into);
    REQUIRE_FALSE(st.is_ok());
    CHECK_THAT(st.message(), Catch::Contains((*file)->path()) && Catch::Contains("bad magic"));
  }
}

TEST_CASE("a snapshot written by a forked child loads back equal and compacts the log",
          "[snapshotter]") {
  TempDir tmp;
  const std::string dir = tmp / "node";
  auto d = open_dir(dir);
  append_log(*d, 20);
  Harness h;
  fill(h.keyspace(), 20'000);
  h.run({"SET", "gone", "v", "PX", "1"});
  h.now += 5;
  h.run({"SET", "gone", "w"});  // counts one expired key
  const std::string want = body_of(h.keyspace());

  Snapshotter snap(*d);
  CHECK_FALSE(snap.running());
  CHECK_FALSE(snap.poll());
  raftd::Status st = snap.start(header_at(12), h.keyspace());
  INFO(st.message());
  REQUIRE(st.is_ok());
  REQUIRE(snap.running());
  CHECK(snap.child_pid() > 0);
  auto out = snap.wait();
  REQUIRE(out);
  INFO(out->status.message());
  REQUIRE(out->ok());
  CHECK_FALSE(snap.running());
  CHECK(out->meta == header_at(12).meta);
  REQUIRE(out->file);
  CHECK(out->file->header() == header_at(12));
  CHECK(out->body_bytes == want.size());
  CHECK(out->fork_time.count() > 0);
  CHECK(out->child_time.count() > 0);
  CHECK(out->elapsed >= out->child_time);
  CHECK(out->ran_idle);  // the default: the child only takes CPU nobody else wants
  CHECK(out->raised);    // wait() raised it: whoever blocks on the child must not starve it
  // The adopted file is current, the log starts after it, and no temporary file is left.
  CHECK(d->snapshots().current() == out->file);
  CHECK(d->log().first_index() == 13);
  CHECK(d->log().snapshot_meta() == header_at(12).meta);
  CHECK(temp_files(d->snapshots().dir()).empty());
  CHECK(reload(*out->file) == want);
  {
    Keyspace loaded;
    REQUIRE(load_snapshot(*out->file, loaded).is_ok());
    CHECK(loaded.stats().expired_keys == 1);
  }

  // After a restart the same snapshot is found and loads the same.
  d.reset();
  d = open_dir(dir);
  REQUIRE(d->snapshots().current());
  CHECK(d->snapshots().current()->header() == header_at(12));
  CHECK(reload(*d->snapshots().current()) == want);
  CHECK(d->log().first_index() == 13);
}

TEST_CASE("the child writes the state at fork time while the parent keeps changing it",
          "[snapshotter]") {
  TempDir tmp;
  auto d = open_dir(tmp / "node");
  append_log(*d, 10);
  Keyspace ks;
  fill(ks, 100'000);
  const std::string at_fork = body_of(ks);

  Snapshotter snap(*d);
  REQUIRE(snap.start(header_at(9), ks).is_ok());
  // Rewrite, delete and add keys until the child is done; no sleeping, a deadline instead.
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  std::optional<Snapshotter::Outcome> out;
  std::uint64_t changes = 0;
  int i = 0;
  while (true) {
    for (int n = 0; n < 500; ++n, ++i) {
      const std::string key = fmt::format("key:{}", i % 100'000);
      if (auto ref = ks.find_for_write(key, kT0 - 1)) {
        if (ref->is_string() && i % 2 == 0) {
          ks.set_string(ref, "changed");
        } else {
          ks.erase(ref);
        }
      } else {
        ks.insert_string(key, "new");
      }
      ks.insert_string(fmt::format("after:{}", i), "x");
      ++changes;
    }
    out = snap.poll();
    if (out) break;
    REQUIRE(Clock::now() < deadline);
  }
  INFO(out->status.message());
  REQUIRE(out->ok());
  CHECK(changes > 0);
  CHECK(body_of(ks) != at_fork);
  CHECK(reload(*out->file) == at_fork);
}

TEST_CASE("a child that fails leaves the current snapshot and the log alone", "[snapshotter]") {
  TempDir tmp;
  auto d = open_dir(tmp / "node");
  append_log(*d, 10);
  Keyspace ks;
  fill(ks, 20'000);  // about 1 MB of body
  auto first = write_snapshot_now(*d, header_at(3), ks);
  REQUIRE(first.is_ok());
  const std::vector<std::string> files_before = d->snapshots().list();
  REQUIRE(files_before.size() == 1);

  Snapshotter::Options options;
  // The child's writes fail with EFBIG; it prints "fatal I/O error: write ...: File too large"
  // to stderr and aborts, as it would on a full disk. That line in the test output is expected.
  options.testing_child_file_limit = 64 << 10;
  {
    Snapshotter snap(*d, options);
    REQUIRE(snap.start(header_at(6), ks).is_ok());
    auto out = snap.wait();
    REQUIRE(out);
    CHECK_FALSE(out->ok());
    CHECK_FALSE(out->file);
    CHECK_THAT(out->status.message(),
               Catch::Contains("for index 6") && Catch::Contains("signal 6"));
  }
  CHECK(d->snapshots().current() == *first);
  CHECK(d->snapshots().list() == files_before);
  CHECK(d->log().first_index() == 4);
  CHECK(temp_files(d->snapshots().dir()).empty());

  // Nothing sticks: the next attempt without the fault succeeds.
  Snapshotter snap(*d);
  REQUIRE(snap.start(header_at(6), ks).is_ok());
  auto out = snap.wait();
  REQUIRE(out);
  INFO(out->status.message());
  REQUIRE(out->ok());
  CHECK(d->log().first_index() == 7);
  CHECK(reload(*out->file) == body_of(ks));
}

TEST_CASE("the child runs at SCHED_IDLE until raised, or at normal priority if asked",
          "[snapshotter]") {
  TempDir tmp;
  auto d = open_dir(tmp / "node");
  append_log(*d, 20);
  Harness h;
  fill(h.keyspace(), 1'000);
  {
    Snapshotter snap(*d);
    REQUIRE(snap.start(header_at(5), h.keyspace()).is_ok());
    // Seen from outside while it runs (or as a zombie, whose policy stays readable).
    CHECK(::sched_getscheduler(snap.child_pid()) == SCHED_IDLE);
    auto out = snap.wait();
    REQUIRE(out);
    CHECK(out->ok());
    CHECK(out->ran_idle);
  }
  {
    Snapshotter::Options o;
    o.idle_priority_for = std::chrono::milliseconds(0);
    Snapshotter snap(*d, o);
    REQUIRE(snap.start(header_at(10), h.keyspace()).is_ok());
    CHECK(::sched_getscheduler(snap.child_pid()) == SCHED_OTHER);
    auto out = snap.wait();
    REQUIRE(out);
    CHECK(out->ok());
    CHECK_FALSE(out->ran_idle);
    CHECK_FALSE(out->raised);
  }
}

TEST_CASE("a snapshot older than the current one is refused", "[snapshotter]") {
  TempDir tmp;
  auto d = open_dir(tmp / "node");
  append_log(*d, 10);
  Keyspace ks;
  fill(ks, 3000);

  Snapshotter snap(*d);
  REQUIRE(snap.start(header_at(5), ks).is_ok());
  // Meanwhile a newer snapshot becomes current (e.g. one installed from the leader).
  auto newer = write_snapshot_now(*d, header_at(8), ks);
  REQUIRE(newer.is_ok());
  auto out = snap.wait();
  REQUIRE(out);
  CHECK_FALSE(out->ok());
  CHECK_THAT(out->status.message(), Catch::Contains("older than the current one"));
  CHECK(d->snapshots().current() == *newer);
  CHECK(d->log().first_index() == 9);
  CHECK(d->snapshots().list() == std::vector<std::string>{storage::snapshot_file_name(8, 1)});
  CHECK(temp_files(d->snapshots().dir()).empty());

  // The same refusals straight from the storage layer.
  CHECK_FALSE(d->adopt_snapshot(tmp / "elsewhere.snap").is_ok());
  auto old_writer = d->snapshots().create(header_at(4));
  old_writer->append(body_of(ks));
  const std::string old_path = old_writer->finish();
  auto refused = d->adopt_snapshot(old_path);
  CHECK_FALSE(refused.is_ok());
  CHECK_FALSE(std::filesystem::exists(old_path));
  CHECK(d->snapshots().current() == *newer);
  CHECK_FALSE(write_snapshot_now(*d, header_at(7), ks).is_ok());
}

TEST_CASE("start refuses overlapping or stale snapshots; cancel kills and cleans up",
          "[snapshotter]") {
  TempDir tmp;
  auto d = open_dir(tmp / "node");
  append_log(*d, 10);
  Keyspace ks;
  fill(ks, 50'000);
  REQUIRE(write_snapshot_now(*d, header_at(4), ks).is_ok());

  Snapshotter snap(*d);
  raftd::Status stale = snap.start(header_at(4), ks);
  REQUIRE_FALSE(stale.is_ok());
  CHECK_THAT(stale.message(), Catch::Contains("already covers index 4"));
  CHECK_FALSE(snap.running());

  REQUIRE(snap.start(header_at(6), ks).is_ok());
  const pid_t pid = snap.child_pid();
  raftd::Status busy = snap.start(header_at(7), ks);
  REQUIRE_FALSE(busy.is_ok());
  CHECK_THAT(busy.message(), Catch::Contains("already being written"));

  snap.cancel();
  CHECK_FALSE(snap.running());
  CHECK_FALSE(snap.poll());
  CHECK_FALSE(snap.wait());
  int status = 0;
  CHECK(::waitpid(pid, &status, WNOHANG) == -1);  // reaped: no zombie left behind
  CHECK(temp_files(d->snapshots().dir()).empty());
  CHECK(d->snapshots().current()->meta().index >= 4);

  // Destroying a Snapshotter with a child running does the same.
  {
    Snapshotter other(*d);
    REQUIRE(other.start(header_at(9), ks).is_ok());
  }
  CHECK(temp_files(d->snapshots().dir()).empty());
}

TEST_CASE("fork snapshot of 1M keys x 100-byte values", "[snapshotter][.bench]") {
  TempDir tmp;
  auto d = open_dir(tmp / "node", true);
  append_log(*d, 10);
  Keyspace ks;
  const std::string value(100, 'v');
  for (int i = 0; i < 1'000'000; ++i) {
    ks.insert_string(fmt::format("key:{:07}", i), value, i % 4 == 0 ? kT0 + i : kNoExpire);
  }
  Snapshotter snap(*d);
  REQUIRE(snap.start(header_at(10), ks).is_ok());
  auto out = snap.wait();
  REQUIRE(out);
  INFO(out->status.message());
  REQUIRE(out->ok());
  const auto t0 = Clock::now();
  Keyspace loaded;
  REQUIRE(load_snapshot(*out->file, loaded).is_ok());
  const auto load_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  REQUIRE(loaded.size() == 1'000'000);
  std::printf(
      "1M keys x 100 B: file %llu bytes; fork %lld us; child %lld ms (serialize + write + fsync + "
      "rename); load %lld ms\n",
      static_cast<unsigned long long>(out->file->file_size()),
      static_cast<long long>(out->fork_time.count()),
      static_cast<long long>(out->child_time.count() / 1000), static_cast<long long>(load_ms));
}

// What a concurrent snapshot costs the log: synced appends (the disk thread's work) timed before
// and while a child writes a 1M-key snapshot.
TEST_CASE("log append latency while a child writes a snapshot", "[snapshotter][.bench]") {
  TempDir tmp;
  auto d = open_dir(tmp / "node", true);
  append_log(*d, 10);
  Keyspace ks;
  const std::string value(100, 'v');
  for (int i = 0; i < 1'000'000; ++i) ks.insert_string(fmt::format("key:{:07}", i), value);

  raft::Index next = 11;
  auto append_one = [&] {
    const auto t0 = Clock::now();
    d->log().save(nullptr, {raft::Entry{1, next++, raft::EntryType::kNormal, value}});
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
  };
  auto summary = [](std::vector<long long> v) {
    std::sort(v.begin(), v.end());
    return fmt::format("n={} p50={}us p99={}us max={}us", v.size(), v[v.size() / 2],
                       v[v.size() * 99 / 100], v.back());
  };
  std::vector<long long> before;
  for (int i = 0; i < 300; ++i) before.push_back(append_one());
  Snapshotter snap(*d);
  REQUIRE(snap.start(header_at(10), ks).is_ok());
  std::vector<long long> during;
  std::optional<Snapshotter::Outcome> out;
  while (!(out = snap.poll())) during.push_back(append_one());
  INFO(out->status.message());
  REQUIRE(out->ok());
  std::printf("synced log appends before: %s\nwhile the child wrote (%lld ms): %s\n",
              summary(before).c_str(), static_cast<long long>(out->child_time.count() / 1000),
              summary(during).c_str());
}

// The parent's other cost: the first write to each page after the fork copies it. Batches of 100
// overwrites of random keys, timed before and while a child writes a 1M-key snapshot.
TEST_CASE("keyspace write latency in the parent while a child writes a snapshot",
          "[snapshotter][.bench]") {
  TempDir tmp;
  auto d = open_dir(tmp / "node", true);
  append_log(*d, 10);
  Keyspace ks;
  const std::string value(100, 'v');
  for (int i = 0; i < 1'000'000; ++i) ks.insert_string(fmt::format("key:{:07}", i), value);
  std::uint64_t rng = 88172645463325252ull;
  auto batch = [&] {
    const auto t0 = Clock::now();
    for (int n = 0; n < 100; ++n) {
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      auto ref = ks.find_for_write(fmt::format("key:{:07}", rng % 1'000'000), kT0);
      ks.set_string(ref, value);
    }
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
  };
  auto summary = [](std::vector<long long> v) {
    std::sort(v.begin(), v.end());
    return fmt::format("n={} p50={}us p99={}us max={}us", v.size(), v[v.size() / 2],
                       v[v.size() * 99 / 100], v.back());
  };
  std::vector<long long> before;
  for (int i = 0; i < 2000; ++i) before.push_back(batch());
  Snapshotter snap(*d);
  REQUIRE(snap.start(header_at(10), ks).is_ok());
  std::vector<long long> during;
  std::optional<Snapshotter::Outcome> out;
  while (!(out = snap.poll())) during.push_back(batch());
  INFO(out->status.message());
  REQUIRE(out->ok());
  std::printf(
      "100 overwrites before: %s\nwhile the child wrote (fork %lld us, child %lld ms): %s\n",
      summary(before).c_str(), static_cast<long long>(out->fork_time.count()),
      static_cast<long long>(out->child_time.count() / 1000), summary(during).c_str());
}

}  // namespace raftd::test
