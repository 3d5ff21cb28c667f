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

// 1: one record per entry ('e' + index), metadata keys beside them in the default family;
// 2: the same entries, metadata in a column family of its own (a development step, never
//    released, but main held it for a day);
// 3: one record per saved batch ('b' + first index). Versions 1 and 2 are migrated at open.
constexpr std::uint32_t kFormatVersion = 3;
const std::string kMetaFamily = "meta";
// Format 3: a saved batch of entries is one record, keyed by its first index.
constexpr char kRecordPrefix = 'b';
constexpr std::size_t kRecordKeySize = 9;
constexpr std::size_t kRecordHeaderSize = 4 + 4;     // crc, count
constexpr std::size_t kEntryHeaderSize = 8 + 1 + 4;  // term, type, length
// Formats 1 and 2: one record per entry.
constexpr char kV1EntryPrefix = 'e';
constexpr std::size_t kV1EntryKeySize = 9;
constexpr std::size_t kV1EntryHeaderSize = 4 + 8 + 1;  // crc, term, type
// Migrated entries are regrouped into records of at most this many (and max_record_bytes).
constexpr std::size_t kMigratedRecordEntries = 1024;

const std::string kVersionKey = "m:version";
const std::string kHardStateKey = "m:hard_state";
const std::string kConfStateKey = "m:conf_state";
const std::string kSnapshotKey = "m:snapshot";
const std::string kFirstIndexKey = "m:first_index";
// Bounds of the record keys: every record key sorts in [kRecordBegin, kRecordEnd).
const std::string kRecordBegin(1, kRecordPrefix);
const std::string kRecordEnd(1, kRecordPrefix + 1);

std::string record_key(Index first) {
  std::string k;
  k.reserve(kRecordKeySize);
  k.push_back(kRecordPrefix);
  codec::put_u64(k, first);
  return k;
}

Index record_first(const rocksdb::Slice& key) {
  return codec::load_u64(key.data() + 1);
}

bool is_record_key(const rocksdb::Slice& key) {
  return key.size() == kRecordKeySize && key[0] == kRecordPrefix;
}

// One record: CRC32C(4) | count(4) | count x (term(8) | type(1) | length(4) | data). The CRC
// covers the key and everything after it, so a record under the wrong key is caught too.
template <typename It>
std::string encode_record(std::string_view key, It begin, It end) {
  std::size_t size = kRecordHeaderSize;
  std::uint32_t count = 0;
  for (It it = begin; it != end; ++it, ++count) size += kEntryHeaderSize + it->data.size();
  std::string v;
  v.reserve(size);
  v.resize(4);
  codec::put_u32(v, count);
  for (It it = begin; it != end; ++it) {
    codec::put_u64(v, it->term);
    codec::put_u8(v, static_cast<std::uint8_t>(it->type));
    codec::put_u32(v, static_cast<std::uint32_t>(it->data.size()));
    v.append(it->data);
  }
  std::string crc;
  codec::put_u32(crc, crc32c_extend(crc32c(key), std::string_view(v).substr(4)));
  v.replace(0, 4, crc);
  return v;
}

// Adds the contiguous entries [begin, end) to `batch` as records: one, unless they hold more
// than `max_bytes` (an entry alone may be bigger) or more than `max_entries`.
template <typename It>
rocksdb::Status put_records(rocksdb::WriteBatch& batch, It begin, It end, std::size_t max_bytes,
                            std::size_t max_entries = SIZE_MAX) {
  auto put = [&](It from, It to) {
    const std::string key = record_key(from->index);
    return batch.Put(key, encode_record(key, from, to));
  };
  It from = begin;
  std::size_t bytes = 0;
  for (It it = begin; it != end; ++it) {
    const std::size_t size = kEntryHeaderSize + it->data.size();
    if (it != from &&
        (bytes + size > max_bytes || static_cast<std::size_t>(it - from) == max_entries)) {
      if (rocksdb::Status st = put(from, it); !st.ok()) return st;
      from = it;
      bytes = 0;
    }
    bytes += size;
  }
  return from == end ? rocksdb::Status::OK() : put(from, end);
}

// An entry inside a record's value (which must outlive it).
struct EntryView {
  Term term = 0;
  raft::EntryType type = raft::EntryType::kNormal;
  std::string_view data;
};

// Checks a record and lists its entries; false with `why` set when it fails its checks.
bool parse_record(std::string_view key, std::string_view value, std::vector<EntryView>& out,
                  std::string& why) {
  out.clear();
  if (value.size() < kRecordHeaderSize) {
    why = fmt::format("record too short ({} bytes)", value.size());
    return false;
  }
  const std::uint32_t stored = codec::load_u32(value.data());
  const std::uint32_t actual = crc32c_extend(crc32c(key), value.substr(4));
  if (stored != actual) {
    why = fmt::format("CRC32C mismatch (stored {:08x}, computed {:08x})", stored, actual);
    return false;
  }
  codec::Reader r(value.substr(4));
  const std::uint32_t count = r.u32();
  if (count == 0 || count > r.remaining() / kEntryHeaderSize) {
    why = fmt::format("bad entry count {}", count);
    return false;
  }
  out.reserve(count);
  for (std::uint32_t n = 0; n < count; ++n) {
    EntryView e;
    e.term = r.u64();
    const std::uint8_t type = r.u8();
    e.data = r.bytes(r.u32());
    if (r.failed()) {
      why = fmt::format("entry {} of {} runs past the end of the record", n + 1, count);
      return false;
    }
    if (type > static_cast<std::uint8_t>(raft::EntryType::kConfChange)) {
      why = fmt::format("unknown entry type {}", type);
      return false;
    }
    e.type = static_cast<raft::EntryType>(type);
    out.push_back(e);
  }
  if (!r.done()) {
    why = fmt::format("{} stray bytes after {} entries", r.remaining(), count);
    return false;
  }
  return true;
}

Entry to_entry(Index index, const EntryView& v) {
  return Entry{v.term, index, v.type, std::string(v.data)};
}

// Walks the records in key order. next() copies and checks the record under the iterator and
// moves past it: its entries are `views`, indexes [first, end). A record ends where the next
// one begins: a later record that starts inside it replaced its tail (a follower's
// conflicting suffix).
struct RecordWalk {
  enum class Step { kOk, kMalformedKey, kDamaged, kReadError };

  std::unique_ptr<rocksdb::Iterator> it;
  std::string key;
  std::string value;
  std::vector<EntryView> views;  // point into `value`
  Index first = 0;
  Index end = 0;
  std::string why;  // kDamaged: what is wrong with the record at `first`

  // kMalformedKey leaves the iterator at the bad key, kReadError at the failed step.
  Step next() {
    if (!is_record_key(it->key())) return Step::kMalformedKey;
    key.assign(it->key().data(), it->key().size());
    value.assign(it->value().data(), it->value().size());
    first = record_first(key);
    if (!parse_record(key, value, views, why)) return Step::kDamaged;
    end = first + views.size();
    it->Next();
    if (it->Valid()) {
      if (!is_record_key(it->key())) return Step::kMalformedKey;
      end = std::min(end, record_first(it->key()));
    } else if (!it->status().ok()) {
      return Step::kReadError;
    }
    return Step::kOk;
  }
};

// Decodes a format 1 entry record; nullopt with `why` set when it fails its checks.
std::optional<Entry> decode_v1_entry(Index index, std::string_view key, std::string_view value,
                                     std::string& why) {
  if (value.size() < kV1EntryHeaderSize) {
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
  return Entry{codec::load_u64(value.data() + 4), index, static_cast<raft::EntryType>(type),
               std::string(value.substr(kV1EntryHeaderSize))};
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
  const rocksdb::Slice record_lower{kRecordBegin};
  const rocksdb::Slice record_upper{kRecordEnd};

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

  // An iterator over the records, positioned by the caller. Its bounds live in the Impl.
  std::unique_ptr<rocksdb::Iterator> records(bool fill_cache = true) const {
    rocksdb::ReadOptions ro = read_options;
    ro.iterate_lower_bound = &record_lower;
    ro.iterate_upper_bound = &record_upper;
    ro.fill_cache = fill_cache;
    return std::unique_ptr<rocksdb::Iterator>(db->NewIterator(ro));
  }

  // Calls visit(index, view) for the entries lo, lo+1, ... below hi, in order, until it returns
  // false. A record's entries run until the next record's first index: a later record that
  // starts inside an earlier one replaced that one's tail (a follower's conflicting suffix).
  // Aborts if an entry is missing or a record is damaged.
  template <typename Visit>
  void visit_entries(Index lo, Index hi, Visit visit) const {
    RecordWalk w{records()};
    w.it->SeekForPrev(record_key(lo));
    Index i = lo;
    while (i < hi) {
      if (!w.it->Valid()) {
        check(w.it->status(), fmt::format("read entries from {}", lo));
        corrupt(i, "record missing");
      }
      switch (w.next()) {
        case RecordWalk::Step::kOk:
          break;
        case RecordWalk::Step::kMalformedKey:
          corrupt(i, "malformed record key");
        case RecordWalk::Step::kDamaged:
          corrupt(w.first, w.why);
        case RecordWalk::Step::kReadError:
          check(w.it->status(), fmt::format("read entries from {}", lo));
      }
      if (w.first > i || w.end <= i) corrupt(i, "record missing");
      for (; i < w.end && i < hi; ++i) {
        if (!visit(i, w.views[i - w.first])) return;
      }
    }
  }

  // Reads one entry from RocksDB (not the cache); aborts if it is missing or damaged.
  Entry read_entry(Index i) const {
    Entry out;
    visit_entries(i, i + 1, [&](Index index, const EntryView& v) {
      out = to_entry(index, v);
      return false;
    });
    return out;
  }

  // Appends entries [lo, hi) from RocksDB to `out` within the byte budget (the entry at lo
  // always fits). Returns false when the budget stopped it early.
  bool read_range(Index lo, Index hi, std::size_t max_bytes, std::size_t& bytes,
                  std::vector<Entry>& out) const {
    bool complete = true;
    visit_entries(lo, hi, [&](Index i, const EntryView& v) {
      bytes += v.data.size();
      if (i > lo && bytes > max_bytes) {
        complete = false;
        return false;
      }
      out.push_back(to_entry(i, v));
      return true;
    });
    return complete;
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

  // Returns the space of the files that hold only entries below `first` (the new first index).
  // Level-0 files stay until RocksDB's compaction has moved them down (without a rewrite: their
  // index ranges are disjoint).
  void delete_files_below(Index first) {
    // Files wholly before the record that holds `first`: every record in them ends before it.
    std::unique_ptr<rocksdb::Iterator> it = records(false);
    it->SeekForPrev(record_key(first));
    if (!it->Valid()) {
      check(it->status(), "find the first record");
      return;
    }
    const std::string end = it->key().ToString();
    const rocksdb::Slice b(kRecordBegin);
    const rocksdb::Slice e(end);
    check(rocksdb::DeleteFilesInRange(db.get(), db->DefaultColumnFamily(), &b, &e, false),
          "delete compacted files");
  }

  // Loads and checks everything at open. Returns an error naming what is wrong.
  Status load();
  Status migrate(std::uint64_t version);
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

Status LogStore::Impl::migrate(std::uint64_t version) {
  // Versions 1 and 2 stored one record per entry; version 1 also kept the metadata beside
  // them. In one batch: the metadata moves to its family as it is (its CRCs cover only key name
  // and payload), the entries are checked and regrouped into records, and the version becomes
  // the current one. A crash before the batch is durable leaves the old store as it was.
  rocksdb::WriteBatch b;
  auto fail = [&](const rocksdb::Status& st) {
    return Status::error(
        fmt::format("log store {}: migrating format {}: {}", dir, version, st.ToString()));
  };
  rocksdb::ColumnFamilyHandle* old_meta = version == 1 ? db->DefaultColumnFamily() : meta_cf;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  if (version == 1) {
    for (it->Seek("m:"); it->Valid() && it->key().starts_with("m:"); it->Next()) {
      if (it->key() == rocksdb::Slice(kVersionKey)) continue;
      if (auto st = b.Put(meta_cf, it->key(), it->value()); !st.ok()) return fail(st);
      if (auto st = b.Delete(it->key()); !st.ok()) return fail(st);
    }
    if (!it->status().ok()) return fail(it->status());
  }
  // Compacted entries were hidden by a range tombstone (version 1), which file deletion may
  // undo, or by nothing at all (version 2): entries below the first index are not carried over.
  Index first = 1;
  std::optional<std::string> p;
  if (Status st = read_meta(*db, old_meta, dir, kSnapshotKey, p); !st) return st;
  if (p) {
    codec::Reader r(*p);
    first = r.u64() + 1;
    if (r.failed()) return bad_meta(dir, kSnapshotKey);
  }
  std::vector<Entry> run;  // contiguous entries not added yet
  auto flush_run = [&] {
    rocksdb::Status st =
        put_records(b, run.begin(), run.end(), options.max_record_bytes, kMigratedRecordEntries);
    run.clear();
    return st;
  };
  const std::string prefix(1, kV1EntryPrefix);
  std::string from_key = prefix;
  codec::put_u64(from_key, first);
  for (it->Seek(from_key); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (k.size() != kV1EntryKeySize) {
      return Status::error(
          fmt::format("log store {}: malformed format {} entry key", dir, version));
    }
    const Index i = codec::load_u64(k.data() + 1);
    std::string why;
    auto e = decode_v1_entry(i, std::string_view(k.data(), k.size()),
                             std::string_view(it->value().data(), it->value().size()), why);
    if (!e) {
      return Status::error(fmt::format("log store {}: corrupt entry at index {}: {}", dir, i, why));
    }
    if (!run.empty() && run.back().index + 1 != i) {
      if (auto st = flush_run(); !st.ok()) return fail(st);
    }
    run.push_back(std::move(*e));
  }
  if (!it->status().ok()) return fail(it->status());
  if (auto st = flush_run(); !st.ok()) return fail(st);
  if (auto st = b.DeleteRange(prefix, std::string(1, kV1EntryPrefix + 1)); !st.ok()) {
    return fail(st);
  }
  if (version == 1) {
    if (auto st = b.Delete(kVersionKey); !st.ok()) return fail(st);
  }
  if (auto st = b.Put(meta_cf, kVersionKey, encode_u64(kVersionKey, kFormatVersion)); !st.ok()) {
    return fail(st);
  }
  it.reset();
  write(b);
  // The old keys and the tombstone over them would make the next files overlap every later
  // one (no whole-file deletion until compaction got to them): compact them away once now.
  check(
      db->CompactRange(rocksdb::CompactRangeOptions(), db->DefaultColumnFamily(), nullptr, nullptr),
      "compact after migration");
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
      if (Status s = migrate(1); !s) return s;
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
    if (v == 2) {
      if (Status s = migrate(2); !s) return s;
      return load();
    }
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

  // Scan the records from the one holding the first index on. Records wholly below it are
  // left from before a compaction (compact() writes no tombstone) and are not looked at; a
  // record's entries end where the next record begins. Without verify_on_open only the first
  // and the last record are read.
  const Index first = snapshot.index + 1;
  last_index = snapshot.index;
  last_term = snapshot.term;
  auto fail_at = [&](Index i, const std::string& why) {
    return Status::error(fmt::format("log store {}: corrupt entry at index {}: {}", dir, i, why));
  };
  auto malformed = [&](const rocksdb::Slice& k) {
    return Status::error(
        fmt::format("log store {}: malformed record key of {} bytes", dir, k.size()));
  };
  RecordWalk w{records(false)};
  auto read_error = [&] {
    return Status::error(
        fmt::format("log store {}: reading entries: {}", dir, w.it->status().ToString()));
  };
  auto step = [&]() -> Status {
    switch (w.next()) {
      case RecordWalk::Step::kOk:
        return Status::ok();
      case RecordWalk::Step::kMalformedKey:
        return malformed(w.it->key());
      case RecordWalk::Step::kDamaged:
        return fail_at(w.first, w.why);
      case RecordWalk::Step::kReadError:
        break;
    }
    return read_error();
  };
  w.it->SeekForPrev(record_key(first));
  if (!w.it->Valid()) {
    if (!w.it->status().ok()) return read_error();
    w.it->Seek(record_key(first));
  }
  while (w.it->Valid()) {
    if (Status st = step(); !st) return st;
    if (w.end <= first) continue;  // wholly below the first index
    const Index from = std::max(w.first, first);
    if (from != last_index + 1) {
      return Status::error(fmt::format("log store {}: entries missing: expected index {}, found {}",
                                       dir, last_index + 1, from));
    }
    for (Index i = from; i < w.end; ++i) {
      const Term t = w.views[i - w.first].term;
      if (t < last_term) {
        return fail_at(i, fmt::format("term {} is below the previous term {}", t, last_term));
      }
      last_index = i;
      last_term = t;
    }
    if (!options.verify_on_open) {
      // The last record ends the log (nothing follows it to cut it short).
      w.it->SeekToLast();
      if (w.it->Valid()) {
        if (Status st = step(); !st) return st;
        if (w.end - 1 > last_index) {
          last_index = w.end - 1;
          last_term = w.views.back().term;
        }
      }
      break;
    }
  }
  if (!w.it->status().ok()) return read_error();
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
  o.max_total_wal_size = std::max<std::uint64_t>(64 << 20, 4 * options.write_buffer_bytes);

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
    // Entries from `from` on are replaced (thesis 3.5: the old suffix conflicts with them).
    // Records that start there are deleted in the same batch; a record that starts before
    // `from` ends where the new one begins, so its old tail is never read again.
    if (from <= m.last_index) {
      m.check(batch.DeleteRange(record_key(from), record_key(m.last_index + 1)), "delete range");
    }
    // Usually one record; a batch of huge values is cut (Options::max_record_bytes).
    m.check(put_records(batch, first, entries.end(), m.options.max_record_bytes), "add record");
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
  batch.Put(m.meta_cf, kSnapshotKey, encode_snapshot_meta(meta));
  batch.Put(m.meta_cf, kFirstIndexKey, encode_u64(kFirstIndexKey, meta.index + 1));
  m.write(batch);
  m.snapshot = meta;
  m.cache_drop_prefix(meta.index);
  m.delete_files_below(meta.index + 1);
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
  // A kept suffix is read from the first index on, as after compact(); otherwise every record
  // goes.
  if (!keep_suffix) batch.DeleteRange(kRecordBegin, kRecordEnd);
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
    m.delete_files_below(meta.index + 1);
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
  impl_->check(impl_->db->Put(wo, record_key(index), slice(value)), "testing_put_raw");
}

std::string LogStore::testing_get_raw(Index index) const {
  std::string value;
  const rocksdb::Status st = impl_->db->Get(rocksdb::ReadOptions(), record_key(index), &value);
  if (st.IsNotFound()) return {};
  impl_->check(st, "testing_get_raw");
  return value;
}

void LogStore::testing_flush() {
  impl_->check(impl_->db->Flush(rocksdb::FlushOptions()), "flush");
}

}  // namespace storage
