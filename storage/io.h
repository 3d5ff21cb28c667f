// Thin POSIX file helpers for the storage layer. A failing read, write or fsync of a file we own
// means the disk can no longer be trusted: these abort with the file's name rather than return
// (ARCHITECTURE.md, "disk I/O failure is fatal and says which file"). Only conditions that are
// expected (a file that does not exist yet) come back as values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace storage::io {

/// Prints "raftd storage: fatal I/O error: <what> <path>: <strerror(err)>" and aborts.
[[noreturn]] void fatal(std::string_view what, const std::string& path, int err);
/// Same without an errno (a broken invariant found on disk).
[[noreturn]] void fatal(std::string_view what, const std::string& path);

/// An owned file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  Fd(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  /// Closes now; a failing close() of a file we wrote is fatal.
  void close();

 private:
  int fd_ = -1;
  std::string path_;
};

/// open(2); ENOENT comes back as an invalid Fd, anything else is fatal.
Fd open_file(const std::string& path, int flags, unsigned mode = 0644);

void write_all(const Fd& fd, std::string_view data);
void pwrite_all(const Fd& fd, std::string_view data, std::uint64_t offset);
/// Reads up to `n` bytes at `offset` into `buf`; fewer only at end of file.
std::size_t pread_full(const Fd& fd, char* buf, std::size_t n, std::uint64_t offset);
std::uint64_t file_size(const Fd& fd);
void fsync_file(const Fd& fd);
/// Makes the directory entries (creations, renames, unlinks) in `dir` durable.
void fsync_dir(const std::string& dir);
/// Creates `dir` (and parents) if missing; fsyncs the parent of each directory it creates.
void make_dirs(const std::string& dir);
/// rename(2) followed by an fsync of the target's directory.
void rename_durably(const std::string& from, const std::string& to);
/// unlink(2); a missing file is fine.
void remove_file(const std::string& path);
/// Writes `contents` to `path` so that a crash leaves either the old or the new file: temporary
/// name, fsync, rename, fsync of the directory.
void write_file_atomically(const std::string& path, std::string_view contents,
                           unsigned mode = 0644);
/// The whole content of a small file, or nullopt if it does not exist.
std::optional<std::string> read_small_file(const std::string& path);

std::string join(const std::string& dir, const std::string& name);
std::string dir_name(const std::string& path);

}  // namespace storage::io
