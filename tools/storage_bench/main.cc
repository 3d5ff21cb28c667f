// storage_bench: how close does LogStore::save() (one synced RocksDB WriteBatch per call) get to
// the disk's own limit? For each batch size it runs the store, then a raw loop that appends the
// same number of bytes to a plain file and fdatasync()s after each write, on the same disk, and
// prints both with their ratio. The two alternate in short rounds and the median round counts,
// so that load from other processes hits both alike. Not a test: numbers depend on the machine.
//
//   storage_bench [--dir DIR] [--seconds S] [--rounds R] [--entry-bytes N] [--batches 1,16,256]
//                 [--write-buffer-mb M] [--raw overwrite|append] [--no-sync]
#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "storage/log_store.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  std::string dir = "storage_bench.tmp";
  double seconds = 3.0;  // per case, split over `rounds`
  int rounds = 5;
  std::size_t entry_bytes = 100;
  std::vector<std::size_t> batches = {1, 16, 256};
  bool sync = true;
  std::size_t write_buffer_mb = 0;  // 0: LogStore's default
  std::string raw_mode = "overwrite";
};

struct Result {
  double ops_per_sec = 0;  // batches (store) or write+fdatasync pairs (raw)
  double p50_us = 0;
  double p99_us = 0;
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "storage_bench: %s\n", msg.c_str());
  std::exit(1);
}

Result summarize(std::vector<double>& lat_us, double elapsed) {
  std::sort(lat_us.begin(), lat_us.end());
  Result r;
  r.ops_per_sec = static_cast<double>(lat_us.size()) / elapsed;
  r.p50_us = lat_us[lat_us.size() / 2];
  r.p99_us = lat_us[std::min(lat_us.size() - 1, lat_us.size() * 99 / 100)];
  return r;
}

// Times `op` repeatedly for `seconds`.
template <typename Op>
Result measure(double seconds, Op op) {
  std::vector<double> lat;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  auto now = start;
  while (now < end) {
    const auto t0 = now;
    op();
    now = Clock::now();
    lat.push_back(std::chrono::duration<double, std::micro>(now - t0).count());
  }
  return summarize(lat, std::chrono::duration<double>(now - start).count());
}

// LogStore::save() of `batch` entries plus the hard state, as a host does for each Ready.
class StoreCase {
 public:
  StoreCase(const Config& cfg, std::size_t batch) : entries_(batch) {
    storage::LogStore::Options o;
    o.sync = cfg.sync;
    if (cfg.write_buffer_mb > 0) o.write_buffer_bytes = cfg.write_buffer_mb << 20;
    auto store = storage::LogStore::open(cfg.dir + "/store-" + std::to_string(batch), o);
    if (!store) die(store.message());
    store_ = std::move(*store);
    for (auto& e : entries_) e.data.assign(cfg.entry_bytes, 'x');
  }
  void operator()() {
    for (auto& e : entries_) {
      e.term = 1;
      e.index = next_++;
    }
    // The commit index trails like a leader's would, so the hard state changes each time too.
    hs_.commit = next_ - 1 - std::min<raft::Index>(next_ - 1, entries_.size());
    store_->save(&hs_, entries_);
  }

 private:
  std::unique_ptr<storage::LogStore> store_;
  std::vector<raft::Entry> entries_;
  raft::Index next_ = 1;
  raft::HardState hs_{1, 1, 0};
};

// The physical limit: the same bytes written to a plain file with fdatasync() after each write.
// "overwrite" (default) rewrites blocks of a file written and synced beforehand, so fdatasync has
// no metadata to commit: the floor for any write-ahead log on this disk. "append" grows the
// file, paying ext4's block allocation and size updates on each sync.
class RawCase {
 public:
  static constexpr std::uint64_t kFileSize = 64 << 20;

  RawCase(const Config& cfg, std::size_t batch)
      : path_(cfg.dir + "/raw-" + std::to_string(batch)),
        buf_(batch * cfg.entry_bytes, 'x'),
        sync_(cfg.sync),
        overwrite_(cfg.raw_mode == "overwrite") {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) die("open " + path_);
    if (overwrite_) {
      const std::string block(1 << 20, 'z');
      for (std::uint64_t off = 0; off < kFileSize; off += block.size()) write_at(block, off);
      if (::fsync(fd_) != 0) die("fsync " + path_);
    }
  }
  ~RawCase() { ::close(fd_); }
  void operator()() {
    if (overwrite_ && offset_ + buf_.size() > kFileSize) offset_ = 0;
    write_at(buf_, offset_);
    offset_ += buf_.size();
    if (sync_ && ::fdatasync(fd_) != 0) die("fdatasync " + path_);
  }

 private:
  void write_at(const std::string& data, std::uint64_t off) {
    if (::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(off)) !=
        static_cast<ssize_t>(data.size())) {
      die("pwrite " + path_);
    }
  }

  std::string path_;
  std::string buf_;
  bool sync_;
  bool overwrite_;
  int fd_ = -1;
  std::uint64_t offset_ = 0;
};

const Result& median(std::vector<Result>& rs) {
  std::sort(rs.begin(), rs.end(),
            [](const Result& a, const Result& b) { return a.ops_per_sec < b.ops_per_sec; });
  return rs[rs.size() / 2];
}

std::vector<std::size_t> parse_list(const std::string& s) {
  std::vector<std::size_t> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const auto comma = s.find(',', pos);
    out.push_back(std::stoul(s.substr(pos, comma - pos)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--dir") {
      cfg.dir = value();
    } else if (a == "--seconds") {
      cfg.seconds = std::stod(value());
    } else if (a == "--rounds") {
      cfg.rounds = std::max(1, std::stoi(value()));
    } else if (a == "--entry-bytes") {
      cfg.entry_bytes = std::stoul(value());
    } else if (a == "--batches") {
      cfg.batches = parse_list(value());
    } else if (a == "--write-buffer-mb") {
      cfg.write_buffer_mb = std::stoul(value());
    } else if (a == "--raw") {
      cfg.raw_mode = value();
      if (cfg.raw_mode != "overwrite" && cfg.raw_mode != "append") die("--raw overwrite|append");
    } else if (a == "--no-sync") {
      cfg.sync = false;
    } else {
      die("usage: storage_bench [--dir DIR] [--seconds S] [--rounds R] [--entry-bytes N] "
          "[--batches 1,16,256] [--write-buffer-mb M] [--raw overwrite|append] [--no-sync]");
    }
  }
  std::error_code ec;
  if (std::filesystem::exists(cfg.dir, ec)) die(cfg.dir + " exists; give a fresh --dir");
  std::filesystem::create_directories(cfg.dir, ec);
  if (ec) die("cannot create " + cfg.dir + ": " + ec.message());

  fmt::print(
      "storage_bench: dir {}, {} s per case in {} alternating rounds (median shown), {}-byte "
      "entries, {}, raw loop: {}\n",
      cfg.dir, cfg.seconds, cfg.rounds, cfg.entry_bytes,
      cfg.sync ? "sync on every batch" : "NO SYNC", cfg.raw_mode);
  fmt::print("{:>6} | {:>10} {:>11} {:>8} {:>8} {:>8} | {:>10} {:>8} {:>8} | {:>6}\n", "batch",
             "store b/s", "entries/s", "MB/s", "p50 us", "p99 us", "raw syncs/s", "MB/s", "p50 us",
             "ratio");
  for (std::size_t batch : cfg.batches) {
    StoreCase store(cfg, batch);
    RawCase raw(cfg, batch);
    for (int i = 0; i < 20; ++i) {  // warm-up: file creation, first WAL, page cache
      store();
      raw();
    }
    std::vector<Result> store_rounds;
    std::vector<Result> raw_rounds;
    const double slice = cfg.seconds / cfg.rounds;
    for (int round = 0; round < cfg.rounds; ++round) {
      store_rounds.push_back(measure(slice, [&] { store(); }));
      raw_rounds.push_back(measure(slice, [&] { raw(); }));
    }
    const Result& s = median(store_rounds);
    const Result& r = median(raw_rounds);
    const double bytes = static_cast<double>(batch * cfg.entry_bytes);
    fmt::print(
        "{:>6} | {:>10.0f} {:>11.0f} {:>8.2f} {:>8.0f} {:>8.0f} | {:>10.0f} {:>8.2f} {:>8.0f} | "
        "{:>6.2f}\n",
        batch, s.ops_per_sec, s.ops_per_sec * static_cast<double>(batch),
        s.ops_per_sec * bytes / 1e6, s.p50_us, s.p99_us, r.ops_per_sec, r.ops_per_sec * bytes / 1e6,
        r.p50_us, s.ops_per_sec / r.ops_per_sec);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(cfg.dir, ec);
  return 0;
}
