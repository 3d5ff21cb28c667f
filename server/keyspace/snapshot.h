// The keyspace as a snapshot body: the bytes a snapshot file (storage/snapshot_file.h) carries
// after its own header. Written as a stream of pieces, so the whole body never sits in memory,
// and read back by an incremental decoder that accepts the body cut into arbitrary chunks.
//
// Everything replicas must agree on goes in: every stored key (logically expired ones too: only
// a replicated REAPEXPIRED entry or a write at a later timestamp removes them, so they are state),
// its absolute expiry, the value with its hash form, and the expired_keys counter. Node-local
// read bookkeeping (hits, misses, expired candidates, the sweep position) stays out.
//
// Body format version 1. Fixed-width integers are big-endian; "varint" is unsigned LEB128
// (7 bits per byte, low group first, at most 10 bytes, no bits beyond 64):
//   magic          8  "RAFTDKV\0"
//   version        4  1
//   key count      8
//   expired_keys   8  Keyspace stats counter
//   then `key count` records, in Keyspace::for_each order (deterministic, so replicas holding
//   the same state write the same bytes):
//     type         1  0 string, 1 hash in its small (insertion-ordered) form, 2 hash in its big
//                     (sorted) form
//     expiry       varint  expire_at + 1 (0: no expiry; else absolute unix ms + 1)
//     key          varint length, bytes
//     string:      varint length, bytes
//     hash:        varint field count, then per field: varint length, bytes, varint length, bytes
//                  (in HashValue::for_each order, which the small form must keep)
//   and nothing after the last record.
// A future version changes the version field; a reader refuses versions it does not know.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "server/keyspace/keyspace.h"
#include "server/status.h"

namespace raftd {

inline constexpr std::string_view kSnapshotBodyMagic{"RAFTDKV\0", 8};
inline constexpr std::uint32_t kSnapshotBodyVersion = 1;
/// Size of the body header (magic, version, key count, expired_keys).
inline constexpr std::size_t kSnapshotBodyHeaderSize = 28;
/// Pieces handed to the sink are about this big (a value larger than half of it goes alone).
inline constexpr std::size_t kSnapshotPieceSize = 256 * 1024;
/// Longest key, field or value a body may hold. Well above the largest a command can build (512
/// MB strings) so a raised limit elsewhere never makes a snapshot unreadable; a length beyond it
/// is corruption, reported before anything is buffered for it.
inline constexpr std::uint64_t kSnapshotMaxItemLength = std::uint64_t{4} << 30;

/// Serializes `ks` as a version-1 body, handing it to `sink` piece by piece (views valid only
/// during the call). Runs in a forked child as well: it allocates nothing beyond one piece buffer
/// and keyspace iteration, and touches nothing but `ks`.
void write_snapshot_body(const Keyspace& ks, const std::function<void(std::string_view)>& sink);

/// Rebuilds a keyspace from a body fed in chunks of any size (1 byte, or the whole body). Build
/// into a fresh Keyspace and discard it if anything reports an error: on error the keyspace holds
/// a partial state. Malformed input of any kind is an error Status naming what is wrong and the
/// byte offset in the body; never an abort. The caller's own end-to-end check (the snapshot file's
/// body CRC) must pass as well before the result is adopted.
class SnapshotBodyLoader {
 public:
  /// `body_size`, when known (SnapshotFile::body_size()), lets a length that runs past the end
  /// be reported at once instead of when the body ends.
  explicit SnapshotBodyLoader(Keyspace& into, std::optional<std::uint64_t> body_size = {});
  SnapshotBodyLoader(const SnapshotBodyLoader&) = delete;
  SnapshotBodyLoader& operator=(const SnapshotBodyLoader&) = delete;

  /// Consumes the next chunk. Ok while all is well; the error otherwise (and from then on every
  /// call returns it again).
  Status feed(std::string_view chunk);
  /// The body ended: ok if it was complete (header, every record, nothing missing).
  Status finish();

  /// Keys inserted so far; the header's key count once the header was read (else 0).
  std::uint64_t keys_loaded() const { return keys_done_; }
  std::uint64_t key_count() const { return key_count_; }
  /// Body bytes consumed so far.
  std::uint64_t offset() const { return consumed_; }

 private:
  enum class Stage { kHeader, kKey, kField, kEnd };
  enum class Step { kDone, kNeedMore, kError };

  // Parses as many items as `data` holds completely; returns the bytes used. Sets need_ when it
  // stopped at an incomplete item, error_ on malformed input.
  std::size_t consume(std::string_view data);
  Step parse_header(std::string_view data, std::size_t& pos);
  Step parse_key(std::string_view data, std::size_t& pos);
  Step parse_field(std::string_view data, std::size_t& pos);
  /// Records the error in status_ (the caller stops at once: there is only ever one).
  void fail(std::string what);

  Keyspace& ks_;
  std::optional<std::uint64_t> body_size_;
  Stage stage_ = Stage::kHeader;
  std::uint64_t key_count_ = 0;
  std::uint64_t keys_done_ = 0;
  // The hash whose fields are arriving.
  Keyspace::Ref hash_;
  bool hash_big_ = false;
  std::uint64_t fields_left_ = 0;
  std::uint64_t fields_total_ = 0;
  // Bytes of an item split across chunks; need_ is how many it takes before parsing again, so
  // a large value arriving in many chunks is parsed once, not once per chunk.
  std::string pending_;
  std::size_t need_ = 0;
  std::uint64_t consumed_ = 0;  // body offset of the start of pending_ (or of the next chunk)
  Status status_;               // ok until the first error, then that error for good
};

}  // namespace raftd
