#include "server/keyspace/snapshot.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>
#include <limits>

namespace raftd {

namespace {

enum RecordType : std::uint8_t { kTypeString = 0, kTypeSmallHash = 1, kTypeBigHash = 2 };

// ------------------------------------------------------------------------------ encoding

class PieceWriter {
 public:
  explicit PieceWriter(const std::function<void(std::string_view)>& sink) : sink_(sink) {
    buf_.reserve(kSnapshotPieceSize + 64);
  }

  void u8(std::uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) buf_.push_back(static_cast<char>(v >> shift));
  }
  void u64(std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) buf_.push_back(static_cast<char>(v >> shift));
  }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    buf_.push_back(static_cast<char>(v));
  }
  void raw(std::string_view bytes) { buf_.append(bytes); }
  // Length-prefixed bytes. A large value goes to the sink as it is, without a copy.
  void bytes(std::string_view b) {
    varint(b.size());
    if (b.size() >= kSnapshotPieceSize / 2) {
      flush();
      sink_(b);
      return;
    }
    if (buf_.size() + b.size() > kSnapshotPieceSize) flush();
    buf_.append(b);
  }
  void flush() {
    if (buf_.empty()) return;
    sink_(buf_);
    buf_.clear();
  }

 private:
  const std::function<void(std::string_view)>& sink_;
  std::string buf_;
};

// ------------------------------------------------------------------------------ decoding

std::uint32_t load_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::uint64_t load_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 48)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\'' && c != '\\') {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  if (s.size() > 48) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

// Reads one item from the bytes available. Every read checks the bytes are there first; when
// they are not, `short_by` records how many bytes from the item's start are needed at least.
class Cursor {
 public:
  Cursor(std::string_view in, std::uint64_t base, std::optional<std::uint64_t> body_size)
      : in_(in), base_(base), body_size_(body_size) {}

  bool u8(std::uint8_t& v) {
    if (!have(1)) return false;
    v = static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }

  // Unsigned LEB128, at most 10 bytes; the 10th may only carry the 64th bit (and so ends it).
  bool varint(std::uint64_t& v, std::string_view what) {
    v = 0;
    for (unsigned i = 0;; ++i) {
      if (!have(i + 1)) return false;
      const auto b = static_cast<unsigned char>(in_[pos_ + i]);
      if (i == 9 && b > 1) {
        error = fmt::format("{} is not a valid varint (more than 64 bits)", what);
        return false;
      }
      v |= std::uint64_t{b & 0x7fu} << (7 * i);
      if ((b & 0x80) == 0) {
        pos_ += i + 1;
        return true;
      }
    }
  }

  bool bytes(std::string_view& out, std::string_view what) {
    std::uint64_t n = 0;
    if (!varint(n, fmt::format("the length of {}", what))) return false;
    if (n > kSnapshotMaxItemLength) {
      error = fmt::format("the length of {} is {}, beyond the limit of {}", what, n,
                          kSnapshotMaxItemLength);
      return false;
    }
    if (body_size_ && n > *body_size_ - std::min(*body_size_, base_ + pos_)) {
      error = fmt::format("the length of {} is {}, past the end of the {}-byte body", what, n,
                          *body_size_);
      return false;
    }
    if (!have(n)) return false;
    out = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  std::size_t pos() const { return pos_; }
  /// Absolute body offset of the cursor.
  std::uint64_t offset() const { return base_ + pos_; }
  std::size_t short_by() const { return short_by_; }

  std::string error;  // set on malformed input

 private:
  bool have(std::uint64_t n) {
    if (in_.size() - pos_ >= n) return true;
    short_by_ = static_cast<std::size_t>(pos_ + n);
    return false;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  std::uint64_t base_;
  std::optional<std::uint64_t> body_size_;
  std::size_t short_by_ = 0;
};

}  // namespace

void write_snapshot_body(const Keyspace& ks, const std::function<void(std::string_view)>& sink) {
  PieceWriter w(sink);
  const std::uint64_t count = ks.size();
  w.raw(kSnapshotBodyMagic);
  w.u32(kSnapshotBodyVersion);
  w.u64(count);
  w.u64(ks.stats().expired_keys);

  std::uint64_t written = 0;
  ks.for_each([&](std::string_view key, const Value& value) {
    ++written;
    if (value.is_string()) {
      w.u8(kTypeString);
    } else {
      w.u8(value.hash().is_big() ? kTypeBigHash : kTypeSmallHash);
    }
    // expire_at is kNoExpire (-1) or a unix time in ms (>= 0): +1 makes both non-negative.
    w.varint(static_cast<std::uint64_t>(value.expire_at() + 1));
    w.bytes(key);
    if (value.is_string()) {
      w.bytes(value.str());
    } else {
      w.varint(value.hash().size());
      value.hash().for_each([&](std::string_view field, std::string_view v) {
        w.bytes(field);
        w.bytes(v);
      });
    }
  });
  if (written != count) {
    fmt::print(stderr, "raftd: keyspace snapshot: iterated {} keys but the keyspace holds {}\n",
               written, count);
    std::abort();
  }
  w.flush();
}

// ------------------------------------------------------------------------------ loading

SnapshotBodyLoader::SnapshotBodyLoader(Keyspace& into, std::optional<std::uint64_t> body_size)
    : ks_(into), body_size_(body_size) {}

void SnapshotBodyLoader::fail(std::string what) {
  status_ = Status::error(fmt::format("keyspace snapshot body: {}", what));
}

Status SnapshotBodyLoader::feed(std::string_view chunk) {
  while (status_.is_ok() && !chunk.empty()) {
    if (pending_.empty()) {
      const std::size_t used = consume(chunk);
      if (!status_.is_ok()) break;
      // What is left is the start of an item that continues in a later chunk.
      pending_.assign(chunk.substr(used));
      break;
    }
    // Complete the split item with as few bytes as it needs, then go back to parsing the rest
    // of the chunk in place. need_ is exact once the item's lengths are known, and at most a
    // few bytes short while a length itself is split.
    const std::size_t want = need_ > pending_.size() ? need_ - pending_.size() : 1;
    const std::size_t take = std::min(want, chunk.size());
    pending_.append(chunk.substr(0, take));
    chunk.remove_prefix(take);
    if (pending_.size() < need_) continue;
    const std::size_t used = consume(pending_);
    if (!status_.is_ok()) break;
    pending_.erase(0, used);
  }
  return status_;
}

Status SnapshotBodyLoader::finish() {
  if (!status_.is_ok()) return status_;
  const std::uint64_t end = consumed_ + pending_.size();
  switch (stage_) {
    case Stage::kHeader:
      fail(fmt::format("the body is {} bytes, shorter than its {}-byte header", end,
                       kSnapshotBodyHeaderSize));
      break;
    case Stage::kKey:
      fail(fmt::format("the body ends after {} bytes, within key {} of {}", end, keys_done_ + 1,
                       key_count_));
      break;
    case Stage::kField:
      fail(
          fmt::format("the body ends after {} bytes, within field {} of {} of hash '{}' "
                      "(key {} of {})",
                      end, fields_total_ - fields_left_ + 1, fields_total_, printable(hash_.key()),
                      keys_done_, key_count_));
      break;
    case Stage::kEnd:
      if (body_size_ && end != *body_size_) {
        fail(fmt::format("the body was announced as {} bytes but {} arrived", *body_size_, end));
      }
      break;
  }
  return status_;
}

std::size_t SnapshotBodyLoader::consume(std::string_view data) {
  std::size_t pos = 0;
  while (pos < data.size()) {
    Step step = Step::kError;
    const std::size_t start = pos;
    switch (stage_) {
      case Stage::kHeader:
        step = parse_header(data, pos);
        break;
      case Stage::kKey:
        step = parse_key(data, pos);
        break;
      case Stage::kField:
        step = parse_field(data, pos);
        break;
      case Stage::kEnd:
        fail(fmt::format("{} unexpected bytes at offset {}, after the last of {} keys",
                         data.size() - pos, consumed_, key_count_));
        return pos;
    }
    if (step == Step::kError) return start;
    if (step == Step::kNeedMore) {
      pos = start;
      break;
    }
    consumed_ += pos - start;
  }
  return pos;
}

SnapshotBodyLoader::Step SnapshotBodyLoader::parse_header(std::string_view data, std::size_t& pos) {
  const std::string_view in = data.substr(pos);
  if (in.size() < kSnapshotBodyHeaderSize) {
    // A wrong magic is worth reporting as soon as its bytes are in.
    const std::size_t n = std::min(in.size(), kSnapshotBodyMagic.size());
    if (in.substr(0, n) != kSnapshotBodyMagic.substr(0, n)) {
      fail("not a raftd keyspace snapshot (bad magic)");
      return Step::kError;
    }
    need_ = kSnapshotBodyHeaderSize;
    return Step::kNeedMore;
  }
  if (in.substr(0, kSnapshotBodyMagic.size()) != kSnapshotBodyMagic) {
    fail("not a raftd keyspace snapshot (bad magic)");
    return Step::kError;
  }
  const std::uint32_t version = load_u32(in.data() + 8);
  if (version != kSnapshotBodyVersion) {
    fail(fmt::format("format version {} is not one this raftd reads (it reads version {})", version,
                     kSnapshotBodyVersion));
    return Step::kError;
  }
  key_count_ = load_u64(in.data() + 12);
  const std::uint64_t expired_keys = load_u64(in.data() + 20);
  // The smallest record (an empty string under an empty key) takes 4 bytes.
  if (body_size_ &&
      key_count_ >
          (*body_size_ - std::min<std::uint64_t>(*body_size_, kSnapshotBodyHeaderSize)) / 4) {
    fail(fmt::format("a key count of {} cannot fit in a {}-byte body", key_count_, *body_size_));
    return Step::kError;
  }
  ks_.restore_expired_keys(expired_keys);
  pos += kSnapshotBodyHeaderSize;
  stage_ = key_count_ == 0 ? Stage::kEnd : Stage::kKey;
  return Step::kDone;
}

SnapshotBodyLoader::Step SnapshotBodyLoader::parse_key(std::string_view data, std::size_t& pos) {
  const std::uint64_t n = keys_done_ + 1;
  Cursor c(data.substr(pos), consumed_, body_size_);
  std::uint8_t type = 0;
  std::uint64_t expiry = 0;
  std::string_view key;
  std::string_view value;
  std::uint64_t fields = 0;
  bool ok = c.u8(type);
  if (ok && type != kTypeString && type != kTypeSmallHash && type != kTypeBigHash) {
    fail(fmt::format("key {} of {} at offset {} has unknown type {}", n, key_count_, consumed_,
                     type));
    return Step::kError;
  }
  ok = ok && c.varint(expiry, "the expiry") && c.bytes(key, "the key");
  if (ok && type == kTypeString) ok = c.bytes(value, "the value");
  if (ok && type != kTypeString) ok = c.varint(fields, "the field count");
  if (!ok) {
    if (!c.error.empty()) {
      fail(fmt::format("key {} of {} at offset {}: {}", n, key_count_, consumed_, c.error));
      return Step::kError;
    }
    need_ = c.short_by();
    return Step::kNeedMore;
  }
  // expire_at + 1 must fit an int64.
  if (expiry > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    fail(fmt::format("key {} of {} ('{}') at offset {} has an impossible expiry field {}", n,
                     key_count_, printable(key), consumed_, expiry));
    return Step::kError;
  }
  const std::int64_t expire_at = expiry == 0 ? kNoExpire : static_cast<std::int64_t>(expiry - 1);
  // A stored expiry is kNoExpire or >= 0, so no key counts as expired at INT64_MIN: peek() is
  // a side-effect-free "is the name taken".
  if (ks_.peek(key, std::numeric_limits<std::int64_t>::min()) != nullptr) {
    fail(fmt::format("key {} of {} at offset {}: '{}' appears twice", n, key_count_, consumed_,
                     printable(key)));
    return Step::kError;
  }
  if (type == kTypeString) {
    ks_.insert_string(key, value, expire_at);
    ++keys_done_;
    stage_ = keys_done_ == key_count_ ? Stage::kEnd : Stage::kKey;
  } else {
    if (body_size_ && fields > (*body_size_ - std::min(*body_size_, c.offset())) / 2) {
      fail(
          fmt::format("key {} of {} ('{}') at offset {}: a field count of {} cannot fit in the "
                      "rest of the body",
                      n, key_count_, printable(key), consumed_, fields));
      return Step::kError;
    }
    hash_ = ks_.insert_hash(key);
    if (expire_at != kNoExpire) ks_.set_expire(hash_, expire_at);
    hash_big_ = type == kTypeBigHash;
    if (hash_big_) ks_.hash_make_big(hash_);
    fields_total_ = fields;
    fields_left_ = fields;
    if (fields == 0) {
      ++keys_done_;
      stage_ = keys_done_ == key_count_ ? Stage::kEnd : Stage::kKey;
    } else {
      stage_ = Stage::kField;
    }
  }
  pos += c.pos();
  return Step::kDone;
}

SnapshotBodyLoader::Step SnapshotBodyLoader::parse_field(std::string_view data, std::size_t& pos) {
  Cursor c(data.substr(pos), consumed_, body_size_);
  std::string_view field;
  std::string_view value;
  if (!c.bytes(field, "a hash field") || !c.bytes(value, "a hash value")) {
    if (!c.error.empty()) {
      fail(fmt::format("hash '{}' (key {} of {}) at offset {}: {}", printable(hash_.key()),
                       keys_done_ + 1, key_count_, consumed_, c.error));
      return Step::kError;
    }
    need_ = c.short_by();
    return Step::kNeedMore;
  }
  if (!ks_.hash_set(hash_, field, value)) {
    fail(fmt::format("hash '{}' (key {} of {}) at offset {}: field '{}' appears twice",
                     printable(hash_.key()), keys_done_ + 1, key_count_, consumed_,
                     printable(field)));
    return Step::kError;
  }
  pos += c.pos();
  if (--fields_left_ > 0) return Step::kDone;
  // A small-form hash that had to convert while loading (too many or too long fields) was not
  // written by a raftd: the form decides iteration order, so it must come back as it was.
  if (hash_->hash().is_big() != hash_big_) {
    fail(
        fmt::format("hash '{}' (key {} of {}) is recorded in its {} form but its {} fields do not "
                    "fit that form",
                    printable(hash_.key()), keys_done_ + 1, key_count_, hash_big_ ? "big" : "small",
                    fields_total_));
    return Step::kError;
  }
  ++keys_done_;
  stage_ = keys_done_ == key_count_ ? Stage::kEnd : Stage::kKey;
  return Step::kDone;
}

}  // namespace raftd
