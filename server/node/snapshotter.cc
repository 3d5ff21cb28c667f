#include "server/node/snapshotter.h"

#include <fmt/core.h>
#include <linux/ioprio.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "server/keyspace/snapshot.h"
#include "storage/io.h"

namespace raftd {

namespace {

using Clock = std::chrono::steady_clock;

/// CPU and I/O priority of process `pid`: idle (SCHED_IDLE, IOPRIO_CLASS_IDLE) or normal
/// (SCHED_OTHER, I/O priority derived from it). The I/O class only matters to schedulers with
/// priorities, such as mq-deadline. True if the CPU policy took (false once `pid` is gone).
bool set_priority(pid_t pid, bool idle) {
  sched_param param{};
  param.sched_priority = 0;
  const bool ok = ::sched_setscheduler(pid, idle ? SCHED_IDLE : SCHED_OTHER, &param) == 0;
  ::syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, pid,
            IOPRIO_PRIO_VALUE(idle ? IOPRIO_CLASS_IDLE : IOPRIO_CLASS_NONE, 0));
  return ok;
}

std::chrono::microseconds since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
}

// The one code path that writes a keyspace into a snapshot file, for the child and for
// write_snapshot_now alike.
void write_body(storage::SnapshotWriter& writer, const Keyspace& ks) {
  write_snapshot_body(ks, [&](std::string_view piece) { writer.append(piece); });
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return fmt::format("was killed by signal {} ({}); a message of its own, if any, is on stderr",
                       sig, name != nullptr ? name : "?");
  }
  return fmt::format("ended with wait status {:#x}", status);
}

}  // namespace

// Filled in by the child in a MAP_SHARED page: the parent reads it once it has reaped the child
// (waitpid orders the child's writes before the parent's reads).
struct Snapshotter::ChildReport {
  std::int64_t child_us = 0;
  std::uint64_t body_bytes = 0;
  int done = 0;  // 1 once the file is durable under its final name
  char message[512] = {};
};

// ------------------------------------------------------------------------------ loading

Status load_snapshot_body(storage::SnapshotBodyReader& reader, Keyspace& into,
                          std::optional<std::uint64_t> body_size) {
  SnapshotBodyLoader loader(into, body_size);
  std::string chunk;
  for (;;) {
    Result<bool> more = reader.next(chunk);
    if (!more) return more.status();
    if (!*more) break;
    if (Status fed = loader.feed(chunk); !fed) {
      // Damage is the likelier cause than a writer bug: if the checksum fails too, say that.
      for (;;) {
        Result<bool> rest = reader.next(chunk);
        if (!rest) {
          return Status::error(
              fmt::format("{} (the body also fails to decode: {})", rest.message(), fed.message()));
        }
        if (!*rest) break;
      }
      return fed;
    }
  }
  return loader.finish();
}

Status load_snapshot(const storage::SnapshotFile& file, Keyspace& into) {
  storage::SnapshotBodyReader reader = file.body_reader();
  Status st = load_snapshot_body(reader, into, file.body_size());
  if (!st && st.message().rfind("keyspace snapshot body", 0) == 0) {
    return Status::error(fmt::format("snapshot file {}: {}", file.path(), st.message()));
  }
  return st;
}

Result<std::shared_ptr<const storage::SnapshotFile>> write_snapshot_now(
    storage::DataDir& dir, const storage::SnapshotHeader& header, const Keyspace& ks) {
  std::unique_ptr<storage::SnapshotWriter> writer = dir.snapshots().create(header);
  write_body(*writer, ks);
  return dir.commit_snapshot(*writer);
}

// ------------------------------------------------------------------------------ Snapshotter

Snapshotter::Snapshotter(storage::DataDir& dir, Options options) : dir_(dir), options_(options) {}

Snapshotter::~Snapshotter() {
  cancel();
}

Status Snapshotter::start(const storage::SnapshotHeader& header, const Keyspace& ks) {
  if (running()) {
    return Status::error(fmt::format("a snapshot (index {}) is already being written by child {}",
                                     meta_.index, pid_));
  }
  if (auto cur = dir_.snapshots().current(); cur && header.meta.index <= cur->meta().index) {
    return Status::error(fmt::format("the current snapshot {} already covers index {}", cur->path(),
                                     header.meta.index));
  }
  // Everything that takes a lock happens here, before the fork: the store hands out the
  // temporary name and the writer creates the file, which the child inherits open.
  writer_ = dir_.snapshots().create(header);
  final_path_ = storage::io::join(dir_.snapshots().dir(),
                                  storage::snapshot_file_name(header.meta.index, header.meta.term));
  void* mem = ::mmap(nullptr, sizeof(ChildReport), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    const int err = errno;
    writer_.reset();
    return Status::error(
        fmt::format("cannot map the snapshot child's report page: {}", std::strerror(err)));
  }
  report_ = new (mem) ChildReport();
  meta_ = header.meta;
  parent_pid_ = ::getpid();

  started_ = Clock::now();
  const pid_t pid = ::fork();
  fork_time_ = since(started_);
  if (pid < 0) {
    const int err = errno;
    release();
    return Status::error(fmt::format("fork for the snapshot at index {} failed: {}",
                                     header.meta.index, std::strerror(err)));
  }
  if (pid == 0) run_child(ks);
  pid_ = pid;
  // Set here rather than by the child, so that raising it again can never come first. Its disk
  // writes go idle too: the writeback of a large snapshot file must not queue ahead of the Raft
  // log's fdatasync on the same disk.
  if (options_.idle_priority_for.count() > 0) idle_ = set_priority(pid, true);
  return Status::ok();
}

void Snapshotter::run_child(const Keyspace& ks) {
  // Never outlive the parent: an orphan would keep the data directory lock and the listening
  // sockets it inherited. (The check after the prctl closes the race with a parent that died
  // before it.)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent_pid_) ::_exit(3);
  // The parent's handlers (Asio's signal_set writes to a pipe the parent reads, a crash
  // reporter may log) must not run here: a stop request ends the child quietly, and so does the
  // abort() that follows a disk error (its message is printed already). Handlers for faults
  // (SIGSEGV, ...) stay: sanitizers report through them.
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGABRT}) {
    ::signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // A failing child aborts; a core dump of the parent's whole memory helps nobody.
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  if (options_.testing_child_file_limit > 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // then writes past the limit fail with EFBIG
    const rlimit fsize{options_.testing_child_file_limit, options_.testing_child_file_limit};
    ::setrlimit(RLIMIT_FSIZE, &fsize);
  }

  const Clock::time_point t0 = Clock::now();
  try {
    write_body(*writer_, ks);
    writer_->finish();
  } catch (const std::exception& e) {
    std::snprintf(report_->message, sizeof(report_->message), "%s", e.what());
    ::_exit(2);
  }
  report_->body_bytes = writer_->body_size();
  report_->child_us = since(t0).count();
  report_->done = 1;
  // No destructors, no atexit handlers, no stdio flush of the parent's buffers, no LSan pass.
  ::_exit(0);
}

std::optional<Snapshotter::Outcome> Snapshotter::poll() {
  if (!running()) return std::nullopt;
  if (since(started_) >= options_.idle_priority_for) raise_priority();
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  if (r < 0) {
    if (errno == EINTR) return std::nullopt;
    const int err = errno;
    Outcome out;
    out.meta = meta_;
    out.fork_time = fork_time_;
    out.elapsed = since(started_);
    out.status =
        Status::error(fmt::format("cannot wait for snapshot child {}: {} (reaped by someone else?)",
                                  pid_, std::strerror(err)));
    // Not kill()ed: once reaped elsewhere, the pid may belong to another process.
    release();
    return out;
  }
  return finish(status);
}

std::optional<Snapshotter::Outcome> Snapshotter::wait() {
  if (!running()) return std::nullopt;
  raise_priority();  // whoever blocks on the child must not wait for idle CPU
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return poll();  // reports the waitpid error the same way
  return finish(status);
}

void Snapshotter::cancel() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  release();
}

void Snapshotter::raise_priority() {
  if (!idle_ || raised_) return;
  // Fails only if the child is gone already: then there is nothing left to raise.
  raised_ = set_priority(pid_, false);
}

Snapshotter::Outcome Snapshotter::finish(int wait_status) {
  Outcome out;
  out.meta = meta_;
  out.fork_time = fork_time_;
  out.elapsed = since(started_);
  out.child_time = std::chrono::microseconds(report_->child_us);
  out.body_bytes = report_->body_bytes;
  out.ran_idle = idle_;
  out.raised = raised_;
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0 && report_->done == 1) {
    auto adopted = dir_.adopt_snapshot(final_path_);
    if (adopted) {
      out.file = *adopted;
    } else {
      out.status = adopted.status();
    }
  } else {
    report_->message[sizeof(report_->message) - 1] = '\0';
    out.status = Status::error(fmt::format("snapshot child {} for index {} {}{}{}", pid_,
                                           meta_.index, describe_wait_status(wait_status),
                                           report_->message[0] ? ": " : "", report_->message));
  }
  release();
  return out;
}

void Snapshotter::release() {
  // Removes the temporary file unless the child renamed it (then there is nothing to remove).
  writer_.reset();
  if (report_ != nullptr) {
    report_->~ChildReport();
    ::munmap(report_, sizeof(ChildReport));
    report_ = nullptr;
  }
  pid_ = 0;
  idle_ = false;
  raised_ = false;
}

}  // namespace raftd
