#include "storage/log_store.h"

#include <fmt/core.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "storage/codec.h"
#include "storage/crc32c.h"
#include "storage/io.h"
#include "storage/snapshot_file.h"

namespace storage {

namespace {

using raft::Entry;
using raft::Index;
using raft::Term;

// 1: metadata keys in the default column family beside the entries (read and migrated);
// 2: metadata in a column family of its own.
constexpr std::uint32_t kFormatVersion = 2;
const std::string kMetaFamily = "meta";
constexpr char kEntryPrefix = 'e';
constexpr std::size_t kEntryKeySize = 9;
constexpr std::size_t kEntryHeaderSize = 4 + 8 + 1;  // crc, term, type

const std::string kVersionKey = "m:version";
const std::string kHardStateKey = "m:hard_state";
const std::string kConfStateKey = "m:conf_state";
const std::string kSnapshotKey = "m:snapshot";
const std::string kFirstIndexKey = "m:first_index";
// Sorts after every entry key and before every meta key.
const std::string kEntryEnd(1, kEntryPrefix + 1);

std::string entry_key(Index i) {
  std::string k;
  k.reserve(kEntryKeySize);
  k.push_back(kEntryPrefix);
  codec::put_u64(k, i);
  return k;
}

// Value bytes after the CRC; the CRC is over key + these bytes + data.
std::string entry_header(const Entry& e, std::string_view key) {
  std::string h(4, '\0');
  codec::put_u64(h, e.term);
  codec::put_u8(h, static_cast<std::uint8_t>(e.type));
  std::uint32_t crc = crc32c(key);
  crc = crc32c_extend(crc, std::string_view(h).substr(4));
  crc = crc32c_extend(crc, e.data);
  std::string c;
  codec::put_u32(c, crc);
  h.replace(0, 4, c);
  return h;
}

// Decodes one stored entry; nullopt with `why` set when the record fails its checks.
std::optional<Entry> decode_entry(Index index, std::string_view key, std::string_view value,
                                  std::string& why) {
  if (value.size() < kEntryHeaderSize) {
    why = fmt::format("record too short ({} bytes)", value.size());
    return std::nullopt;
  }
  const std::uint32_t stored = codec::load_u32(value.data());
  const std::uint32_t actual = crc32c_extend(crc32c(key), value.substr(4));
  if (stored != actual) {
    why = fmt::format("CRC32C mismatch (stored {:08x}, computed {:08x})", stored, actual);
    return std::nullopt;
  }
  const auto type = static_cast<std::uint8_t>(value[12]);
  if (type > static_cast<std::uint8_t>(raft::EntryType::kConfChange)) {
    why = fmt::format("unknown entry type {}", type);
    return std::nullopt;
  }
  Entry e;
  e.index = index;
  e.term = codec::load_u64(value.data() + 4);
  e.type = static_cast<raft::EntryType>(type);
  e.data.assign(value.substr(kEntryHeaderSize));
  return e;
}

std::string meta_value(std::string_view key, std::string_view payload) {
  std::string v;
  codec::put_u32(v, crc32c_extend(crc32c(key), payload));
  v.append(payload);
  return v;
}

std::string encode_hard_state(const raft::HardState& hs) {
  std::string p;
  codec::put_u64(p, hs.term);
  codec::put_u64(p, hs.vote);
  codec::put_u64(p, hs.commit);
  return meta_value(kHardStateKey, p);
}

std::string encode_conf_state(const raft::ConfState& conf) {
  std::string p;
  codec::put_conf_state(p, conf);
  return meta_value(kConfStateKey, p);
}

std::string encode_snapshot_meta(const raft::SnapshotMeta& m) {
  std::string p;
  codec::put_u64(p, m.index);
  codec::put_u64(p, m.term);
  codec::put_conf_state(p, m.conf);
  return meta_value(kSnapshotKey, p);
}

std::string encode_u64(std::string_view key, std::uint64_t v) {
  std::string p;
  codec::put_u64(p, v);
  return meta_value(key, p);
}

rocksdb::Slice slice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

}  // namespace

struct LogStore::Impl {
  std::string dir;
  Options options;
  std::unique_ptr<rocksdb::DB> db;
  // Entries live in the default column family, metadata in their own ("meta"): the files of the
  // entry family then cover contiguous index ranges only, so compact() drops whole files and
  // RocksDB need not compact them (with the metadata key written by every batch beside them,
  // every file spanned up to "m:" and each snapshot left them to background compaction: a third
  // of the CPU of a write-heavy node). One WriteBatch still updates both atomically.
  rocksdb::ColumnFamilyHandle* meta_cf = nullptr;

  ~Impl() {
    // Only when open() failed after opening RocksDB; ~LogStore closes a store that opened.
    if (db && meta_cf != nullptr) db->DestroyColumnFamilyHandle(meta_cf).PermitUncheckedError();
  }
  rocksdb::WriteOptions write_options;
  rocksdb::ReadOptions read_options;

  // Writers (save, compact, install, set_conf_state) hold write_mu for their whole call, so they
  // never interleave; readers only take mu. save() releases mu while RocksDB syncs its batch, so
  // the core keeps reading the log (and the leader keeps replicating) during the fsync. Readers
  // see the state from before the batch until it is durable; the core never reads an index the
  // batch rewrites (those are still in its unstable tail).
  std::mutex write_mu;
  mutable std::mutex mu;
  // The cached state below mirrors what is durable; the core's frequent calls never reach
  // RocksDB for it.
  raft::HardState hard_state;
  raft::ConfState conf;
  raft::SnapshotMeta snapshot;
  Index last_index = 0;
  Term last_term = 0;
  // The newest entries: empty, or a contiguous run ending at last_index.
  std::deque<Entry> cache;
  std::size_t cache_bytes = 0;
  std::shared_ptr<const SnapshotFile> snapshot_file;

  Index first_index() const { return snapshot.index + 1; }

  [[noreturn]] void corrupt(Index i, const std::string& why) const {
    io::fatal(fmt::format("log store {}: corrupt entry at index {}: {}", dir, i, why), dir);
  }
  [[noreturn]] void broken(const std::string& what) const {
    io::fatal(fmt::format("log store {}: {}", dir, what), dir);
  }
  void check(const rocksdb::Status& s, std::string_view what) const {
    if (!s.ok()) io::fatal(fmt::format("log store {}: {}: {}", dir, what, s.ToString()), dir);
  }

  void write(rocksdb::WriteBatch& batch) { check(db->Write(write_options, &batch), "write batch"); }

  // Reads one entry from RocksDB (not the cache); aborts if it is missing or damaged.
  Entry read_entry(Index i) const {
    const std::string key = entry_key(i);
    rocksdb::PinnableSlice value;
    const rocksdb::Status s = db->Get(read_options, db->DefaultColumnFamily(), key, &value);
    if (s.IsNotFound()) corrupt(i, "record missing");
    check(s, fmt::format("read entry {}", i));
    std::string why;
    auto e = decode_entry(i, key, std::string_view(value.data(), value.size()), why);
    if (!e) corrupt(i, why);
    return std::move(*e);
  }

  // Appends entries [lo, hi) from RocksDB to `out` within the byte budget (the entry at lo
  // always fits). Returns false when the budget stopped it early.
  bool read_range(Index lo, Index hi, std::size_t max_bytes, std::size_t& bytes,
                  std::vector<Entry>& out) const {
    const std::string upper = entry_key(hi);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro = read_options;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
    it->Seek(entry_key(lo));
    for (Index i = lo; i < hi; ++i, it->Next()) {
      if (!it->Valid()) {
        check(it->status(), fmt::format("read entries from {}", lo));
        corrupt(i, "record missing");
      }
      const std::string key = entry_key(i);
      if (it->key() != rocksdb::Slice(key)) corrupt(i, "record missing");
      std::string why;
      const rocksdb::Slice v = it->value();
      auto e = decode_entry(i, key, std::string_view(v.data(), v.size()), why);
      if (!e) corrupt(i, why);
      bytes += e->data.size();
      if (i > lo && bytes > max_bytes) return false;
      out.push_back(std::move(*e));
    }
    return true;
  }

  // Memory an entry takes in the cache; empty entries (no-ops) are not free.
  static std::size_t cache_cost(const Entry& e) { return sizeof(Entry) + e.data.size(); }

  // Cache maintenance. Drops cached entries at or above `from`.
  void cache_truncate(Index from) {
    while (!cache.empty() && cache.back().index >= from) {
      cache_bytes -= cache_cost(cache.back());
      cache.pop_back();
    }
  }
  // Drops cached entries at or below `upto`.
  void cache_drop_prefix(Index upto) {
    while (!cache.empty() && cache.front().index <= upto) {
      cache_bytes -= cache_cost(cache.front());
      cache.pop_front();
    }
  }
  void cache_append(const Entry& e) {
    if (cache_cost(e) > options.entry_cache_bytes) {  // would evict everything, itself included
      cache.clear();
      cache_bytes = 0;
      return;
    }
    if (!cache.empty() && cache.back().index + 1 != e.index) {
      cache.clear();
      cache_bytes = 0;
    }
    cache.push_back(e);
    cache_bytes += cache_cost(e);
    while (cache_bytes > options.entry_cache_bytes && !cache.empty()) {
      cache_bytes -= cache_cost(cache.front());
      cache.pop_front();
    }
  }
  const Entry* cached(Index i) const {
    if (cache.empty() || i < cache.front().index || i > cache.back().index) return nullptr;
    return &cache[i - cache.front().index];
  }

  Term term_locked(Index i) const {
    if (i == snapshot.index) return snapshot.term;
    if (i == last_index) return last_term;
    if (const Entry* e = cached(i)) return e->term;
    return read_entry(i).term;
  }

  // Loads and checks everything at open. Returns an error naming what is wrong.
  Status load();
  Status migrate_v1();
};

namespace {

// Reads a metadata record: nullopt payload when absent, an error when damaged.
Status read_meta(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, const std::string& dir,
                 const std::string& key, std::optional<std::string>& payload) {
  std::string value;
  const rocksdb::Status s = db.Get(rocksdb::ReadOptions(), cf, key, &value);
  if (s.IsNotFound()) {
    payload.reset();
    return Status::ok();
  }
  if (!s.ok()) {
    return Status::error(fmt::format("log store {}: cannot read {}: {}", dir, key, s.ToString()));
  }
  if (value.size() < 4) {
    return Status::error(fmt::format("log store {}: corrupt record {}: too short", dir, key));
  }
  const std::uint32_t stored = codec::load_u32(value.data());
  const std::uint32_t actual = crc32c_extend(crc32c(key), std::string_view(value).substr(4));
  if (stored != actual) {
    return Status::error(fmt::format(
        "log store {}: corrupt record {}: CRC32C mismatch (stored {:08x}, computed {:08x})", dir,
        key, stored, actual));
  }
  payload = value.substr(4);
  return Status::ok();
}

Status bad_meta(const std::string& dir, const std::string& key) {
  return Status::error(fmt::format("log store {}: corrupt record {}: bad length", dir, key));
}

}  // namespace

Status LogStore::Impl::migrate_v1() {
  // Version 1 kept the metadata keys beside the entries: move them to their family, with the
  // new version, in one batch. Their CRCs cover only the key name and payload, so they move as
  // they are.
  rocksdb::WriteBatch b;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("m:"); it->Valid() && it->key().starts_with("m:"); it->Next()) {
    if (it->key() == rocksdb::Slice(kVersionKey)) continue;
    b.Put(meta_cf, it->key(), it->value());
    b.Delete(it->key());
  }
  if (!it->status().ok()) {
    return Status::error(fmt::format("log store {}: {}", dir, it->status().ToString()));
  }
  b.Delete(kVersionKey);
  b.Put(meta_cf, kVersionKey, encode_u64(kVersionKey, kFormatVersion));
  write(b);
  return Status::ok();
}

Status LogStore::Impl::load() {
  std::optional<std::string> p;
  if (Status s = read_meta(*db, meta_cf, dir, kVersionKey, p); !s) return s;
  if (!p) {
    std::optional<std::string> v1;
    if (Status s = read_meta(*db, db->DefaultColumnFamily(), dir, kVersionKey, v1); !s) return s;
    if (v1) {
      codec::Reader r(*v1);
      const std::uint64_t v = r.u64();
      if (!r.done() || v != 1) {
        return Status::error(
            fmt::format("log store {}: format version {} is not supported (this build reads {})",
                        dir, v, kFormatVersion));
      }
      if (Status s = migrate_v1(); !s) return s;
      return load();
    }
    // A fresh store has no keys at all; anything else without a version is not ours.
    for (rocksdb::ColumnFamilyHandle* cf : {db->DefaultColumnFamily(), meta_cf}) {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
      it->SeekToFirst();
      if (!it->status().ok()) {
        return Status::error(fmt::format("log store {}: {}", dir, it->status().ToString()));
      }
      if (it->Valid()) {
        return Status::error(
            fmt::format("log store {}: has data but no format version: not a raftd log", dir));
      }
    }
    rocksdb::WriteBatch b;
    b.Put(meta_cf, kVersionKey, encode_u64(kVersionKey, kFormatVersion));
    write(b);
    return Status::ok();
  }
  {
    codec::Reader r(*p);
    const std::uint64_t v = r.u64();
    if (!r.done()) return bad_meta(dir, kVersionKey);
    if (v != kFormatVersion) {
      return Status::error(
          fmt::format("log store {}: format version {} is not supported (this build reads {})", dir,
                      v, kFormatVersion));
    }
  }

  if (Status s = read_meta(*db, meta_cf, dir, kHardStateKey, p); !s) return s;
  if (p) {
    codec::Reader r(*p);
    hard_state.term = r.u64();
    hard_state.vote = r.u64();
    hard_state.commit = r.u64();
    if (!r.done()) return bad_meta(dir, kHardStateKey);
  }
  if (Status s = read_meta(*db, meta_cf, dir, kConfStateKey, p); !s) return s;
  if (p) {
    codec::Reader r(*p);
    conf = codec::get_conf_state(r);
    if (!r.done()) return bad_meta(dir, kConfStateKey);
  }
  if (Status s = read_meta(*db, meta_cf, dir, kSnapshotKey, p); !s) return s;
  if (p) {
    codec::Reader r(*p);
    snapshot.index = r.u64();
    snapshot.term = r.u64();
    snapshot.conf = codec::get_conf_state(r);
    if (!r.done()) return bad_meta(dir, kSnapshotKey);
  }
  if (Status s = read_meta(*db, meta_cf, dir, kFirstIndexKey, p); !s) return s;
  if (p) {
    codec::Reader r(*p);
    const std::uint64_t first = r.u64();
    if (!r.done()) return bad_meta(dir, kFirstIndexKey);
    if (first != snapshot.index + 1) {
      return Status::error(
          fmt::format("log store {}: inconsistent metadata: first index {} but snapshot index {}",
                      dir, first, snapshot.index));
    }
  }

  // Scan the entries. Without verify_on_open only the first and last are read. Keys below the
  // first index are logically deleted (a range tombstone covers them) and never looked at: after
  // DeleteFilesInRange() RocksDB does not promise they stay invisible.
  const std::string begin = entry_key(snapshot.index + 1);
  rocksdb::Slice upper(kEntryEnd);
  rocksdb::ReadOptions ro = read_options;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  auto fail_at = [&](Index i, const std::string& why) {
    return Status::error(fmt::format("log store {}: corrupt entry at index {}: {}", dir, i, why));
  };
  auto check_record = [&](Index expected, Term prev_term, Term& term) -> Status {
    const rocksdb::Slice k = it->key();
    if (k.size() != kEntryKeySize) {
      return Status::error(fmt::format(
          "log store {}: malformed entry key of {} bytes near index {}", dir, k.size(), expected));
    }
    const Index i = codec::load_u64(k.data() + 1);
    if (i != expected) {
      if (i < expected) return fail_at(i, "out of order");
      return Status::error(fmt::format("log store {}: entries missing: expected index {}, found {}",
                                       dir, expected, i));
    }
    std::string why;
    const rocksdb::Slice v = it->value();
    auto e = decode_entry(i, std::string_view(k.data(), k.size()),
                          std::string_view(v.data(), v.size()), why);
    if (!e) return fail_at(i, why);
    if (e->term < prev_term) {
      return fail_at(i, fmt::format("term {} is below the previous term {}", e->term, prev_term));
    }
    term = e->term;
    return Status::ok();
  };

  last_index = snapshot.index;
  last_term = snapshot.term;
  it->Seek(begin);
  if (options.verify_on_open) {
    for (; it->Valid(); it->Next()) {
      Term t = 0;
      if (Status s = check_record(last_index + 1, last_term, t); !s) return s;
      ++last_index;
      last_term = t;
    }
  } else if (it->Valid()) {
    Term t = 0;
    if (Status s = check_record(snapshot.index + 1, snapshot.term, t); !s) return s;
    it->SeekToLast();
    if (it->Valid()) {
      const rocksdb::Slice k = it->key();
      const Index last = k.size() == kEntryKeySize ? codec::load_u64(k.data() + 1) : 0;
      if (Status s = check_record(last, snapshot.term, t); !s) return s;
      last_index = last;
      last_term = t;
    }
  }
  if (!it->status().ok()) {
    return Status::error(
        fmt::format("log store {}: reading entries: {}", dir, it->status().ToString()));
  }
  if (hard_state.commit > last_index) {
    return Status::error(
        fmt::format("log store {}: commit index {} is beyond the last entry {}: entries were lost",
                    dir, hard_state.commit, last_index));
  }
  return Status::ok();
}

LogStore::LogStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LogStore::~LogStore() {
  if (impl_ && impl_->db) {
    if (impl_->meta_cf != nullptr) {
      impl_->check(impl_->db->DestroyColumnFamilyHandle(impl_->meta_cf), "close meta family");
      impl_->meta_cf = nullptr;
    }
    impl_->check(impl_->db->Close(), "close");
  }
}

Result<std::unique_ptr<LogStore>> LogStore::open(const std::string& dir, const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;

  rocksdb::Options o;
  o.create_if_missing = true;
  o.paranoid_checks = true;
  // Every write is synced, so only a torn tail (a write that never returned) may be missing
  // after a crash. Anything else damaged in the WAL must stop the open instead of silently
  // rolling back acknowledged writes, which point-in-time recovery (the default) would do.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Each Write() hands its WAL record to the kernel and fdatasyncs it before returning; nothing
  // waits in a user-space buffer for a later FlushWAL().
  o.manual_wal_flush = false;
  o.write_buffer_size = options.write_buffer_bytes;
  o.max_write_buffer_number = 3;
  o.max_background_jobs = 2;
  // Write flushed SSTs back to disk in 1 MiB steps rather than in one burst at their fsync: a
  // burst stalls the journal commit that our next WAL fdatasync waits for (ext4 data=ordered).
  o.bytes_per_sync = 1 << 20;
  // Entries are short-lived (dropped at the next snapshot) and often incompressible.
  o.compression = rocksdb::kNoCompression;
  o.keep_log_file_num = 4;
  o.max_log_file_size = 8 << 20;
  rocksdb::BlockBasedTableOptions table;
  table.checksum = rocksdb::kCRC32c;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  o.create_missing_column_families = true;  // "meta" in a version 1 store (migrated by load())
  // The metadata family takes a few bytes per batch and would never fill its memtable: without
  // a bound, it would keep every WAL file alive. Past this many WAL bytes RocksDB flushes it.
  o.max_total_wal_size = 64 << 20;

  io::make_dirs(dir);
  rocksdb::ColumnFamilyOptions meta_options;
  meta_options.compression = rocksdb::kNoCompression;
  meta_options.table_factory = o.table_factory;
  const std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(o)},
      {kMetaFamily, meta_options}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(rocksdb::DBOptions(o), dir, families, &handles, &db);
  if (!s.ok()) {
    return Status::error(fmt::format("log store {}: cannot open: {}", dir, s.ToString()));
  }
  impl->db.reset(db);
  // handles[0] is the default family (owned by the DB); the meta handle is ours to destroy.
  impl->meta_cf = handles[1];
  impl->check(db->DestroyColumnFamilyHandle(handles[0]), "open");
  impl->write_options.sync = options.sync;
  impl->read_options.verify_checksums = true;
  if (Status st = impl->load(); !st) return st;
  return std::unique_ptr<LogStore>(new LogStore(std::move(impl)));
}

raft::InitialState LogStore::initial_state() const {
  std::lock_guard lock(impl_->mu);
  return raft::InitialState{impl_->hard_state, impl_->conf};
}

raft::StorageError LogStore::entries(Index lo, Index hi, std::size_t max_bytes,
                                     std::vector<Entry>& out) const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  if (lo <= m.snapshot.index) return raft::StorageError::kCompacted;
  if (hi > m.last_index + 1) return raft::StorageError::kUnavailable;
  if (lo >= hi) return raft::StorageError::kOk;
  std::size_t bytes = 0;
  Index i = lo;
  const Index cache_first = m.cache.empty() ? hi : std::min(hi, m.cache.front().index);
  if (i < cache_first) {
    if (!m.read_range(i, cache_first, max_bytes, bytes, out)) return raft::StorageError::kOk;
    i = cache_first;
  }
  for (; i < hi; ++i) {
    const Entry* cached = m.cached(i);
    if (cached == nullptr) m.broken(fmt::format("entry cache does not reach index {}", i));
    const Entry& e = *cached;
    bytes += e.data.size();
    if (i > lo && bytes > max_bytes) break;
    out.push_back(e);
  }
  return raft::StorageError::kOk;
}

raft::StorageError LogStore::term(Index i, Term& out) const {
  std::lock_guard lock(impl_->mu);
  if (i < impl_->snapshot.index) return raft::StorageError::kCompacted;
  if (i > impl_->last_index) return raft::StorageError::kUnavailable;
  out = impl_->term_locked(i);
  return raft::StorageError::kOk;
}

Index LogStore::first_index() const {
  std::lock_guard lock(impl_->mu);
  return impl_->first_index();
}

Index LogStore::last_index() const {
  std::lock_guard lock(impl_->mu);
  return impl_->last_index;
}

raft::SnapshotMeta LogStore::snapshot_meta() const {
  std::lock_guard lock(impl_->mu);
  return impl_->snapshot;
}

std::size_t LogStore::snapshot_chunk(std::uint64_t offset, std::size_t max_bytes, std::string& out,
                                     std::uint64_t& total_size) const {
  std::shared_ptr<const SnapshotFile> file;
  {
    std::lock_guard lock(impl_->mu);
    file = impl_->snapshot_file;
  }
  if (!file) {
    total_size = 0;
    return 0;
  }
  total_size = file->file_size();
  return file->read_raw(offset, max_bytes, out);
}

void LogStore::save(const raft::HardState* hard_state, const std::vector<Entry>& entries) {
  Impl& m = *impl_;
  std::lock_guard write_lock(m.write_mu);
  std::unique_lock lock(m.mu);
  rocksdb::WriteBatch batch;
  if (hard_state != nullptr) batch.Put(m.meta_cf, kHardStateKey, encode_hard_state(*hard_state));

  // Entries the snapshot already covers are dropped, as a follower may be sent them again.
  auto first = std::find_if(entries.begin(), entries.end(),
                            [&](const Entry& e) { return e.index > m.snapshot.index; });
  const bool appending = first != entries.end();
  Index new_last = m.last_index;
  Term new_last_term = m.last_term;
  if (appending) {
    const Index from = first->index;
    if (from > m.last_index + 1) {
      m.broken(
          fmt::format("append at index {} leaves a gap after last index {}", from, m.last_index));
    }
    Term prev_term = m.term_locked(from - 1);
    Index expect = from;
    for (auto it = first; it != entries.end(); ++it, ++expect) {
      if (it->index != expect) {
        m.broken(fmt::format("append batch is not contiguous: index {} where {} was expected",
                             it->index, expect));
      }
      // Raft log terms never decrease (a leader only appends entries of its own term).
      if (it->term < prev_term) {
        m.broken(fmt::format("append of index {} with term {} after term {}", it->index, it->term,
                             prev_term));
      }
      prev_term = it->term;
      // Committed entries are never rewritten with different contents (thesis 3.6.3, Leader
      // Completeness); a host that tries has a bug we must not persist.
      if (it->index <= std::min(m.hard_state.commit, m.last_index) &&
          m.term_locked(it->index) != it->term) {
        m.broken(fmt::format("append would overwrite committed entry {} (commit {})", it->index,
                             m.hard_state.commit));
      }
    }
    new_last = entries.back().index;
    new_last_term = entries.back().term;
    // The suffix beyond the new entries conflicts with them (thesis 3.5): delete it in the same
    // batch so no reader ever sees the old tail behind the new entries.
    if (new_last < m.last_index) {
      batch.DeleteRange(entry_key(new_last + 1), entry_key(m.last_index + 1));
    }
    for (auto it = first; it != entries.end(); ++it) {
      const std::string key = entry_key(it->index);
      const std::string header = entry_header(*it, key);
      const rocksdb::Slice key_part(key);
      const rocksdb::Slice value_parts[2] = {slice(header), slice(it->data)};
      batch.Put(rocksdb::SliceParts(&key_part, 1), rocksdb::SliceParts(value_parts, 2));
    }
  }
  if (batch.Count() == 0) return;
  lock.unlock();
  m.write(batch);
  lock.lock();

  if (hard_state != nullptr) m.hard_state = *hard_state;
  if (appending) {
    m.cache_truncate(first->index);
    for (auto it = first; it != entries.end(); ++it) m.cache_append(*it);
    m.last_index = new_last;
    m.last_term = new_last_term;
  }
}

void LogStore::compact(const raft::SnapshotMeta& meta) {
  Impl& m = *impl_;
  std::lock_guard write_lock(m.write_mu);
  std::lock_guard lock(m.mu);
  if (meta.index <= m.snapshot.index) return;
  if (meta.index > m.last_index) {
    m.broken(fmt::format("compact to index {} beyond last index {}", meta.index, m.last_index));
  }
  if (const Term t = m.term_locked(meta.index); t != meta.term) {
    m.broken(fmt::format("compact to index {} term {}, but the log has term {} there", meta.index,
                         meta.term, t));
  }
  // No range tombstone for the dropped entries: nothing reads below the first index (load()
  // starts there), and without tombstones the files of the entry family cover disjoint index
  // ranges, so RocksDB moves them down a level without rewriting them (a trivial move) and
  // DeleteFilesInRange() below drops them whole. A tombstone would make every later file
  // overlap every earlier one and cost a rewrite of every entry in background compaction.
  rocksdb::WriteBatch batch;
  const std::string begin = entry_key(0);
  const std::string end = entry_key(meta.index + 1);
  batch.Put(m.meta_cf, kSnapshotKey, encode_snapshot_meta(meta));
  batch.Put(m.meta_cf, kFirstIndexKey, encode_u64(kFirstIndexKey, meta.index + 1));
  m.write(batch);
  m.snapshot = meta;
  m.cache_drop_prefix(meta.index);
  // Return the space of files wholly below the first index (RocksDB leaves level-0 files to
  // compaction, which moves them down as they are).
  const rocksdb::Slice b(begin);
  const rocksdb::Slice e(end);
  m.check(rocksdb::DeleteFilesInRange(m.db.get(), m.db->DefaultColumnFamily(), &b, &e, false),
          "delete compacted files");
}

void LogStore::install_snapshot(const raft::SnapshotMeta& meta) {
  Impl& m = *impl_;
  std::lock_guard write_lock(m.write_mu);
  std::lock_guard lock(m.mu);
  if (meta.index < m.snapshot.index) {
    m.broken(fmt::format("install of snapshot {} older than the current one {}", meta.index,
                         m.snapshot.index));
  }
  // etcd/raft's rule: a log that already holds the snapshot's last entry keeps what follows it.
  const bool keep_suffix = meta.index <= m.last_index && m.term_locked(meta.index) == meta.term;
  raft::HardState hs = m.hard_state;
  hs.commit = std::max(hs.commit, meta.index);
  rocksdb::WriteBatch batch;
  batch.DeleteRange(entry_key(0), keep_suffix ? entry_key(meta.index + 1) : kEntryEnd);
  batch.Put(m.meta_cf, kSnapshotKey, encode_snapshot_meta(meta));
  batch.Put(m.meta_cf, kFirstIndexKey, encode_u64(kFirstIndexKey, meta.index + 1));
  batch.Put(m.meta_cf, kConfStateKey, encode_conf_state(meta.conf));
  batch.Put(m.meta_cf, kHardStateKey, encode_hard_state(hs));
  m.write(batch);
  m.snapshot = meta;
  m.conf = meta.conf;
  m.hard_state = hs;
  if (keep_suffix) {
    m.cache_drop_prefix(meta.index);
  } else {
    m.cache.clear();
    m.cache_bytes = 0;
    m.last_index = meta.index;
    m.last_term = meta.term;
  }
}

void LogStore::set_conf_state(const raft::ConfState& conf) {
  Impl& m = *impl_;
  std::lock_guard write_lock(m.write_mu);
  std::lock_guard lock(m.mu);
  rocksdb::WriteBatch batch;
  batch.Put(m.meta_cf, kConfStateKey, encode_conf_state(conf));
  m.write(batch);
  m.conf = conf;
}

void LogStore::set_snapshot_file(std::shared_ptr<const SnapshotFile> file) {
  std::shared_ptr<const SnapshotFile> displaced;
  {
    std::lock_guard lock(impl_->mu);
    displaced = std::exchange(impl_->snapshot_file, std::move(file));
  }
  // Usually the last reference to a file SnapshotStore already unlinked: its close() frees
  // every block of it (tens of ms for 100+ MB on ext4), so it happens on a thread of its own,
  // never on the caller's (the event loop's) and never under mu (Redis: BIO_CLOSE_FILE).
  if (displaced) std::thread([f = std::move(displaced)]() mutable { f.reset(); }).detach();
}

raft::HardState LogStore::hard_state() const {
  std::lock_guard lock(impl_->mu);
  return impl_->hard_state;
}

const std::string& LogStore::dir() const {
  return impl_->dir;
}

void LogStore::testing_put_raw(Index index, std::string_view value) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  impl_->check(impl_->db->Put(wo, entry_key(index), slice(value)), "testing_put_raw");
}

std::string LogStore::testing_get_raw(Index index) const {
  std::string value;
  impl_->check(impl_->db->Get(rocksdb::ReadOptions(), entry_key(index), &value), "testing_get_raw");
  return value;
}

void LogStore::testing_flush() {
  impl_->check(impl_->db->Flush(rocksdb::FlushOptions()), "flush");
}

}  // namespace storage
