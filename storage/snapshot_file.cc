#include "storage/snapshot_file.h"

#include <fcntl.h>
#include <fmt/core.h>

#include <algorithm>
#include <cstring>

#include "storage/codec.h"
#include "storage/crc32c.h"

namespace storage {

namespace {

constexpr std::string_view kMagic = "RAFTDSNP";
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kFixedSize = 44;  // magic .. body CRC
// The header holds membership and a small context blob; anything this big is not ours.
constexpr std::uint32_t kMaxHeaderSize = 64u << 20;
constexpr std::size_t kWriteBuffer = 1 << 20;

// Builds the header bytes, CRC included, for the given body length and CRC.
std::string encode_header(const SnapshotHeader& h, std::uint64_t body_size,
                          std::uint32_t body_crc) {
  if (h.context.size() > kMaxHeaderSize / 2) {
    io::fatal(fmt::format("snapshot membership context of {} bytes is too large", h.context.size()),
              snapshot_file_name(h.meta.index, h.meta.term));
  }
  std::string out;
  out.append(kMagic);
  codec::put_u32(out, kVersion);
  codec::put_u32(out, 0);  // header length, patched below
  codec::put_u64(out, h.meta.index);
  codec::put_u64(out, h.meta.term);
  codec::put_u64(out, body_size);
  codec::put_u32(out, body_crc);
  codec::put_conf_state(out, h.meta.conf);
  codec::put_u32(out, static_cast<std::uint32_t>(h.context.size()));
  out.append(h.context);
  const auto header_size = static_cast<std::uint32_t>(out.size() + 4);
  std::string len;
  codec::put_u32(len, header_size);
  out.replace(12, 4, len);
  codec::put_u32(out, crc32c(out));
  return out;
}

}  // namespace

std::string snapshot_file_name(raft::Index index, raft::Term term) {
  return fmt::format("snap-{:020}-{:020}.snap", index, term);
}

bool parse_snapshot_file_name(std::string_view name, raft::Index& index, raft::Term& term) {
  // snap- + 20 digits + - + 20 digits + .snap
  if (name.size() != 5 + 20 + 1 + 20 + 5) return false;
  if (name.substr(0, 5) != "snap-" || name[25] != '-' || name.substr(46) != ".snap") return false;
  auto digits = [](std::string_view s, std::uint64_t& out) {
    out = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      const auto d = static_cast<std::uint64_t>(c - '0');
      if (out > (UINT64_MAX - d) / 10) return false;
      out = out * 10 + d;
    }
    return true;
  };
  return digits(name.substr(5, 20), index) && digits(name.substr(26, 20), term);
}

// ---- SnapshotFile -------------------------------------------------------------------------

Result<std::shared_ptr<SnapshotFile>> SnapshotFile::open(const std::string& path) {
  auto fail = [&](const std::string& why) {
    return Status::error(fmt::format("snapshot file {}: {}", path, why));
  };
  io::Fd fd = io::open_file(path, O_RDONLY);
  if (!fd.valid()) return fail("does not exist");
  const std::uint64_t size = io::file_size(fd);

  char fixed[16];
  if (io::pread_full(fd, fixed, sizeof fixed, 0) < sizeof fixed) {
    return fail(fmt::format("truncated: {} bytes is too short for a header", size));
  }
  if (std::string_view(fixed, 8) != kMagic) return fail("not a snapshot file (bad magic)");
  const std::uint32_t version = codec::load_u32(fixed + 8);
  if (version != kVersion) {
    return fail(
        fmt::format("unsupported format version {} (this build reads {})", version, kVersion));
  }
  const std::uint32_t header_size = codec::load_u32(fixed + 12);
  if (header_size < kFixedSize + 4 + 4 + 4 + 4 || header_size > kMaxHeaderSize) {
    return fail(fmt::format("corrupt header: impossible header length {}", header_size));
  }
  if (size < header_size) {
    return fail(
        fmt::format("truncated: {} bytes, but the header alone is {} bytes", size, header_size));
  }
  std::string header(header_size, '\0');
  io::pread_full(fd, header.data(), header_size, 0);
  const std::uint32_t stored_crc = codec::load_u32(header.data() + header_size - 4);
  const std::uint32_t actual_crc = crc32c(std::string_view(header).substr(0, header_size - 4));
  if (stored_crc != actual_crc) {
    return fail(fmt::format("corrupt header: CRC32C mismatch (stored {:08x}, computed {:08x})",
                            stored_crc, actual_crc));
  }

  auto file = std::shared_ptr<SnapshotFile>(new SnapshotFile());
  codec::Reader r(std::string_view(header).substr(16, header_size - 16 - 4));
  file->header_.meta.index = r.u64();
  file->header_.meta.term = r.u64();
  file->body_size_ = r.u64();
  file->body_crc_ = r.u32();
  file->header_.meta.conf = codec::get_conf_state(r);
  const std::uint32_t context_size = r.u32();
  file->header_.context = std::string(r.bytes(context_size));
  if (!r.done()) return fail("corrupt header: fields do not match the header length");
  file->header_size_ = header_size;

  if (size - header_size < file->body_size_) {
    return fail(fmt::format("truncated: {} bytes, but the header says {} + {} body bytes", size,
                            header_size, file->body_size_));
  }
  if (size - header_size > file->body_size_) {
    return fail(fmt::format("corrupt: {} bytes after the {}-byte body the header announces",
                            size - header_size - file->body_size_, file->body_size_));
  }
  file->fd_ = std::move(fd);
  return file;
}

Status SnapshotFile::verify() const {
  SnapshotBodyReader reader = body_reader();
  std::string chunk;
  for (;;) {
    Result<bool> more = reader.next(chunk);
    if (!more) return more.status();
    if (!*more) return Status::ok();
  }
}

std::size_t SnapshotFile::read_raw(std::uint64_t offset, std::size_t max_bytes,
                                   std::string& out) const {
  const std::uint64_t size = file_size();
  if (offset >= size) return 0;
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, size - offset));
  const std::size_t old = out.size();
  out.resize(old + n);
  const std::size_t got = io::pread_full(fd_, out.data() + old, n, offset);
  // The file was complete when opened and is never written again: a short read means someone
  // truncated it under us.
  if (got != n) io::fatal("snapshot file shrank while open", path());
  return n;
}

// ---- SnapshotBodyReader -------------------------------------------------------------------

SnapshotBodyReader::SnapshotBodyReader(std::shared_ptr<const SnapshotFile> file,
                                       std::size_t chunk_size)
    : file_(std::move(file)), chunk_size_(std::max<std::size_t>(chunk_size, 1)) {}

Result<bool> SnapshotBodyReader::next(std::string& chunk) {
  chunk.clear();
  if (done_) return false;
  const std::uint64_t left = file_->body_size_ - offset_;
  if (left == 0) {
    done_ = true;
    if (crc_ != file_->body_crc_) {
      return Status::error(
          fmt::format("snapshot file {}: corrupt body: CRC32C mismatch (stored {:08x}, computed "
                      "{:08x})",
                      file_->path(), file_->body_crc_, crc_));
    }
    return false;
  }
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size_, left));
  chunk.resize(n);
  const std::size_t got =
      io::pread_full(file_->fd_, chunk.data(), n, file_->header_size_ + offset_);
  if (got != n) {
    done_ = true;
    return Status::error(fmt::format("snapshot file {}: truncated while reading the body at {}",
                                     file_->path(), offset_ + got));
  }
  crc_ = crc32c_extend(crc_, chunk);
  offset_ += n;
  return true;
}

// ---- SnapshotWriter -----------------------------------------------------------------------

SnapshotWriter::SnapshotWriter(std::string temp_path, std::string final_path, SnapshotHeader header)
    : temp_path_(std::move(temp_path)),
      final_path_(std::move(final_path)),
      header_(std::move(header)) {
  fd_ = io::open_file(temp_path_, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!fd_.valid()) io::fatal("create", temp_path_, ENOENT);
  // Lengths and CRCs are placeholders until finish(); the header's size does not depend on them.
  header_bytes_ = encode_header(header_, 0, 0);
  buffer_.reserve(kWriteBuffer);
  buffer_ = header_bytes_;
}

SnapshotWriter::~SnapshotWriter() {
  if (!finished_) {
    fd_ = io::Fd();
    io::remove_file(temp_path_);
  }
}

void SnapshotWriter::append(std::string_view body_chunk) {
  if (finished_) io::fatal("append to a finished snapshot writer", final_path_);
  body_crc_ = crc32c_extend(body_crc_, body_chunk);
  body_size_ += body_chunk.size();
  if (buffer_.size() + body_chunk.size() > kWriteBuffer) {
    flush_buffer();
    // Large chunks go straight to the file instead of through the buffer.
    if (body_chunk.size() >= kWriteBuffer) {
      write(body_chunk);
      return;
    }
  }
  buffer_.append(body_chunk);
}

void SnapshotWriter::flush_buffer() {
  write(buffer_);
  buffer_.clear();
}

void SnapshotWriter::write(std::string_view bytes) {
  io::write_all(fd_, bytes);
  written_ += bytes.size();
  // Write back as we go (as Redis's rdb-save-incremental-fsync does): start the writeback of
  // each new 1 MB, and wait for the one before. Left dirty, 100+ MB would all go out in
  // finish()'s fsync, and an fdatasync of any other file on the same ext4 journal (the Raft
  // log's) would wait behind it. Errors surface in finish()'s fsync.
  constexpr std::uint64_t kWriteBackStep = 1 << 20;
  if (written_ - writeback_started_ < kWriteBackStep) return;
  ::sync_file_range(fd_.get(), static_cast<off_t>(writeback_started_),
                    static_cast<off_t>(written_ - writeback_started_), SYNC_FILE_RANGE_WRITE);
  if (writeback_started_ > writeback_waited_) {
    ::sync_file_range(
        fd_.get(), static_cast<off_t>(writeback_waited_),
        static_cast<off_t>(writeback_started_ - writeback_waited_),
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  }
  writeback_waited_ = writeback_started_;
  writeback_started_ = written_;
}

std::string SnapshotWriter::finish() {
  if (finished_) io::fatal("finish of a finished snapshot writer", final_path_);
  flush_buffer();
  const std::string header = encode_header(header_, body_size_, body_crc_);
  if (header.size() != header_bytes_.size()) io::fatal("snapshot header changed size", temp_path_);
  io::pwrite_all(fd_, header, 0);
  io::fsync_file(fd_);
  fd_.close();
  io::rename_durably(temp_path_, final_path_);
  finished_ = true;
  return final_path_;
}

// ---- IncomingSnapshot ---------------------------------------------------------------------

IncomingSnapshot::IncomingSnapshot(std::string temp_path, std::string final_path,
                                   raft::SnapshotMeta meta, std::uint64_t total_size)
    : temp_path_(std::move(temp_path)),
      final_path_(std::move(final_path)),
      meta_(std::move(meta)),
      total_size_(total_size) {
  fd_ = io::open_file(temp_path_, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!fd_.valid()) io::fatal("create", temp_path_, ENOENT);
}

IncomingSnapshot::~IncomingSnapshot() {
  if (!finished_) {
    fd_ = io::Fd();
    io::remove_file(temp_path_);
  }
}

Status IncomingSnapshot::write(std::uint64_t offset, std::string_view data) {
  if (finished_) {
    return Status::error(fmt::format("incoming snapshot {}: already finished", final_path_));
  }
  if (offset > received_) {
    return Status::error(
        fmt::format("incoming snapshot {}: chunk at offset {} leaves a gap after "
                    "the {} bytes received",
                    final_path_, offset, received_));
  }
  if (offset + data.size() > total_size_) {
    return Status::error(
        fmt::format("incoming snapshot {}: chunk [{}, {}) runs past the announced "
                    "size {}",
                    final_path_, offset, offset + data.size(), total_size_));
  }
  if (offset + data.size() <= received_) return Status::ok();  // a retransmission
  data.remove_prefix(received_ - offset);
  io::pwrite_all(fd_, data, received_);
  received_ += data.size();
  return Status::ok();
}

Result<std::string> IncomingSnapshot::finish() {
  if (finished_) {
    return Status::error(fmt::format("incoming snapshot {}: already finished", final_path_));
  }
  finished_ = true;
  auto reject = [&](std::string why) {
    fd_ = io::Fd();
    io::remove_file(temp_path_);
    return Status::error(std::move(why));
  };
  if (received_ != total_size_) {
    return reject(fmt::format("incoming snapshot {}: incomplete, received {} of {} bytes",
                              final_path_, received_, total_size_));
  }
  io::fsync_file(fd_);
  fd_.close();
  // Verify what is on disk, not what we meant to write: this is the copy we will load.
  auto file = SnapshotFile::open(temp_path_);
  if (!file) return reject(file.message());
  if (Status s = (*file)->verify(); !s) return reject(s.message());
  if ((*file)->meta() != meta_) {
    return reject(fmt::format(
        "incoming snapshot {}: file describes index {} term {}, but the "
        "leader announced index {} term {} (or a different membership)",
        final_path_, (*file)->meta().index, (*file)->meta().term, meta_.index, meta_.term));
  }
  file->reset();
  io::rename_durably(temp_path_, final_path_);
  return final_path_;
}

}  // namespace storage
