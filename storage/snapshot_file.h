// Snapshot files: one immutable, checksummed file per snapshot, streamed in and out in chunks so
// that a large state machine is never held twice in memory.
//
// Format version 1 (integers big-endian):
//   offset  size
//        0     8  magic "RAFTDSNP"
//        8     4  format version (1)
//       12     4  header length H (from offset 0 through the header CRC)
//       16     8  last included index
//       24     8  last included term
//       32     8  body length B
//       40     4  CRC32C of the body
//       44     .  ConfState: voter count + ids, learner count + ids (u32 + u64 each)
//        .     .  membership context: u32 length + bytes (opaque to us; raftd keeps addresses)
//      H-4     4  CRC32C of bytes [0, H-4)
//        H     B  body (the host's serialized state machine)
// The file is exactly H + B bytes. The header CRC covers the body CRC, so together they check
// every byte; the header alone can be read and checked without reading the body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "raft/types.h"
#include "storage/io.h"
#include "storage/status.h"

namespace storage {

/// What a snapshot file says about itself besides its body.
struct SnapshotHeader {
  raft::SnapshotMeta meta;
  /// Opaque to storage: the host's membership context (raftd: the members' addresses).
  std::string context;

  bool operator==(const SnapshotHeader&) const = default;
};

class SnapshotFile;

/// Yields a snapshot's body in chunks and checks its CRC at the end. The caller must build into
/// something it can throw away, and only adopt it once next() reported the end (false): until
/// then the bytes are unverified.
class SnapshotBodyReader {
 public:
  explicit SnapshotBodyReader(std::shared_ptr<const SnapshotFile> file,
                              std::size_t chunk_size = 1 << 20);

  /// Replaces `chunk` with the next piece of the body and returns true; returns false at the end
  /// once the checksum matched; returns an error naming the file if it did not (or the file is
  /// shorter than its header says).
  Result<bool> next(std::string& chunk);
  std::uint64_t offset() const { return offset_; }

 private:
  std::shared_ptr<const SnapshotFile> file_;
  std::size_t chunk_size_;
  std::uint64_t offset_ = 0;
  std::uint32_t crc_ = 0;
  bool done_ = false;
};

/// An open snapshot file whose header has been checked. Files are never modified once renamed
/// into place, and the descriptor stays open, so reads keep working if the file is pruned.
class SnapshotFile : public std::enable_shared_from_this<SnapshotFile> {
 public:
  /// Opens `path` and checks magic, version, header CRC and that the file size matches the
  /// header. Does not read the body: call verify() (or read it through a SnapshotBodyReader).
  static Result<std::shared_ptr<SnapshotFile>> open(const std::string& path);

  const std::string& path() const { return fd_.path(); }
  const SnapshotHeader& header() const { return header_; }
  const raft::SnapshotMeta& meta() const { return header_.meta; }
  std::uint64_t body_size() const { return body_size_; }
  std::uint64_t body_offset() const { return header_size_; }
  /// Size of the whole file image (header + body).
  std::uint64_t file_size() const { return header_size_ + body_size_; }

  /// Reads the whole body and checks its CRC (a verify-only pass).
  Status verify() const;

  SnapshotBodyReader body_reader(std::size_t chunk_size = 1 << 20) const {
    return SnapshotBodyReader(shared_from_this(), chunk_size);
  }

  /// Appends up to `max_bytes` of the raw file image (header and body) from `offset` to `out`
  /// and returns how many; 0 at the end. This is what a leader streams in InstallSnapshot: the
  /// follower receives our header and CRCs too, so it checks the leader's checksums end to end.
  std::size_t read_raw(std::uint64_t offset, std::size_t max_bytes, std::string& out) const;

 private:
  friend class SnapshotBodyReader;
  SnapshotFile() = default;

  io::Fd fd_;
  SnapshotHeader header_;
  std::uint64_t header_size_ = 0;
  std::uint64_t body_size_ = 0;
  std::uint32_t body_crc_ = 0;
};

/// Writes a new snapshot as a stream of body chunks under a temporary name. finish() patches the
/// body length and CRCs into the header, fsyncs, renames to `final_path` and fsyncs the
/// directory, so a crash leaves either no snapshot or a complete one. Destroying an unfinished
/// writer removes the temporary file.
class SnapshotWriter {
 public:
  SnapshotWriter(std::string temp_path, std::string final_path, SnapshotHeader header);
  ~SnapshotWriter();
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  void append(std::string_view body_chunk);
  /// Makes the file durable under its final name and returns that name.
  std::string finish();

  const SnapshotHeader& header() const { return header_; }
  std::uint64_t body_size() const { return body_size_; }

 private:
  void flush_buffer();
  void write(std::string_view bytes);

  std::string temp_path_;
  std::string final_path_;
  SnapshotHeader header_;
  io::Fd fd_;
  std::string header_bytes_;
  std::string buffer_;
  std::uint64_t body_size_ = 0;
  std::uint32_t body_crc_ = 0;
  bool finished_ = false;
  std::uint64_t written_ = 0;            // bytes written to the file so far
  std::uint64_t writeback_started_ = 0;  // [0, this) has been handed to writeback
  std::uint64_t writeback_waited_ = 0;   // [0, this) is on the disk (write-back finished)
};

/// A snapshot arriving from the leader as (offset, bytes) chunks of its file image (see
/// SnapshotFile::read_raw). Bytes go straight to a temporary file; finish() fsyncs, verifies the
/// whole file (header, body CRC, and that it describes the snapshot the leader announced) and
/// only then renames it into place. Destroying an unfinished one removes the temporary file.
class IncomingSnapshot {
 public:
  IncomingSnapshot(std::string temp_path, std::string final_path, raft::SnapshotMeta meta,
                   std::uint64_t total_size);
  ~IncomingSnapshot();
  IncomingSnapshot(const IncomingSnapshot&) = delete;
  IncomingSnapshot& operator=(const IncomingSnapshot&) = delete;

  /// Writes one chunk. A chunk that only repeats bytes already written is accepted (a
  /// retransmission); a chunk that starts beyond what was received, or runs past the announced
  /// size, is an error (the host asks the leader to resend from received()).
  Status write(std::uint64_t offset, std::string_view data);
  std::uint64_t received() const { return received_; }
  std::uint64_t total_size() const { return total_size_; }
  const raft::SnapshotMeta& meta() const { return meta_; }

  /// Verifies and renames into place, returning the final path. On error the temporary file is
  /// removed and nothing on disk changed.
  Result<std::string> finish();

 private:
  std::string temp_path_;
  std::string final_path_;
  raft::SnapshotMeta meta_;
  std::uint64_t total_size_;
  io::Fd fd_;
  std::uint64_t received_ = 0;
  bool finished_ = false;
};

/// The file name a snapshot is stored under: snap-<index>-<term>.snap, both zero-padded to 20
/// decimal digits so that names sort like (index, term).
std::string snapshot_file_name(raft::Index index, raft::Term term);
/// Parses a name made by snapshot_file_name(); false for any other name.
bool parse_snapshot_file_name(std::string_view name, raft::Index& index, raft::Term& term);

}  // namespace storage
