#include "server/log.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

namespace raftd::log {

std::optional<Level> parse_level(std::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn" || name == "warning") return Level::kWarn;
  if (name == "error") return Level::kError;
  return std::nullopt;
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "?";
}

Logger& Logger::instance() {
  static Logger logger;
  return logger;
}

Logger::~Logger() {
  if (file_ != nullptr) std::fclose(file_);
}

Status Logger::open(const std::string& path) {
  std::FILE* file = nullptr;
  if (!path.empty()) {
    file = std::fopen(path.c_str(), "a");
    if (file == nullptr) {
      return Status::error(
          fmt::format("cannot open log file '{}': {}", path, std::strerror(errno)));
    }
  }
  std::lock_guard lock(mu_);
  if (file_ != nullptr) std::fclose(file_);
  file_ = file;
  return Status::ok();
}

void Logger::set_context(std::string context) {
  std::lock_guard lock(mu_);
  context_ = std::move(context);
}

void Logger::write(Level level, std::string_view message) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  const std::size_t n = std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

  std::lock_guard lock(mu_);
  std::string line =
      fmt::format("{}.{:03}Z {:<5} ", std::string_view(stamp, n), millis, level_name(level));
  if (!context_.empty()) {
    line += '[';
    line += context_;
    line += "] ";
  }
  line += message;
  line += '\n';
  std::FILE* out = file_ != nullptr ? file_ : stderr;
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

}  // namespace raftd::log
