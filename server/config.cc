// The option table (config.h): one row per option, and the parsers of flags, files and
// CONFIG built from it.
#include "server/config.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "server/node/proposer.h"
#include "server/server_state.h"
#include "server/text.h"

#ifndef RAFTD_VERSION
#define RAFTD_VERSION "0.0.0"
#endif

namespace po = boost::program_options;

namespace raftd {

std::string_view version_string() {
  return RAFTD_VERSION;
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

namespace {

template <typename T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// ------------------------------------------------------------------- value kinds, Redis's words

Status parse_integer(std::string_view value, std::int64_t min, std::int64_t max,
                     std::int64_t& out) {
  if (!parse_number(value, out)) {
    return Status::error("argument couldn't be parsed into an integer");
  }
  if (out < min || out > max) {
    return Status::error(fmt::format("argument must be between {} and {} inclusive", min, max));
  }
  return Status::ok();
}

template <typename T>
Status set_integer(T& field, std::string_view value, std::int64_t min, std::int64_t max) {
  std::int64_t n = 0;
  if (Status s = parse_integer(value, min, max, n); !s) return s;
  field = static_cast<T>(n);
  return Status::ok();
}

Status set_memory(std::size_t& field, std::string_view value, std::size_t min,
                  std::size_t max = std::numeric_limits<std::int64_t>::max()) {
  const auto parsed = parse_memory(value);
  if (!parsed) return Status::error("argument must be a memory value");
  if (*parsed < min || *parsed > max) {
    return Status::error(fmt::format("argument must be between {} and {} inclusive", min, max));
  }
  field = *parsed;
  return Status::ok();
}

/// An option with a fixed set of words (Redis's enum configs): `words[i]` selects choice i.
Status set_choice(bool& field, std::string_view value, std::string_view yes, std::string_view no) {
  if (iequals(value, yes) || iequals(value, no)) {
    field = iequals(value, yes);
    return Status::ok();
  }
  return Status::error(fmt::format("argument(s) must be one of the following: {}, {}", yes, no));
}

std::string sensitive_value(const std::string& value) {
  return value.empty() ? std::string() : std::string("(set)");
}

Result<std::vector<Member>> parse_ensemble(std::string_view rest) {
  std::vector<Member> members;
  std::set<std::string> seen_addrs;
  std::set<std::uint64_t> seen_ids;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.empty()) return Status::error("empty member in the list");
    Member m;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
      if (!parse_number(item.substr(0, slash), m.id) || m.id == 0) {
        return Status::error(fmt::format("bad node id in ensemble member '{}'", item));
      }
      item.remove_prefix(slash + 1);
    }
    auto addr = parse_endpoint(item);
    if (!addr) return addr.status();
    m.addr = std::move(*addr);
    if (!seen_addrs.insert(m.addr.to_string()).second) {
      return Status::error(fmt::format("member {} listed twice", m.addr.to_string()));
    }
    if (m.id != 0 && !seen_ids.insert(m.id).second) {
      return Status::error(fmt::format("node id {} listed twice", m.id));
    }
    members.push_back(std::move(m));
  }
  return members;
}

std::string ensemble_text(const Config& c) {
  std::string text;
  for (const Member& m : c.ensemble) {
    if (!text.empty()) text += ',';
    if (m.id != 0) text += std::to_string(m.id) + "/";
    text += m.addr.to_string();
  }
  return text;
}

void reconfigure_node(ServerState& s) {
  if (s.admin != nullptr) s.admin->reconfigure(s.config);
}

// ------------------------------------------------------------------------------- the table

// Shown by CONFIG GET (and accepted by CONFIG SET where set) for Redis clients and tools that
// ask for them; not options of raftd's own.
constexpr unsigned kRedisCompat = Option::kConfigCommand;

// clang-format off
const Option kOptions[] = {
  {.name = "addr", .short_flag = 'a', .default_value = "127.0.0.1:7001",
   .value_name = "host:port",
   .help = "client address; Raft peers use port+1 on the same host, so the port is at most "
           "65534",
   .set = [](Config& c, std::string_view v) -> Status {
     auto ep = parse_endpoint(v);
     if (!ep) return ep.status();
     c.addr = std::move(*ep);
     return Status::ok();
   },
   .get = [](const Config& c) { return c.addr.to_string(); }},
  {.name = "dir", .short_flag = 'd', .aliases = "data-dir", .default_value = "data",
   .value_name = "DIR",
   .help = "data directory (the Raft log, snapshots, the node's identity and once formed the "
           "cluster's record and secret), created if missing",
   .set = [](Config& c, std::string_view v) -> Status {
     if (v.empty()) return Status::error("the data directory must not be empty");
     c.data_dir = std::string(v);
     return Status::ok();
   },
   .get = [](const Config& c) { return c.data_dir; }},
  {.name = "ensemble", .short_flag = 'e', .default_value = "", .value_name = "host:port,...",
   .help = "every member's client address (host:port or id/host:port), the same list on each; "
           "empty: a single node. A new cluster forms once every member is up",
   .set = [](Config& c, std::string_view v) -> Status {
     auto members = parse_ensemble(v);
     if (!members) return members.status();
     c.ensemble = std::move(*members);
     return Status::ok();
   },
   .get = ensemble_text},
  {.name = "id", .short_flag = 'i', .default_value = "", .value_name = "ID",
   .help = "this node's id, a positive integer unique in the ensemble; empty: derived from "
           "addr, so nodes started with the same ensemble agree on every id",
   .set = [](Config& c, std::string_view v) -> Status {
     if (v.empty()) {
       c.id = 0;
       return Status::ok();
     }
     if (!parse_number(v, c.id) || c.id == 0) {
       return Status::error("argument must be a positive integer");
     }
     return Status::ok();
   },
   .get = [](const Config& c) { return c.id == 0 ? std::string() : std::to_string(c.id); }},
  {.name = "tick-ms", .default_value = "100", .value_name = "MS",
   .help = "length of one Raft tick in milliseconds: the leader's heartbeat interval",
   .set = [](Config& c, std::string_view v) { return set_integer(c.tick_ms, v, 1, 10000); },
   .get = [](const Config& c) { return std::to_string(c.tick_ms); }},
  {.name = "election-ticks", .default_value = "10", .value_name = "N",
   .help = "election timeout in ticks: a follower that hears no leader for a random time in "
           "[N, 2N) ticks campaigns",
   .set = [](Config& c, std::string_view v) { return set_integer(c.election_ticks, v, 2, 1000); },
   .get = [](const Config& c) { return std::to_string(c.election_ticks); }},
  {.name = "follower-writes", .default_value = "forward", .value_name = "MODE",
   .help = "forward: a follower sends writes to the leader and relays the reply; redirect: it "
           "replies -MOVED 0 leader-host:port",
   .live = true,
   .set = [](Config& c, std::string_view v) {
     return set_choice(c.forward_writes, v, "forward", "redirect");
   },
   .get = [](const Config& c) {
     return std::string(c.forward_writes ? "forward" : "redirect");
   },
   .on_change = reconfigure_node},
  {.name = "read-consistency", .default_value = "linearizable", .value_name = "MODE",
   .help = "linearizable: reads confirm leadership first (ReadIndex, on leader and followers); "
           "stale: the node's applied state at once, possibly behind the leader",
   .live = true,
   .set = [](Config& c, std::string_view v) {
     return set_choice(c.linearizable_reads, v, "linearizable", "stale");
   },
   .get = [](const Config& c) {
     return std::string(c.linearizable_reads ? "linearizable" : "stale");
   },
   .on_change = reconfigure_node},
  {.name = "request-timeout", .default_value = "10000", .value_name = "MS",
   .help = "a write or read whose outcome is not known within MS milliseconds gets -TIMEOUT "
           "(requests already waiting keep their deadline)",
   .live = true,
   .set = [](Config& c, std::string_view v) {
     return set_integer(c.request_timeout_ms, v, 1, std::numeric_limits<int>::max());
   },
   .get = [](const Config& c) { return std::to_string(c.request_timeout_ms); },
   .on_change = reconfigure_node},
  {.name = "snapshot-interval", .default_value = "100000", .value_name = "N",
   .help = "snapshot the state machine after N applied entries and drop the log up to it (a "
           "forked child writes it, serving goes on); 0: only on CHECKPOINT",
   .live = true,
   .set = [](Config& c, std::string_view v) {
     return set_integer(c.snapshot_interval, v, 0, std::numeric_limits<std::int64_t>::max());
   },
   .get = [](const Config& c) { return std::to_string(c.snapshot_interval); },
   .on_change = reconfigure_node},
  {.name = "peer-secret", .default_value = "", .value_name = "SECRET",
   .help = "the cluster secret every peer proves in its handshake (at least 16 characters, the "
           "same on every node); empty: made up when the cluster forms and kept in DIR/SECRET",
   .sensitive = true,
   .set = [](Config& c, std::string_view v) -> Status {
     if (!v.empty() && v.size() < 16) {
       return Status::error("at least 16 characters (a guessable secret protects nothing)");
     }
     c.peer_secret = std::string(v);
     return Status::ok();
   },
   .get = [](const Config& c) { return sensitive_value(c.peer_secret); }},
  {.name = "peer-secret-file", .default_value = "", .value_name = "FILE",
   .help = "read the cluster secret from FILE (its first line); overrides peer-secret",
   .set = [](Config& c, std::string_view v) -> Status {
     c.peer_secret_file = std::string(v);
     return Status::ok();
   },
   .get = [](const Config& c) { return c.peer_secret_file; }},
  {.name = "loglevel", .aliases = "log-level", .default_value = "info", .value_name = "LEVEL",
   .help = "debug, info, warn or error",
   .live = true,
   .set = [](Config& c, std::string_view v) -> Status {
     const auto level = log::parse_level(ascii_lower(v));
     if (!level) {
       return Status::error("argument(s) must be one of the following: debug, info, warn, error");
     }
     c.log_level = *level;
     return Status::ok();
   },
   .get = [](const Config& c) { return std::string(log::level_name(c.log_level)); },
   .on_change = [](ServerState& s) { log::Logger::instance().set_level(s.config.log_level); }},
  {.name = "logfile", .aliases = "log-file", .default_value = "", .value_name = "FILE",
   .help = "append the log to FILE; empty: standard error",
   .set = [](Config& c, std::string_view v) -> Status {
     c.log_file = std::string(v);
     return Status::ok();
   },
   .get = [](const Config& c) { return c.log_file; }},
  {.name = "proto-max-bulk-len", .default_value = "512mb", .value_name = "BYTES",
   .help = "largest bulk string (one argument) a client may send, at least 1mb; a change "
           "applies to connections made afterwards",
   .live = true,
   .set = [](Config& c, std::string_view v) {
     return set_memory(c.proto_max_bulk_len, v, 1024 * 1024);
   },
   .get = [](const Config& c) { return std::to_string(c.proto_max_bulk_len); }},
  {.name = "max-entry-size", .default_value = "4mb", .value_name = "BYTES",
   .help = "refuse a write whose arguments add up to more bytes, 64kb to 32mb: every node "
           "copies, syncs and sends it whole while its other clients wait",
   .live = true,
   .set = [](Config& c, std::string_view v) {
     return set_memory(c.max_entry_size, v, 64 * 1024, kMaxEntrySizeLimit);
   },
   .get = [](const Config& c) { return std::to_string(c.max_entry_size); }},
  {.name = "maxclients", .aliases = "max-clients", .default_value = "10000", .value_name = "N",
   .help = "connected clients at most; one more gets an error and is closed",
   .live = true,
   .set = [](Config& c, std::string_view v) {
     return set_integer(c.max_clients, v, 1, 4294967295);
   },
   .get = [](const Config& c) { return std::to_string(c.max_clients); }},
  {.name = "client-query-buffer-limit", .default_value = "1gb", .value_name = "BYTES",
   .help = "close a client whose unparsed input exceeds this (at least 1mb)",
   .live = true,
   .set = [](Config& c, std::string_view v) {
     return set_memory(c.client_query_buffer_limit, v, 1024 * 1024);
   },
   .get = [](const Config& c) { return std::to_string(c.client_query_buffer_limit); }},
  {.name = "client-output-pause", .default_value = "64mb", .value_name = "BYTES",
   .help = "stop reading a client's requests while more than this many bytes of its replies "
           "wait to be sent, until they drain (at least 64kb)",
   .live = true,
   .set = [](Config& c, std::string_view v) {
     return set_memory(c.client_output_pause, v, 64 * 1024);
   },
   .get = [](const Config& c) { return std::to_string(c.client_output_pause); }},
  {.name = "tcp-backlog", .default_value = "511", .value_name = "N",
   .help = "listen() backlog of the client port",
   .set = [](Config& c, std::string_view v) {
     return set_integer(c.tcp_backlog, v, 1, std::numeric_limits<int>::max());
   },
   .get = [](const Config& c) { return std::to_string(c.tcp_backlog); }},

  // Redis's names for what raftd has under other names or not at all, for clients and tools
  // that ask (redis-benchmark reads save and appendonly).
  {.name = "bind", .where = kRedisCompat,
   .get = [](const Config& c) { return c.addr.host; }},
  {.name = "port", .where = kRedisCompat,
   .get = [](const Config& c) { return std::to_string(c.addr.port); }},
  {.name = "databases", .where = kRedisCompat,
   .get = [](const Config&) { return std::string("1"); }},
  {.name = "save", .live = true, .where = kRedisCompat,
   .set = [](Config&, std::string_view v) {
     // Accepted when it asks for what raftd does anyway (no RDB snapshots).
     return v.empty() ? Status::ok()
                      : Status::error("raftd persists through its Raft log; RDB snapshots are "
                                      "not supported");
   },
   .get = [](const Config&) { return std::string(); }},
  {.name = "appendonly", .live = true, .where = kRedisCompat,
   .set = [](Config&, std::string_view v) {
     return iequals(v, "no") ? Status::ok()
                             : Status::error("raftd persists through its Raft log; AOF is not "
                                             "supported");
   },
   .get = [](const Config&) { return std::string("no"); }},
  {.name = "maxmemory", .where = kRedisCompat,
   .get = [](const Config&) { return std::string("0"); }},
};
// clang-format on

ParseOutcome fail(std::string message) {
  return {ParseOutcome::Action::kExit, 2,
          fmt::format("raftd: {}\nTry 'raftd --help' for more information.\n", message)};
}

/// Wraps `text` to lines of at most `width` columns, each starting with `indent` spaces.
std::string wrap(std::string_view text, std::size_t indent, std::size_t width) {
  std::string out, line;
  std::istringstream words{std::string(text)};
  for (std::string word; words >> word;) {
    if (!line.empty() && indent + line.size() + 1 + word.size() > width) {
      out += std::string(indent, ' ') + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out += std::string(indent, ' ') + line + "\n";
  return out;
}

/// One `name value` setting read from a config file.
struct FileSetting {
  int line = 0;
  std::string name, value;
};

/// A config file's value: the rest of the line, unquoted if it is one "..." or '...' string
/// (as redis.conf allows, with \" and \\ inside double quotes).
Result<std::string> unquote(std::string_view v) {
  if (v.empty() || (v.front() != '"' && v.front() != '\'')) return std::string(v);
  const char quote = v.front();
  std::string out;
  for (std::size_t i = 1; i < v.size(); ++i) {
    if (v[i] == quote) {
      if (i + 1 != v.size()) return Status::error("text after the closing quote");
      return out;
    }
    if (quote == '"' && v[i] == '\\' && i + 1 < v.size()) ++i;
    out += v[i];
  }
  return Status::error("unbalanced quotes");
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

/// Splits a config-file line into name and value: `name value` (redis.conf) or the older
/// `name = value`. Empty name: a blank or comment line.
std::pair<std::string_view, std::string_view> split_setting(std::string_view line) {
  line = trim(line);
  if (line.empty() || line.front() == '#') return {};
  const auto end = line.find_first_of(" \t=");
  std::string_view name = line.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? "" : trim(line.substr(end));
  if (!rest.empty() && rest.front() == '=') rest = trim(rest.substr(1));
  return {name, rest};
}

Result<std::vector<FileSetting>> read_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::error(fmt::format("cannot read config file '{}'", path));
  std::vector<FileSetting> settings;
  std::map<const Option*, int> seen;
  std::string text;
  for (int n = 1; std::getline(in, text); ++n) {
    const auto [name, raw] = split_setting(text);
    if (name.empty()) continue;
    const auto where = [&, n = n] { return fmt::format("config file '{}' line {}", path, n); };
    const Option* opt = find_option(name);
    if (opt == nullptr || !(opt->where & Option::kFile)) {
      return Status::error(fmt::format("{}: unknown option '{}'", where(), name));
    }
    if (auto [it, fresh] = seen.emplace(opt, n); !fresh) {
      return Status::error(
          fmt::format("{}: {} is already set on line {}", where(), opt->name, it->second));
    }
    auto value = unquote(raw);
    if (!value) return Status::error(fmt::format("{}: {}", where(), value.message()));
    settings.push_back({n, std::string(name), std::move(*value)});
  }
  return settings;
}

std::string quote_if_needed(const std::string& value) {
  if (!value.empty() && value.find_first_of(" \t\"'\\#") == std::string::npos) return value;
  std::string out = "\"";
  for (char ch : value) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

/// Every option at its row's default.
Config default_config() {
  Config c;
  for (const Option& o : kOptions) {
    if (o.set == nullptr || !(o.where & Option::kCommandLine)) continue;
    if (Status s = o.set(c, o.default_value); !s) {
      std::fprintf(stderr, "raftd: the default of %.*s is refused: %s\n",
                   static_cast<int>(o.name.size()), o.name.data(), s.message().c_str());
      std::abort();  // a bad row is a bug, not an operator's mistake
    }
  }
  return c;
}

}  // namespace

std::string Option::flags_text() const {
  return short_flag != 0 ? fmt::format("-{}, --{}", short_flag, name)
                         : fmt::format("    --{}", name);
}

bool Option::named(std::string_view spelling) const {
  if (iequals(spelling, name)) return true;
  std::string_view rest = aliases;
  while (!rest.empty()) {
    const auto space = rest.find(' ');
    if (iequals(rest.substr(0, space), spelling)) return true;
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  }
  return false;
}

std::span<const Option> options() {
  return kOptions;
}

const Option* find_option(std::string_view spelling) {
  for (const Option& o : kOptions) {
    if (o.named(spelling)) return &o;
  }
  return nullptr;
}

std::string help_text() {
  std::string out = fmt::format(
      "raftd {} - a Raft-replicated key-value daemon speaking the Redis protocol\n\n"
      "Usage: raftd [-a host:port] [-d DIR] [-e host:port,...] [-i ID] [--config FILE] "
      "[--name VALUE ...]\n\n"
      "General:\n"
      "  -h, --help\n        print this help and exit\n"
      "  -v, --version\n        print the version and exit\n"
      "      --config FILE\n{}\n{}",
      version_string(),
      wrap("read settings from FILE (conf/raftd.conf lists every one); flags on the command "
           "line override it",
           8, 96),
      wrap("Settings. On the command line --name VALUE or --name=VALUE; in a config file one "
           "`name value` per line (as redis.conf); while running CONFIG GET name, and CONFIG "
           "SET name VALUE for the live ones:",
           0, 96));
  for (const Option& o : kOptions) {
    if (!(o.where & Option::kCommandLine)) continue;
    std::string notes = o.default_value.empty() ? std::string("default \"\"")
                                                : fmt::format("default {}", o.default_value);
    if (o.live) notes += "; live";
    if (!o.aliases.empty()) notes += fmt::format("; also --{}", o.aliases);
    out += fmt::format("  {} {} ({})\n", o.flags_text(), o.value_name, notes);
    out += wrap(o.help, 8, 96);
  }
  out += "\nExample: raftd -a 127.0.0.1:7001 -d data/n1\n";
  return out;
}

Result<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint ep;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::error(fmt::format("bad address '{}': expected [ipv6]:port", text));
    }
    ep.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Status::error(fmt::format("bad address '{}': expected host:port", text));
    }
    ep.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (ep.host.find(':') != std::string::npos) {
      return Status::error(fmt::format("bad address '{}': write IPv6 hosts as [addr]:port", text));
    }
  }
  unsigned value = 0;
  if (ep.host.empty()) return Status::error(fmt::format("bad address '{}': empty host", text));
  if (!parse_number(port, value) || value == 0 || value > 65534) {
    return Status::error(
        fmt::format("bad port in '{}': expected 1..65534 (peers use port+1)", text));
  }
  ep.port = static_cast<std::uint16_t>(value);
  return ep;
}

std::optional<std::size_t> parse_memory(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::uint64_t value = 0;
  if (!parse_number(text.substr(0, digits), value)) return std::nullopt;
  const std::string unit = ascii_lower(text.substr(digits));
  std::uint64_t mul = 1;
  if (unit.empty() || unit == "b") {
    mul = 1;
  } else if (unit == "k") {
    mul = 1000;
  } else if (unit == "kb") {
    mul = 1024;
  } else if (unit == "m") {
    mul = 1000 * 1000;
  } else if (unit == "mb") {
    mul = 1024 * 1024;
  } else if (unit == "g") {
    mul = 1000ull * 1000 * 1000;
  } else if (unit == "gb") {
    mul = 1024ull * 1024 * 1024;
  } else {
    return std::nullopt;
  }
  if (value > UINT64_MAX / mul) return std::nullopt;
  return static_cast<std::size_t>(value * mul);
}

Status check_config(Config& c) {
  // The ensemble may list this node or only the others; either way ids must agree with -a/-i.
  for (const Member& m : c.ensemble) {
    if (m.addr == c.addr && m.id != 0 && c.id != 0 && m.id != c.id) {
      return Status::error(
          fmt::format("--id {} does not match the ensemble's entry {}/{} for "
                      "--addr",
                      c.id, m.id, m.addr.to_string()));
    }
    if (c.id != 0 && m.id == c.id && !(m.addr == c.addr)) {
      return Status::error(
          fmt::format("--ensemble: node id {} is this node's (--id) but is "
                      "given to {}",
                      m.id, m.addr.to_string()));
    }
  }
  c.cluster_secret = c.peer_secret;
  if (!c.peer_secret_file.empty()) {
    std::ifstream in(c.peer_secret_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      return Status::error(fmt::format("--peer-secret-file: cannot read '{}'", c.peer_secret_file));
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) {
      return Status::error(
          fmt::format("--peer-secret-file: '{}' has an empty first line", c.peer_secret_file));
    }
    if (line.size() < 16) {
      return Status::error(
          fmt::format("--peer-secret-file: the secret in '{}' needs at least "
                      "16 characters (a guessable secret protects nothing)",
                      c.peer_secret_file));
    }
    c.cluster_secret = line;
  }
  return Status::ok();
}

ParseOutcome parse_config(int argc, const char* const* argv, Config& config) {
  // The command line goes through Boost.Program_options: every row's name and aliases become
  // flags taking one string, which the row's own set() then checks.
  po::options_description all;
  std::string config_file;
  // clang-format off
  all.add_options()
    ("help,h", "")
    ("version,v", "")
    ("config", po::value(&config_file), "");
  // clang-format on
  for (const Option& o : kOptions) {
    if (!(o.where & Option::kCommandLine)) continue;
    const std::string spec =
        o.short_flag != 0 ? fmt::format("{},{}", o.name, o.short_flag) : std::string(o.name);
    all.add_options()(spec.c_str(), po::value<std::string>(), "");
    std::string_view rest = o.aliases;
    while (!rest.empty()) {
      const auto space = rest.find(' ');
      all.add_options()(std::string(rest.substr(0, space)).c_str(), po::value<std::string>(), "");
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    }
  }

  po::variables_map vm;
  try {
    // No abbreviations: --max would silently pick one of several options.
    const int style =
        po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(argc, argv).options(all).style(style).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return fail(e.what());
  }
  if (vm.count("help")) return {ParseOutcome::Action::kExit, 0, help_text()};
  if (vm.count("version")) {
    return {ParseOutcome::Action::kExit, 0, fmt::format("raftd {}\n", version_string())};
  }

  Config c = default_config();
  if (!config_file.empty()) {
    c.config_file = config_file;
    auto settings = read_config_file(config_file);
    if (!settings) return fail(settings.message());
    for (const FileSetting& f : *settings) {
      const Option* o = find_option(f.name);
      if (Status s = o->set(c, f.value); !s) {
        return fail(fmt::format("config file '{}' line {}: {}: {} ('{}')", config_file, f.line,
                                f.name, s.message(), f.value));
      }
    }
  }
  for (const Option& o : kOptions) {
    if (!(o.where & Option::kCommandLine)) continue;
    std::string given;  // the spelling used
    for (const auto& [key, value] : vm) {
      if (key == "help" || key == "version" || key == "config" || !o.named(key)) continue;
      if (!given.empty()) {
        return fail(fmt::format("--{} and --{} set the same option", given, key));
      }
      given = key;
      const std::string& text = value.as<std::string>();
      if (Status s = o.set(c, text); !s) {
        return fail(fmt::format("--{}: {} ('{}')", key, s.message(), text));
      }
    }
  }
  if (Status s = check_config(c); !s) return fail(s.message());
  config = std::move(c);
  return {};
}

Status rewrite_config_file(const Config& config) {
  if (config.config_file.empty()) {
    return Status::error("The server is running without a config file");
  }
  const std::string& path = config.config_file;
  std::ifstream in(path);
  if (!in) return Status::error(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  const auto line_for = [](const Option& o, const Config& c) {
    return fmt::format("{} {}", o.name, quote_if_needed(o.get(c)));
  };
  std::string out;
  std::set<const Option*> written;
  for (std::string text; std::getline(in, text);) {
    const auto [name, raw] = split_setting(text);
    const Option* o = name.empty() ? nullptr : find_option(name);
    if (o == nullptr || !(o->where & Option::kFile) || written.count(o)) {
      out += text + "\n";
      continue;
    }
    written.insert(o);
    // A secret is never written from memory: one in the file stays as it was, one given on
    // the command line stays out of a file others may read.
    out += o->sensitive ? text + "\n" : line_for(*o, config) + "\n";
  }
  const Config defaults = default_config();
  bool header = false;
  for (const Option& o : kOptions) {
    if (!(o.where & Option::kFile) || o.sensitive || written.count(&o)) continue;
    if (o.get(defaults) == o.get(config)) continue;
    if (!header) out += "\n# Generated by CONFIG REWRITE\n";
    header = true;
    out += line_for(o, config) + "\n";
  }
  const std::string tmp = path + ".rewrite.tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::error(fmt::format("cannot write '{}': {}", tmp, std::strerror(errno)));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const bool ok = done == out.size() && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = ok ? errno : saved;
    ::unlink(tmp.c_str());
    return Status::error(fmt::format("cannot write '{}': {}", path, std::strerror(err)));
  }
  return Status::ok();
}

}  // namespace raftd
