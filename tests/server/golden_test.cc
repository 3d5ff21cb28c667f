// Runs every golden script against the command table + state machine, then replays the entries
// the script proposed into a second state machine and checks both ended identical.
#include "golden.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.h"

namespace raftd::test {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads one RESP value from lines[i...] into `out` (with \r\n), advancing i.
bool take_reply(const std::vector<std::string>& lines, std::size_t& i, std::string& out,
                std::string& error) {
  if (i >= lines.size()) {
    error = "missing reply";
    return false;
  }
  const std::string& l = lines[i++];
  if (l.empty()) {
    error = "empty reply line";
    return false;
  }
  out += l;
  out += "\r\n";
  const char kind = l[0];
  if (kind == '+' || kind == '-' || kind == ':') return true;
  if (kind != '$' && kind != '*') {
    error = "not a RESP line: " + l;
    return false;
  }
  const long n = std::stol(l.substr(1));
  if (n < 0) return true;
  if (kind == '$') {
    if (i >= lines.size()) {
      error = "missing bulk payload";
      return false;
    }
    const std::string& payload = lines[i++];
    if (static_cast<long>(payload.size()) != n) {
      error = "bulk length mismatch: " + l + " vs '" + payload + "'";
      return false;
    }
    out += payload;
    out += "\r\n";
    return true;
  }
  for (long k = 0; k < n; ++k) {
    if (!take_reply(lines, i, out, error)) return false;
  }
  return true;
}

}  // namespace

bool split_args(const std::string& line, std::vector<std::string>& args) {
  args.clear();
  std::size_t i = 0;
  const std::size_t n = line.size();
  for (;;) {
    while (i < n && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= n) return true;
    std::string cur;
    bool in_dq = false;
    bool in_sq = false;
    for (;;) {
      if (in_dq) {
        if (i >= n) return false;
        if (line[i] == '\\' && i + 3 < n && line[i + 1] == 'x' && hex_digit(line[i + 2]) >= 0 &&
            hex_digit(line[i + 3]) >= 0) {
          cur += static_cast<char>(hex_digit(line[i + 2]) * 16 + hex_digit(line[i + 3]));
          i += 4;
          continue;
        }
        if (line[i] == '\\' && i + 1 < n) {
          const char c = line[i + 1];
          cur += c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c == '0' ? '\0' : c;
          i += 2;
          continue;
        }
        if (line[i] == '"') {
          if (i + 1 < n && !std::isspace(static_cast<unsigned char>(line[i + 1]))) return false;
          ++i;
          break;
        }
        cur += line[i++];
      } else if (in_sq) {
        if (i >= n) return false;
        if (line[i] == '\\' && i + 1 < n && line[i + 1] == '\'') {
          cur += '\'';
          i += 2;
          continue;
        }
        if (line[i] == '\'') {
          if (i + 1 < n && !std::isspace(static_cast<unsigned char>(line[i + 1]))) return false;
          ++i;
          break;
        }
        cur += line[i++];
      } else {
        if (i >= n || std::isspace(static_cast<unsigned char>(line[i]))) break;
        if (line[i] == '"') {
          in_dq = true;
        } else if (line[i] == '\'') {
          in_sq = true;
        } else {
          cur += line[i];
        }
        ++i;
      }
    }
    args.push_back(std::move(cur));
  }
}

bool parse_golden(const std::string& text, std::vector<GoldenStep>& steps, std::string& error) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::size_t i = 0;
  while (i < lines.size()) {
    const std::string& l = lines[i];
    const int line_no = static_cast<int>(i) + 1;
    if (l.empty() || l[0] == '#') {
      ++i;
      continue;
    }
    GoldenStep step;
    step.line = line_no;
    if (l.rfind("@now ", 0) == 0 || l.rfind("@advance ", 0) == 0) {
      step.kind = l[1] == 'n' ? GoldenStep::kSetNow : GoldenStep::kAdvance;
      step.value = std::stoll(l.substr(l.find(' ') + 1));
      steps.push_back(step);
      ++i;
      continue;
    }
    if (l.rfind(">~ ", 0) == 0) {
      step.clock_dependent = true;
    } else if (l.rfind("> ", 0) != 0) {
      error = "line " + std::to_string(line_no) + ": expected a command, got: " + l;
      return false;
    }
    if (!split_args(l.substr(l.find(' ') + 1), step.args) || step.args.empty()) {
      error = "line " + std::to_string(line_no) + ": bad arguments";
      return false;
    }
    ++i;
    if (!take_reply(lines, i, step.expected, error)) {
      error = "line " + std::to_string(line_no) + ": " + error;
      return false;
    }
    steps.push_back(std::move(step));
  }
  return true;
}

namespace {

std::vector<std::filesystem::path> golden_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(RAFTD_GOLDEN_DIR)) {
    if (e.path().extension() == ".txt") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string visible(const std::string& resp) {
  std::string out;
  for (char c : resp) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("golden scripts give Redis 7.0's exact replies, and replay identically") {
  const auto files = golden_files();
  REQUIRE(files.size() >= 2);
  for (const auto& path : files) {
    std::ifstream f(path);
    std::stringstream text;
    text << f.rdbuf();
    std::vector<GoldenStep> steps;
    std::string error;
    INFO("file " << path.filename().string());
    REQUIRE(parse_golden(text.str(), steps, error));
    Harness h;
    for (const auto& step : steps) {
      if (step.kind == GoldenStep::kSetNow) {
        h.now = step.value;
        continue;
      }
      if (step.kind == GoldenStep::kAdvance) {
        h.now += step.value;
        continue;
      }
      INFO("line " << step.line << ": " << step.args[0]);
      CHECK(visible(h.run(step.args)) == visible(step.expected));
    }
    // Determinism: the same entries applied by another replica give the same keyspace and
    // the same replies.
    CommandTable table;
    register_kv_commands(table);
    StateMachine replica(table);
    std::string reply;
    for (const auto& e : h.entries) REQUIRE(replica.apply(e, reply));
    CHECK(dump(replica.keyspace()) == dump(h.keyspace()));
    CHECK(replica.keyspace().size() == h.keyspace().size());
    CHECK(replica.keyspace().stats().expires == h.keyspace().stats().expires);
    CHECK(replica.keyspace().stats().used_bytes == h.keyspace().stats().used_bytes);
  }
}

}  // namespace raftd::test
