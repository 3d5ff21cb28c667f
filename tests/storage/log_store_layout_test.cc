// How the log store lays its records out in RocksDB: metadata in a column family of its own,
// compaction that returns the space of dropped entries without range tombstones, and stores
// written by the previous layout (format version 1) opened and migrated.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "storage/codec.h"
#include "storage/crc32c.h"
#include "storage/log_store.h"
#include "tests/storage/test_util.h"

using raft::Entry;
using raft::EntryType;
using raft::Index;
using raft::StorageError;
using raft::Term;
using storage::LogStore;
using storage_test::TempDir;

namespace {

std::unique_ptr<LogStore> open_store(const std::string& dir, LogStore::Options o = {}) {
  auto r = LogStore::open(dir, o);
  INFO(r.message());
  REQUIRE(r.is_ok());
  return std::move(*r);
}

std::uint64_t sst_bytes(const std::string& dir) {
  std::uint64_t n = 0;
  for (const std::string& f : storage_test::files_with_suffix(dir, ".sst")) {
    n += std::filesystem::file_size(f);
  }
  return n;
}

// Records as format version 1 wrote them, all in the default column family: a CRC32C over key
// and payload, then the payload.
std::string v1_meta(const std::string& key, const std::string& payload) {
  std::string v;
  storage::codec::put_u32(v, storage::crc32c_extend(storage::crc32c(key), payload));
  return v + payload;
}

std::string v1_entry_key(Index i) {
  std::string k(1, 'e');
  storage::codec::put_u64(k, i);
  return k;
}

std::string v1_entry(Index i, Term t, const std::string& data) {
  std::string rest;
  storage::codec::put_u64(rest, t);
  storage::codec::put_u8(rest, static_cast<std::uint8_t>(EntryType::kNormal));
  rest += data;
  std::string v;
  storage::codec::put_u32(v, storage::crc32c_extend(storage::crc32c(v1_entry_key(i)), rest));
  return v + rest;
}

// Big-endian u64s, as metadata payloads hold them.
std::string u64s(std::initializer_list<std::uint64_t> values) {
  std::string out;
  for (std::uint64_t v : values) storage::codec::put_u64(out, v);
  return out;
}

// Writes a store as an older raftd laid it out, with RocksDB itself: `fill` adds its records
// to one synced batch, metadata through `meta` (the "meta" family when `meta_family`, else the
// default family, as in format 1).
void write_old_store(
    const std::string& dir, bool meta_family,
    const std::function<void(rocksdb::WriteBatch&, rocksdb::ColumnFamilyHandle* meta)>& fill) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()}};
  if (meta_family) families.push_back({"meta", rocksdb::ColumnFamilyOptions()});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(o), dir, families, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteBatch b;
  fill(b, handles.back());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  REQUIRE(db->Write(wo, &b).ok());
  for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
  REQUIRE(db->Close().ok());
}

}  // namespace

TEST_CASE("compaction returns the space of dropped entries without rewriting them", "[log_store]") {
  TempDir tmp;
  LogStore::Options o;
  o.write_buffer_bytes = 256 << 10;  // many small files
  auto s = open_store(tmp.path(), o);
  const std::string data(1000, 'x');
  Index last = 0;
  // 16 MB of entries, compacted up to 1,000 entries behind the head after every batch, the
  // way a node that snapshots often keeps its log short.
  for (int batch = 0; batch < 160; ++batch) {
    std::vector<Entry> entries;
    for (int k = 0; k < 100; ++k) entries.push_back(Entry{1, ++last, EntryType::kNormal, data});
    s->save(nullptr, entries);
    if (last > 1000) s->compact(raft::SnapshotMeta{last - 1000, 1, {}});
  }
  // No tombstone covers the dropped entries: their files go only when RocksDB has moved them
  // out of level 0 and compact() deletes them whole. Background work may lag; it must catch up.
  std::uint64_t bytes = sst_bytes(tmp.path());
  for (int i = 0; i < 100 && bytes > (4u << 20); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    s->compact(raft::SnapshotMeta{last - 1000 + static_cast<Index>(i) + 1, 1, {}});
    bytes = sst_bytes(tmp.path());
  }
  INFO("live SST bytes " << bytes);
  CHECK(bytes < (4u << 20));
  // What is left reads back, and a restart sees the same log.
  std::vector<Entry> out;
  REQUIRE(s->entries(s->first_index(), last + 1, SIZE_MAX, out) == StorageError::kOk);
  CHECK(out.size() == last - s->first_index() + 1);
  const Index first = s->first_index();
  s.reset();
  s = open_store(tmp.path(), o);
  CHECK(s->first_index() == first);
  CHECK(s->last_index() == last);
  Term t = 0;
  CHECK(s->term(first - 2, t) == StorageError::kCompacted);
}

TEST_CASE("a batch of big entries is cut into records of bounded size", "[log_store]") {
  TempDir tmp;
  LogStore::Options o;
  o.max_record_bytes = 3000;
  std::vector<Entry> entries;
  for (Index i = 1; i <= 6; ++i) {
    entries.push_back(
        Entry{2, i, EntryType::kNormal, std::string(1000, static_cast<char>('a' + i))});
  }
  {
    auto s = open_store(tmp.path(), o);
    s->save(nullptr, entries);
    // Two entries fit (with their headers) under 3000 bytes, a third does not.
    for (Index first : {1, 3, 5}) CHECK_FALSE(s->testing_get_raw(first).empty());
    for (Index inside : {2, 4, 6}) CHECK(s->testing_get_raw(inside).empty());
    // A suffix replaced from inside the second record.
    s->save(nullptr, {Entry{3, 4, EntryType::kNormal, "four"}});
  }
  auto s = open_store(tmp.path(), o);
  REQUIRE(s->last_index() == 4);
  std::vector<Entry> out;
  REQUIRE(s->entries(1, 5, SIZE_MAX, out) == StorageError::kOk);
  REQUIRE(out.size() == 4);
  CHECK(out[2] == entries[2]);
  CHECK(out[3] == Entry{3, 4, EntryType::kNormal, "four"});
}

TEST_CASE("a store written by format version 1 opens, migrated, with its data", "[log_store]") {
  TempDir tmp;
  const std::string dir = tmp.path() + "/v1";
  write_old_store(dir, false, [](rocksdb::WriteBatch& b, rocksdb::ColumnFamilyHandle* meta) {
    b.Put(meta, "m:version", v1_meta("m:version", u64s({1})));
    b.Put(meta, "m:hard_state", v1_meta("m:hard_state", u64s({3, 2, 4})));  // term, vote, commit
    for (Index i = 1; i <= 5; ++i) {
      b.Put(v1_entry_key(i), v1_entry(i, 3, "v1-" + std::to_string(i) + std::string(1000, '.')));
    }
  });
  LogStore::Options o;
  o.max_record_bytes = 2500;              // two of these entries to a record
  for (int pass = 0; pass < 2; ++pass) {  // migrated at the first open, read as is at the second
    auto s = open_store(dir, o);
    CHECK(s->hard_state() == raft::HardState{3, 2, 4});
    CHECK(s->first_index() == 1);
    REQUIRE(s->last_index() == static_cast<Index>(5 + pass));
    std::vector<Entry> out;
    REQUIRE(s->entries(1, s->last_index() + 1, SIZE_MAX, out) == StorageError::kOk);
    REQUIRE(out.size() == s->last_index());
    CHECK(out[4] == Entry{3, 5, EntryType::kNormal, "v1-5" + std::string(1000, '.')});
    if (pass == 0) {
      for (Index first : {1, 3, 5}) CHECK_FALSE(s->testing_get_raw(first).empty());
      s->save(nullptr, {Entry{3, 6, EntryType::kNormal, "v2-6"}});
    }
    if (pass == 1) CHECK(out[5] == Entry{3, 6, EntryType::kNormal, "v2-6"});
  }
}

TEST_CASE("a store written by format version 2 opens, migrated, from its first index",
          "[log_store]") {
  // Version 2: metadata in the "meta" family, one record per entry in the default family, and
  // compaction left the entries below the first index in place (no tombstone).
  TempDir tmp;
  const std::string dir = tmp.path() + "/v2";
  write_old_store(dir, true, [](rocksdb::WriteBatch& b, rocksdb::ColumnFamilyHandle* meta) {
    b.Put(meta, "m:version", v1_meta("m:version", u64s({2})));
    b.Put(meta, "m:hard_state", v1_meta("m:hard_state", u64s({3, 2, 6})));  // term, vote, commit
    std::string snap = u64s({2, 3});                                        // index, term
    storage::codec::put_conf_state(snap, raft::ConfState{{1}, {}});
    b.Put(meta, "m:snapshot", v1_meta("m:snapshot", snap));
    b.Put(v1_entry_key(1), "not a record: below the first index, never read");
    for (Index i = 2; i <= 6; ++i) {
      b.Put(v1_entry_key(i), v1_entry(i, 3, "v2-" + std::to_string(i)));
    }
  });
  for (int pass = 0; pass < 2; ++pass) {
    auto s = open_store(dir);
    CHECK(s->hard_state() == raft::HardState{3, 2, 6});
    CHECK(s->first_index() == 3);
    REQUIRE(s->last_index() == 6);
    std::vector<Entry> out;
    REQUIRE(s->entries(3, 7, SIZE_MAX, out) == StorageError::kOk);
    REQUIRE(out.size() == 4);
    CHECK(out[0] == Entry{3, 3, EntryType::kNormal, "v2-3"});
    CHECK(out[3] == Entry{3, 6, EntryType::kNormal, "v2-6"});
  }
}

TEST_CASE("a store of an unknown format version is refused", "[log_store]") {
  TempDir tmp;
  const std::string dir = tmp.path() + "/v9";
  write_old_store(dir, false, [](rocksdb::WriteBatch& b, rocksdb::ColumnFamilyHandle* meta) {
    b.Put(meta, "m:version", v1_meta("m:version", u64s({9})));
  });
  auto r = LogStore::open(dir);
  REQUIRE_FALSE(r.is_ok());
  CHECK_THAT(r.message(), Catch::Contains("format version 9 is not supported"));
}
