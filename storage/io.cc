#include "storage/io.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace storage::io {

void fatal(std::string_view what, const std::string& path, int err) {
  std::fprintf(stderr, "raftd storage: fatal I/O error: %.*s %s: %s\n",
               static_cast<int>(what.size()), what.data(), path.c_str(), std::strerror(err));
  std::abort();
}

void fatal(std::string_view what, const std::string& path) {
  std::fprintf(stderr, "raftd storage: fatal: %.*s (%s)\n", static_cast<int>(what.size()),
               what.data(), path.c_str());
  std::abort();
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

Fd::~Fd() {
  close();
}

void Fd::close() {
  if (fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;
  // Linux releases the descriptor even when close() fails, so never retry; a failure can hide a
  // lost write (NFS, some errors of delayed allocation), which we must not ignore.
  if (::close(fd) != 0 && errno != EINTR) fatal("close", path_, errno);
}

Fd open_file(const std::string& path, int flags, unsigned mode) {
  for (;;) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd >= 0) return Fd(fd, path);
    if (errno == EINTR) continue;
    if (errno == ENOENT) return Fd();
    fatal("open", path, errno);
  }
}

void write_all(const Fd& fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fatal("write", fd.path(), errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void pwrite_all(const Fd& fd, std::string_view data, std::uint64_t offset) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd.get(), data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      fatal("pwrite", fd.path(), errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
}

std::size_t pread_full(const Fd& fd, char* buf, std::size_t n, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd.get(), buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      fatal("pread", fd.path(), errno);
    }
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  return done;
}

std::uint64_t file_size(const Fd& fd) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fatal("fstat", fd.path(), errno);
  return static_cast<std::uint64_t>(st.st_size);
}

void fsync_file(const Fd& fd) {
  // fsync, not fdatasync: these files are renamed into place afterwards and their size matters.
  if (::fsync(fd.get()) != 0) fatal("fsync", fd.path(), errno);
}

void fsync_dir(const std::string& dir) {
  Fd fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!fd.valid()) fatal("open directory", dir, ENOENT);
  if (::fsync(fd.get()) != 0) fatal("fsync directory", dir, errno);
}

void make_dirs(const std::string& dir) {
  if (dir.empty() || dir == "/" || dir == ".") return;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) fatal("not a directory:", dir, ENOTDIR);
    return;
  }
  make_dirs(dir_name(dir));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fatal("mkdir", dir, errno);
  fsync_dir(dir_name(dir));
}

void rename_durably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) fatal(fmt::format("rename {} to", from), to, errno);
  fsync_dir(dir_name(to));
}

void remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fatal("unlink", path, errno);
}

void write_file_atomically(const std::string& path, std::string_view contents, unsigned mode) {
  const std::string tmp = path + ".tmp";
  {
    Fd fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (!fd.valid()) fatal("create", tmp, ENOENT);
    write_all(fd, contents);
    fsync_file(fd);
    fd.close();
  }
  rename_durably(tmp, path);
}

std::optional<std::string> read_small_file(const std::string& path) {
  Fd fd = open_file(path, O_RDONLY);
  if (!fd.valid()) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      fatal("read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::string dir_name(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const auto slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

}  // namespace storage::io
