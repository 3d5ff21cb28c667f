#include "storage/snapshot_store.h"

#include <dirent.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <tuple>

#include "storage/io.h"

namespace storage {

namespace {

constexpr std::string_view kTempPrefix = "tmp-";

struct Named {
  raft::Index index;
  raft::Term term;
  std::string name;
  bool operator<(const Named& o) const { return std::tie(index, term) < std::tie(o.index, o.term); }
};

// Every directory entry, sorted by name so the scan is deterministic.
std::vector<std::string> read_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) io::fatal("opendir", dir, errno);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  if (errno != 0) io::fatal("readdir", dir, errno);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<Named> snapshot_files(const std::string& dir) {
  std::vector<Named> out;
  for (const std::string& name : read_dir(dir)) {
    Named n{0, 0, name};
    if (parse_snapshot_file_name(name, n.index, n.term)) out.push_back(std::move(n));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::unique_ptr<SnapshotStore> SnapshotStore::open(const std::string& dir,
                                                   std::vector<std::string>& diagnostics) {
  io::make_dirs(dir);
  auto store = std::unique_ptr<SnapshotStore>(new SnapshotStore(dir));

  // A temporary file is a snapshot that was never finished (or never verified): never use it.
  bool removed = false;
  for (const std::string& name : read_dir(dir)) {
    if (name.rfind(kTempPrefix, 0) == 0) {
      io::remove_file(io::join(dir, name));
      removed = true;
    }
  }
  if (removed) io::fsync_dir(dir);

  const std::vector<Named> files = snapshot_files(dir);
  std::size_t current = files.size();  // position in `files` of the chosen snapshot
  for (std::size_t i = files.size(); i-- > 0;) {
    const std::string path = io::join(dir, files[i].name);
    auto file = SnapshotFile::open(path);
    Status ok = file ? (*file)->verify() : file.status();
    if (ok && ((*file)->meta().index != files[i].index || (*file)->meta().term != files[i].term)) {
      ok =
          Status::error(fmt::format("snapshot file {}: header says index {} term {}, which does "
                                    "not match its name",
                                    path, (*file)->meta().index, (*file)->meta().term));
    }
    if (!ok) {
      diagnostics.push_back(fmt::format("skipped invalid snapshot: {}", ok.message()));
      continue;
    }
    store->current_ = std::move(*file);
    current = i;
    break;
  }

  // Keep the current snapshot and the newest older one whose header reads back (a fallback that
  // costs no extra full read at start); anything older is of no further use.
  if (current < files.size()) {
    std::size_t keep_from = current;
    for (std::size_t i = current; i-- > 0;) {
      if (SnapshotFile::open(io::join(dir, files[i].name))) {
        keep_from = i;
        break;
      }
    }
    bool pruned = false;
    for (std::size_t i = 0; i < keep_from; ++i) {
      io::remove_file(io::join(dir, files[i].name));
      pruned = true;
    }
    if (pruned) io::fsync_dir(dir);
  }
  return store;
}

Result<std::shared_ptr<const SnapshotFile>> SnapshotStore::open_verified(
    const raft::SnapshotMeta& meta) const {
  auto file = SnapshotFile::open(io::join(dir_, snapshot_file_name(meta.index, meta.term)));
  if (!file) return file.status();
  if (Status s = (*file)->verify(); !s) return s;
  if ((*file)->meta() != meta) {
    return Status::error(fmt::format("{} describes another snapshot than index {} term {}",
                                     (*file)->path(), meta.index, meta.term));
  }
  return std::shared_ptr<const SnapshotFile>(std::move(*file));
}

std::shared_ptr<const SnapshotFile> SnapshotStore::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::string SnapshotStore::temp_path() {
  std::lock_guard lock(mu_);
  return io::join(dir_, fmt::format("{}{}-{}", kTempPrefix, ::getpid(), ++temp_seq_));
}

std::unique_ptr<SnapshotWriter> SnapshotStore::create(const SnapshotHeader& header) {
  return std::make_unique<SnapshotWriter>(
      temp_path(), io::join(dir_, snapshot_file_name(header.meta.index, header.meta.term)), header);
}

std::unique_ptr<IncomingSnapshot> SnapshotStore::receive(const raft::SnapshotMeta& meta,
                                                         std::uint64_t total_size) {
  return std::make_unique<IncomingSnapshot>(
      temp_path(), io::join(dir_, snapshot_file_name(meta.index, meta.term)), meta, total_size);
}

Result<std::shared_ptr<const SnapshotFile>> SnapshotStore::commit(SnapshotWriter& writer) {
  std::lock_guard commit_lock(commit_mu_);
  const raft::SnapshotMeta& meta = writer.header().meta;
  if (auto cur = current(); cur && meta.index < cur->meta().index) {
    return Status::error(fmt::format("snapshot at index {} is older than the current one ({})",
                                     meta.index, cur->path()));
  }
  return adopt(writer.finish());
}

Result<std::shared_ptr<const SnapshotFile>> SnapshotStore::commit(IncomingSnapshot& incoming) {
  std::lock_guard commit_lock(commit_mu_);
  if (auto cur = current(); cur && incoming.meta().index < cur->meta().index) {
    return Status::error(fmt::format("snapshot at index {} is older than the current one ({})",
                                     incoming.meta().index, cur->path()));
  }
  Result<std::string> path = incoming.finish();
  if (!path) return path.status();
  return adopt(*path);
}

Result<std::shared_ptr<const SnapshotFile>> SnapshotStore::adopt_finished(const std::string& path) {
  std::lock_guard commit_lock(commit_mu_);
  raft::Index index = 0;
  raft::Term term = 0;
  const std::string name = path.substr(path.rfind('/') + 1);
  if (io::join(dir_, name) != path || !parse_snapshot_file_name(name, index, term)) {
    return Status::error(fmt::format("{} is not a snapshot file name in {}", path, dir_));
  }
  // Decided by the name alone: a newer snapshot committed meanwhile may have pruned this file.
  if (auto cur = current(); cur && index < cur->meta().index) {
    io::remove_file(path);
    return Status::error(
        fmt::format("snapshot at index {} is older than the current one ({})", index, cur->path()));
  }
  return adopt(path);
}

Result<std::shared_ptr<const SnapshotFile>> SnapshotStore::adopt(const std::string& path) {
  auto file = SnapshotFile::open(path);
  // We just wrote and fsynced this file: failing to read its header back is a disk problem.
  if (!file) io::fatal(file.message(), path);
  std::shared_ptr<const SnapshotFile> previous;
  {
    std::lock_guard lock(mu_);
    previous = current_;
    current_ = *file;
  }
  // Keep the new snapshot and the one it replaces (if it was valid it is our fallback).
  bool pruned = false;
  for (const Named& n : snapshot_files(dir_)) {
    const bool keep =
        (n.index == (*file)->meta().index && n.term == (*file)->meta().term) ||
        (previous && n.index == previous->meta().index && n.term == previous->meta().term);
    if (!keep) {
      io::remove_file(io::join(dir_, n.name));
      pruned = true;
    }
  }
  if (pruned) io::fsync_dir(dir_);
  return std::shared_ptr<const SnapshotFile>(*file);
}

std::vector<std::string> SnapshotStore::list() const {
  std::vector<std::string> out;
  for (const Named& n : snapshot_files(dir_)) out.push_back(n.name);
  return out;
}

}  // namespace storage
