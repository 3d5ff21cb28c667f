// A small leveled logger: one line per event, timestamped, to stderr or a file.
//
// Lines look like `2025-01-02T03:04:05.678Z info  [n1 t3 leader] message`; the bracketed context
// is empty until the node host sets it (node id, term, role), so a log from a cluster can be
// merged and read by node. Formatting happens only when the level is enabled.
#pragma once

#include <fmt/core.h>

#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "server/status.h"

namespace raftd::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

/// "debug", "info", "warn" (or "warning"), "error"; nullopt otherwise.
std::optional<Level> parse_level(std::string_view name);
std::string_view level_name(Level level);

class Logger {
 public:
  static Logger& instance();

  /// Sends lines to `path` (appending), or to stderr when `path` is empty. An error when the file
  /// cannot be opened; the previous sink stays in use.
  Status open(const std::string& path);
  void set_level(Level level) { level_ = level; }
  Level level() const { return level_; }
  bool enabled(Level level) const { return level >= level_; }
  /// Text shown in brackets on every line from now on (e.g. "n1 t3 leader").
  void set_context(std::string context);
  /// Writes one line; `message` should not end with a newline.
  void write(Level level, std::string_view message);

 private:
  Logger() = default;
  ~Logger();

  std::mutex mu_;              // a disk or snapshot thread may log too
  std::FILE* file_ = nullptr;  // nullptr: stderr
  Level level_ = Level::kInfo;
  std::string context_;
};

template <typename... Args>
void log(Level level, fmt::format_string<Args...> format, Args&&... args) {
  Logger& logger = Logger::instance();
  if (!logger.enabled(level)) return;
  logger.write(level, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
  log(Level::kDebug, format, std::forward<Args>(args)...);
}
template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  log(Level::kInfo, format, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  log(Level::kWarn, format, std::forward<Args>(args)...);
}
template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
  log(Level::kError, format, std::forward<Args>(args)...);
}

}  // namespace raftd::log
