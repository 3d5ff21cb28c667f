#include "storage/data_dir.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <map>
#include <random>

#include "storage/crc32c.h"
#include "storage/io.h"

namespace storage {

namespace {

constexpr std::string_view kIdentityHeader =
    "# raftd data directory identity. Written once when the directory was created; do not edit.\n";

std::string describe(const Identity& id) {
  return fmt::format("cluster \"{}\" node {} at \"{}\"",
                     id.cluster_id.empty() ? "(not formed)" : id.cluster_id, id.node_id,
                     id.address);
}

constexpr std::string_view kFileMagic = "RAFTDF01";

// DIR/CLUSTER, DIR/SECRET, DIR/FORMATION_KEY: magic | crc32c (hex, 8) | '\n' | payload.
std::string encode_small_file(std::string_view payload) {
  return fmt::format("{}{:08x}\n", kFileMagic, crc32c(payload)) + std::string(payload);
}

Result<std::string> decode_small_file(const std::string& path, std::string_view text) {
  const std::size_t head = kFileMagic.size() + 9;
  if (text.size() < head || text.substr(0, kFileMagic.size()) != kFileMagic ||
      text[head - 1] != '\n') {
    return Status::error(fmt::format("{} is damaged: unknown header", path));
  }
  std::uint32_t stored = 0;
  const char* crc = text.data() + kFileMagic.size();
  auto [p, ec] = std::from_chars(crc, crc + 8, stored, 16);
  const std::string_view payload = text.substr(head);
  if (ec != std::errc() || p != crc + 8 || stored != crc32c(payload)) {
    return Status::error(fmt::format("{} is damaged: checksum mismatch", path));
  }
  return std::string(payload);
}

std::uint64_t random_dir_id() {
  std::random_device rd;
  std::uint64_t id = 0;
  while (id == 0) id = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  return id;
}

bool valid_field(std::string_view v) {
  for (char c : v) {
    if (c == '\n' || c == '\r' || c == '=') return false;
  }
  return true;
}

}  // namespace

std::string encode_identity(const Identity& id) {
  std::string body =
      fmt::format("version=2\ncluster_id={}\nnode_id={}\ndir_id={:016x}\naddress={}\n",
                  id.cluster_id, id.node_id, id.dir_id, id.address);
  return std::string(kIdentityHeader) + body + fmt::format("crc32c={:08x}\n", crc32c(body));
}

Result<Identity> decode_identity(const std::string& path, std::string_view text, bool* legacy) {
  auto fail = [&](const std::string& why) {
    return Status::error(fmt::format("identity file {} is damaged: {}", path, why));
  };
  if (text.substr(0, kIdentityHeader.size()) != kIdentityHeader) return fail("unknown header");
  text.remove_prefix(kIdentityHeader.size());
  const auto crc_pos = text.rfind("crc32c=");
  if (crc_pos == std::string_view::npos) return fail("no checksum line");
  const std::string_view body = text.substr(0, crc_pos);
  std::string_view crc_line = text.substr(crc_pos + 7);
  if (crc_line.empty() || crc_line.back() != '\n') return fail("checksum line not terminated");
  crc_line.remove_suffix(1);
  std::uint32_t stored = 0;
  auto [p, ec] = std::from_chars(crc_line.data(), crc_line.data() + crc_line.size(), stored, 16);
  if (ec != std::errc() || p != crc_line.data() + crc_line.size() || crc_line.size() != 8) {
    return fail("malformed checksum");
  }
  if (stored != crc32c(body)) return fail("checksum mismatch");

  std::map<std::string, std::string, std::less<>> fields;
  std::string_view rest = body;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return fail("unterminated line");
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) return fail(fmt::format("malformed line \"{}\"", line));
    fields.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  const std::string& version = fields["version"];
  if (version != "1" && version != "2") {
    return fail(fmt::format("unsupported version \"{}\"", version));
  }
  if (legacy) *legacy = version == "1";
  Identity id;
  id.cluster_id = fields["cluster_id"];
  id.address = fields["address"];
  const std::string& node = fields["node_id"];
  auto [q, ec2] = std::from_chars(node.data(), node.data() + node.size(), id.node_id);
  if (ec2 != std::errc() || q != node.data() + node.size()) {
    return fail(fmt::format("malformed node_id \"{}\"", node));
  }
  if (version == "2") {
    const std::string& dir = fields["dir_id"];
    auto [r, ec3] = std::from_chars(dir.data(), dir.data() + dir.size(), id.dir_id, 16);
    if (ec3 != std::errc() || r != dir.data() + dir.size() || id.dir_id == 0) {
      return fail(fmt::format("malformed dir_id \"{}\"", dir));
    }
  }
  return id;
}

Result<std::unique_ptr<DataDir>> DataDir::open(const std::string& dir, const Identity& expected,
                                               const Options& options) {
  auto d = std::unique_ptr<DataDir>(new DataDir());
  d->dir_ = dir;
  d->options_ = options;
  io::make_dirs(dir);

  // The lock is held for the life of the process; flock() locks die with it, so a crashed raftd
  // never leaves the directory locked.
  const std::string lock_path = io::join(dir, "LOCK");
  d->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (d->lock_fd_ < 0) io::fatal("open", lock_path, errno);
  if (::flock(d->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) io::fatal("flock", lock_path, errno);
    std::string holder = io::read_small_file(lock_path).value_or("");
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return Status::error(fmt::format("data directory {} is in use by another raftd (pid {})", dir,
                                     holder.empty() ? "unknown" : holder));
  }
  {
    const std::string pid = fmt::format("{}\n", ::getpid());
    if (::ftruncate(d->lock_fd_, 0) != 0) io::fatal("ftruncate", lock_path, errno);
    io::Fd view(::dup(d->lock_fd_), lock_path);
    if (!view.valid()) io::fatal("dup", lock_path, errno);
    io::pwrite_all(view, pid, 0);
  }

  const std::string identity_path = io::join(dir, "IDENTITY");
  const std::string log_dir = io::join(dir, "log");
  const bool had_log = io::read_small_file(io::join(log_dir, "CURRENT")).has_value();
  if (auto text = io::read_small_file(identity_path)) {
    auto stored = decode_identity(identity_path, *text, &d->legacy_);
    if (!stored) return stored.status();
    std::vector<std::string> diffs;
    if (!expected.cluster_id.empty() && expected.cluster_id != stored->cluster_id) {
      diffs.push_back("cluster id");
    }
    if (expected.node_id != raft::kNoNode && expected.node_id != stored->node_id) {
      diffs.push_back("node id");
    }
    if (!expected.address.empty() && expected.address != stored->address) {
      diffs.push_back("address");
    }
    if (!diffs.empty()) {
      std::string list;
      for (const auto& s : diffs) list += (list.empty() ? "" : ", ") + s;
      return Status::error(
          fmt::format("data directory {} belongs to {}, but this raftd is configured as {} "
                      "(different {}); refusing to use it",
                      dir, describe(*stored), describe(expected), list));
    }
    d->identity_ = std::move(*stored);
    // Format 1 had no directory id: this directory gets one, written with the founding record
    // it lacks (complete_legacy()).
    if (d->legacy_) d->identity_.dir_id = random_dir_id();
    if (d->formed() && !had_log) {
      return Status::error(fmt::format(
          "data directory {}: node {} is a member of cluster {}, but its Raft log ({}) is "
          "missing: this node lost what it promised and must not vote or acknowledge with it. "
          "Remove it from the cluster and join it again (README: \"A node lost its data "
          "directory\")",
          dir, d->identity_.node_id, d->identity_.cluster_id, log_dir));
    }
  } else {
    if (io::read_small_file(io::join(log_dir, "CURRENT"))) {
      return Status::error(fmt::format(
          "data directory {} holds a log but no IDENTITY file; refusing to guess whose it is",
          dir));
    }
    if (expected.node_id == raft::kNoNode) {
      return Status::error(
          fmt::format("data directory {} is new and needs a node id to be created", dir));
    }
    if (!valid_field(expected.cluster_id) || !valid_field(expected.address)) {
      return Status::error(fmt::format("identity for {} has a newline or '=' in a field: {}", dir,
                                       describe(expected)));
    }
    // raftd creates directories with no cluster id: the cluster forms later
    // (server/membership.h).
    Identity created = expected;
    created.dir_id = random_dir_id();
    io::write_file_atomically(identity_path, encode_identity(created));
    d->identity_ = created;
  }
  if (Status s = d->load_private_files(); !s) return s;

  d->snapshots_ = SnapshotStore::open(io::join(dir, "snapshots"), d->diagnostics_);
  if (!d->formed() && d->snapshots_->current()) {
    // Before reconcile(), which would install it into a log that is not its cluster's.
    return Status::error(fmt::format(
        "data directory {} holds snapshot {} but its identity says the cluster was never "
        "formed; refusing to guess whose data it is",
        dir, d->snapshots_->current()->path()));
  }
  auto log = LogStore::open(log_dir, options.log);
  if (!log) return log.status();
  d->log_ = std::move(*log);
  if (!d->formed()) {
    const raft::InitialState st = d->log_->initial_state();
    if (d->log_->last_index() > 0 || !st.hard_state.empty() || d->log_->snapshot_meta().index > 0 ||
        !st.conf.voters.empty()) {
      return Status::error(fmt::format(
          "data directory {} holds a Raft log but its identity says the cluster was never "
          "formed; refusing to guess whose log it is",
          dir));
    }
  }
  if (Status s = d->reconcile(); !s) return s;
  return d;
}

Status DataDir::load_private_files() {
  // Unformed: CLUSTER and SECRET can only be left by a formation that crashed before its commit
  // point, and are dropped unread. Formed: the formation key is no longer needed.
  const std::pair<const char*, std::string*> files[] = {
      {"CLUSTER", &cluster_record_}, {"SECRET", &secret_}, {"FORMATION_KEY", &formation_key_}};
  for (const auto& [name, field] : files) {
    const std::string path = io::join(dir_, name);
    const bool stale = formed() == (field == &formation_key_);
    if (stale) {
      io::remove_file(path);
      continue;
    }
    auto text = io::read_small_file(path);
    if (!text) continue;
    auto payload = decode_small_file(path, *text);
    if (!payload) return payload.status();
    *field = std::move(*payload);
  }
  return Status::ok();
}

void DataDir::save_formation_key(std::string_view key) {
  io::write_file_atomically(io::join(dir_, "FORMATION_KEY"), encode_small_file(key), 0600);
  formation_key_ = std::string(key);
}

Status DataDir::form(const std::string& cluster_id, std::string_view cluster_record,
                     std::string_view secret) {
  if (formed()) {
    return Status::error(
        fmt::format("data directory {} already belongs to cluster {}", dir_, identity_.cluster_id));
  }
  if (cluster_id.empty() || !valid_field(cluster_id)) {
    return Status::error(fmt::format("bad cluster id \"{}\"", cluster_id));
  }
  if (!secret.empty()) {
    io::write_file_atomically(io::join(dir_, "SECRET"), encode_small_file(secret), 0600);
  } else {
    io::remove_file(io::join(dir_, "SECRET"));  // a configured secret: keep none on disk
  }
  io::write_file_atomically(io::join(dir_, "CLUSTER"), encode_small_file(cluster_record));
  Identity formed = identity_;
  formed.cluster_id = cluster_id;
  io::write_file_atomically(io::join(dir_, "IDENTITY"), encode_identity(formed));  // the commit
  identity_ = std::move(formed);
  cluster_record_ = std::string(cluster_record);
  secret_ = std::string(secret);
  io::remove_file(io::join(dir_, "FORMATION_KEY"));
  formation_key_.clear();
  return Status::ok();
}

Status DataDir::complete_legacy(std::string_view cluster_record, std::string_view secret) {
  if (!legacy_) return Status::error("not a legacy data directory");
  if (!secret.empty()) {
    io::write_file_atomically(io::join(dir_, "SECRET"), encode_small_file(secret), 0600);
    secret_ = std::string(secret);
  }
  io::write_file_atomically(io::join(dir_, "CLUSTER"), encode_small_file(cluster_record));
  cluster_record_ = std::string(cluster_record);
  io::write_file_atomically(io::join(dir_, "IDENTITY"), encode_identity(identity_));
  legacy_ = false;
  diagnostics_.push_back(fmt::format(
      "data directory {} was written by an older raftd: it now has a founding record and a "
      "directory id",
      dir_));
  return Status::ok();
}

DataDir::~DataDir() {
  log_.reset();  // close RocksDB before giving up the lock
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status DataDir::reconcile() {
  const raft::SnapshotMeta logged = log_->snapshot_meta();
  std::shared_ptr<const SnapshotFile> current = snapshots_->current();
  auto matches = [](const std::shared_ptr<const SnapshotFile>& f, const raft::SnapshotMeta& m) {
    return f && f->meta().index == m.index && f->meta().term == m.term;
  };
  const bool behind =
      current &&
      (current->meta().index > log_->last_index() ||
       (!options_.keep_log_to_previous_snapshot && current->meta().index > logged.index));
  if (behind) {
    // A crash between making a received snapshot current and recording it in the log (or, for a
    // snapshot of our own, between making it current and compacting); finish it.
    diagnostics_.push_back(
        fmt::format("log in {} was behind snapshot {}; installed it (index {} term {})",
                    log_->dir(), current->path(), current->meta().index, current->meta().term));
    log_->install_snapshot(current->meta());
    log_->set_snapshot_file(std::move(current));
    return Status::ok();
  }
  if (logged.index == 0) {
    // The log starts at index 1: nothing to stream, whatever snapshot we load from.
    log_->set_snapshot_file(nullptr);
    return Status::ok();
  }
  if (matches(current, logged)) {
    log_->set_snapshot_file(std::move(current));
    return Status::ok();
  }
  if (current && current->meta().index > logged.index) {
    // The log reaches back to an older snapshot (keep_log_to_previous_snapshot): we load the
    // newest one and stream the one the log starts at.
    auto older = snapshots_->open_verified(logged);
    if (older) {
      log_->set_snapshot_file(std::move(*older));
      return Status::ok();
    }
    raft::Term term = 0;
    if (log_->term(current->meta().index, term) == raft::StorageError::kOk &&
        term == current->meta().term) {
      diagnostics_.push_back(fmt::format(
          "snapshot for the start of the log in {} is unusable ({}); compacted the log to {}",
          log_->dir(), older.message(), current->path()));
      log_->compact(current->meta());
      log_->set_snapshot_file(std::move(current));
      return Status::ok();
    }
  }
  std::string why;
  for (const auto& d : diagnostics_) why += "; " + d;
  return Status::error(fmt::format(
      "data directory {}: the log is compacted through index {} (term {}) but {} has no valid "
      "snapshot file for it (newest valid: {}){}",
      dir_, logged.index, logged.term, snapshots_->dir(), current ? current->path() : "none", why));
}

void DataDir::compact_after_snapshot(const std::shared_ptr<const SnapshotFile>& newest,
                                     const std::shared_ptr<const SnapshotFile>& previous) {
  if (!options_.keep_log_to_previous_snapshot) {
    log_->compact(newest->meta());
    log_->set_snapshot_file(newest);
    return;
  }
  if (!previous || previous->meta().index <= log_->snapshot_meta().index) return;
  log_->compact(previous->meta());
  log_->set_snapshot_file(previous);
}

Result<std::shared_ptr<const SnapshotFile>> DataDir::compact_to_current() {
  auto current = snapshots_->current();
  if (!current || current->meta().index <= log_->snapshot_meta().index) {
    return Status::error(fmt::format("no snapshot newer than the log's start (index {}) in {}",
                                     log_->snapshot_meta().index, snapshots_->dir()));
  }
  if (Status s = current->verify(); !s) return s;
  log_->compact(current->meta());
  log_->set_snapshot_file(current);
  return current;
}

Result<std::shared_ptr<const SnapshotFile>> DataDir::commit_snapshot(SnapshotWriter& writer) {
  auto previous = snapshots_->current();
  auto file = snapshots_->commit(writer);
  if (!file) return file;
  compact_after_snapshot(*file, previous);
  return file;
}

Result<std::shared_ptr<const SnapshotFile>> DataDir::adopt_snapshot(const std::string& final_path) {
  auto previous = snapshots_->current();
  auto file = snapshots_->adopt_finished(final_path);
  if (!file) return file;
  compact_after_snapshot(*file, previous);
  return file;
}

Result<std::shared_ptr<const SnapshotFile>> DataDir::install_snapshot(IncomingSnapshot& incoming) {
  auto file = snapshots_->commit(incoming);
  if (!file) return file;
  log_->install_snapshot((*file)->meta());
  log_->set_snapshot_file(*file);
  return file;
}

}  // namespace storage
