#include "server/config.h"

#include <fmt/core.h>

#include <boost/program_options.hpp>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

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

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Every option, with its default; conf/raftd.conf mirrors this list.
struct RawOptions {
  std::string addr, data_dir, ensemble, id, log_level, log_file, proto_max_bulk_len, max_entry_size,
      max_clients, query_buffer_limit, output_pause, tcp_backlog, tick_ms, election_ticks,
      follower_writes, read_consistency, request_timeout, peer_secret, peer_secret_file,
      snapshot_interval;
};

po::options_description settings_description(RawOptions& raw) {
  po::options_description d("Settings (also accepted in the --config file as `name = value`)");
  // clang-format off
  d.add_options()
    ("addr,a", po::value(&raw.addr)->default_value("127.0.0.1:7001")->value_name("host:port"),
     "client address; Raft peers use port+1 on the same host")
    ("data-dir,d", po::value(&raw.data_dir)->default_value("data")->value_name("DIR"),
     "data directory, created if missing")
    ("ensemble,e", po::value(&raw.ensemble)->default_value("")->value_name("host:port,..."),
     "cluster members' client addresses (host:port or id/host:port); empty: single node")
    ("id,i", po::value(&raw.id)->default_value("")->value_name("ID"),
     "this node's id, a positive integer; empty: derived from --addr")
    ("tick-ms", po::value(&raw.tick_ms)->default_value("100")->value_name("MS"),
     "length of one Raft tick (heartbeat interval)")
    ("election-ticks", po::value(&raw.election_ticks)->default_value("10")->value_name("N"),
     "election timeout in ticks (randomised in [N, 2N))")
    ("follower-writes", po::value(&raw.follower_writes)->default_value("forward")
         ->value_name("MODE"),
     "forward: a follower forwards writes to the leader; redirect: reply -MOVED 0 leader")
    ("read-consistency", po::value(&raw.read_consistency)->default_value("linearizable")
         ->value_name("MODE"),
     "linearizable (ReadIndex) or stale (local state, no round trip)")
    ("request-timeout", po::value(&raw.request_timeout)->default_value("10000")
         ->value_name("MS"),
     "a write or read not decided within MS gets -TIMEOUT")
    ("snapshot-interval", po::value(&raw.snapshot_interval)->default_value("100000")
         ->value_name("N"),
     "snapshot the state machine every N applied entries and compact the log; 0: only on "
     "CHECKPOINT")
    ("peer-secret", po::value(&raw.peer_secret)->default_value("")->value_name("SECRET"),
     "the cluster secret every peer proves in its handshake; empty: made up when the cluster "
     "is formed and kept in DIR/SECRET")
    ("peer-secret-file", po::value(&raw.peer_secret_file)->default_value("")->value_name("FILE"),
     "read the cluster secret from FILE (its first line); overrides --peer-secret")
    ("log-level", po::value(&raw.log_level)->default_value("info")->value_name("LEVEL"),
     "debug, info, warn or error")
    ("log-file", po::value(&raw.log_file)->default_value("")->value_name("FILE"),
     "append the log to FILE; empty: stderr")
    ("proto-max-bulk-len", po::value(&raw.proto_max_bulk_len)->default_value("512mb")
         ->value_name("BYTES"),
     "largest bulk string a client may send (at least 1mb)")
    ("max-entry-size", po::value(&raw.max_entry_size)->default_value("4mb")->value_name("BYTES"),
     "refuse a write whose arguments add up to more bytes (64kb to 32mb): it is replicated whole")
    ("max-clients", po::value(&raw.max_clients)->default_value("10000")->value_name("N"),
     "connected clients at most; further ones get an error and are closed")
    ("client-query-buffer-limit", po::value(&raw.query_buffer_limit)->default_value("1gb")
         ->value_name("BYTES"),
     "close a client whose unparsed input exceeds this")
    ("client-output-pause", po::value(&raw.output_pause)->default_value("64mb")
         ->value_name("BYTES"),
     "stop reading from a client whose unsent replies exceed this, until they drain")
    ("tcp-backlog", po::value(&raw.tcp_backlog)->default_value("511")->value_name("N"),
     "listen() backlog");
  // clang-format on
  return d;
}

ParseOutcome fail(std::string message) {
  return {ParseOutcome::Action::kExit, 2,
          fmt::format("raftd: {}\nTry 'raftd --help' for more information.\n", message)};
}

std::optional<Member> parse_member(std::string_view text, std::string& error) {
  Member m;
  const auto slash = text.find('/');
  if (slash != std::string_view::npos) {
    if (!parse_number(text.substr(0, slash), m.id) || m.id == 0) {
      error = fmt::format("bad node id in ensemble member '{}'", text);
      return std::nullopt;
    }
    text.remove_prefix(slash + 1);
  }
  auto ep = parse_endpoint(text, error);
  if (!ep) return std::nullopt;
  m.addr = std::move(*ep);
  return m;
}

}  // namespace

std::optional<Endpoint> parse_endpoint(std::string_view text, std::string& error) {
  Endpoint ep;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = fmt::format("bad address '{}': expected [ipv6]:port", text);
      return std::nullopt;
    }
    ep.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = fmt::format("bad address '{}': expected host:port", text);
      return std::nullopt;
    }
    ep.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (ep.host.find(':') != std::string::npos) {
      error = fmt::format("bad address '{}': write IPv6 hosts as [addr]:port", text);
      return std::nullopt;
    }
  }
  unsigned value = 0;
  if (ep.host.empty()) {
    error = fmt::format("bad address '{}': empty host", text);
    return std::nullopt;
  }
  if (!parse_number(port, value) || value == 0 || value > 65534) {
    error = fmt::format("bad port in '{}': expected 1..65534 (peers use port+1)", text);
    return std::nullopt;
  }
  ep.port = static_cast<std::uint16_t>(value);
  return ep;
}

std::optional<std::size_t> parse_memory(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::uint64_t value = 0;
  if (!parse_number(text.substr(0, digits), value)) return std::nullopt;
  const std::string unit = lower(text.substr(digits));
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

ParseOutcome parse_config(int argc, const char* const* argv, Config& config) {
  RawOptions raw;
  std::string config_file;
  po::options_description generic("General");
  // clang-format off
  generic.add_options()
    ("help,h", "print this help and exit")
    ("version,v", "print the version and exit")
    ("config", po::value(&config_file)->value_name("FILE"),
     "read settings from FILE; flags on the command line override it");
  // clang-format on
  po::options_description settings = settings_description(raw);
  po::options_description all;
  all.add(generic).add(settings);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
    if (vm.count("help")) {
      std::ostringstream out;
      out << "raftd " << version_string()
          << " - a Raft-replicated key-value daemon speaking the Redis protocol\n\n"
          << "Usage: raftd [-a host:port] [-d DIR] [-e host:port,...] [-i ID] [--config FILE] "
             "[options]\n\n"
          << all << "\nExample: raftd -a 127.0.0.1:7001 -d data/n1\n";
      return {ParseOutcome::Action::kExit, 0, out.str()};
    }
    if (vm.count("version")) {
      return {ParseOutcome::Action::kExit, 0, fmt::format("raftd {}\n", version_string())};
    }
    if (vm.count("config")) {
      config_file = vm["config"].as<std::string>();
      std::ifstream in(config_file);
      if (!in) return fail(fmt::format("cannot read config file '{}'", config_file));
      // Values already stored from the command line are kept: store() does not overwrite them.
      po::store(po::parse_config_file(in, settings), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return fail(config_file.empty() ? e.what()
                                    : fmt::format("{} (config file '{}')", e.what(), config_file));
  }

  Config c;
  c.config_file = config_file;
  std::string error;
  auto addr = parse_endpoint(raw.addr, error);
  if (!addr) return fail(fmt::format("--addr: {}", error));
  c.addr = *addr;

  if (raw.data_dir.empty()) return fail("--data-dir must not be empty");
  c.data_dir = raw.data_dir;

  std::set<std::string> seen_addrs;
  std::set<std::uint64_t> seen_ids;
  std::string_view rest = raw.ensemble;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.empty()) return fail("--ensemble: empty member in the list");
    auto member = parse_member(item, error);
    if (!member) return fail(fmt::format("--ensemble: {}", error));
    if (!seen_addrs.insert(member->addr.to_string()).second) {
      return fail(fmt::format("--ensemble: member {} listed twice", member->addr.to_string()));
    }
    if (member->id != 0 && !seen_ids.insert(member->id).second) {
      return fail(fmt::format("--ensemble: node id {} listed twice", member->id));
    }
    c.ensemble.push_back(std::move(*member));
  }

  if (!raw.id.empty() && (!parse_number(raw.id, c.id) || c.id == 0)) {
    return fail(fmt::format("--id: '{}' is not a positive integer", raw.id));
  }
  int tick = 0, eticks = 0, rtimeout = 0;
  if (!parse_number(raw.tick_ms, tick) || tick < 1 || tick > 10000) {
    return fail(fmt::format("--tick-ms: '{}' is not in 1..10000", raw.tick_ms));
  }
  if (!parse_number(raw.election_ticks, eticks) || eticks < 2 || eticks > 1000) {
    return fail(fmt::format("--election-ticks: '{}' is not in 2..1000", raw.election_ticks));
  }
  if (!parse_number(raw.request_timeout, rtimeout) || rtimeout < 1) {
    return fail(
        fmt::format("--request-timeout: '{}' is not a positive integer", raw.request_timeout));
  }
  if (!parse_number(raw.snapshot_interval, c.snapshot_interval)) {
    return fail(fmt::format("--snapshot-interval: '{}' is not a non-negative integer",
                            raw.snapshot_interval));
  }
  c.tick_ms = tick;
  c.election_ticks = eticks;
  c.request_timeout_ms = rtimeout;
  if (raw.follower_writes == "forward" || raw.follower_writes == "redirect") {
    c.forward_writes = raw.follower_writes == "forward";
  } else {
    return fail(
        fmt::format("--follower-writes: '{}' is not forward or redirect", raw.follower_writes));
  }
  if (raw.read_consistency == "linearizable" || raw.read_consistency == "stale") {
    c.linearizable_reads = raw.read_consistency == "linearizable";
  } else {
    return fail(
        fmt::format("--read-consistency: '{}' is not linearizable or stale", raw.read_consistency));
  }
  c.peer_secret = raw.peer_secret;
  if (!raw.peer_secret_file.empty()) {
    std::ifstream in(raw.peer_secret_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      return fail(fmt::format("--peer-secret-file: cannot read '{}'", raw.peer_secret_file));
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) {
      return fail(
          fmt::format("--peer-secret-file: '{}' has an empty first line", raw.peer_secret_file));
    }
    c.peer_secret = line;
  }
  if (!c.peer_secret.empty() && c.peer_secret.size() < 16) {
    return fail("--peer-secret: at least 16 characters (a guessable secret protects nothing)");
  }
  // The ensemble may list this node or only the others; either way ids must agree with -a/-i.
  for (const Member& m : c.ensemble) {
    if (m.addr == c.addr && m.id != 0 && c.id != 0 && m.id != c.id) {
      return fail(fmt::format("--id {} does not match the ensemble's entry {}/{} for --addr", c.id,
                              m.id, m.addr.to_string()));
    }
    if (c.id != 0 && m.id == c.id && !(m.addr == c.addr)) {
      return fail(fmt::format("--ensemble: node id {} is this node's (--id) but is given to {}",
                              m.id, m.addr.to_string()));
    }
  }
  auto level = log::parse_level(lower(raw.log_level));
  if (!level) {
    return fail(
        fmt::format("--log-level: '{}' is not one of debug, info, warn, error", raw.log_level));
  }
  c.log_level = *level;
  c.log_file = raw.log_file;

  auto bulk = parse_memory(raw.proto_max_bulk_len);
  if (!bulk || *bulk < 1024 * 1024) {
    return fail(fmt::format("--proto-max-bulk-len: '{}' is not a size of at least 1mb",
                            raw.proto_max_bulk_len));
  }
  c.proto_max_bulk_len = *bulk;
  auto entry = parse_memory(raw.max_entry_size);
  if (!entry || *entry < 64 * 1024 || *entry > kMaxEntrySizeLimit) {
    return fail(
        fmt::format("--max-entry-size: '{}' is not a size from 64kb to 32mb", raw.max_entry_size));
  }
  c.max_entry_size = *entry;
  if (!parse_number(raw.max_clients, c.max_clients) || c.max_clients == 0) {
    return fail(fmt::format("--max-clients: '{}' is not a positive integer", raw.max_clients));
  }
  auto qlimit = parse_memory(raw.query_buffer_limit);
  if (!qlimit || *qlimit < 1024 * 1024) {
    return fail(fmt::format("--client-query-buffer-limit: '{}' is not a size of at least 1mb",
                            raw.query_buffer_limit));
  }
  c.client_query_buffer_limit = *qlimit;
  auto pause = parse_memory(raw.output_pause);
  if (!pause || *pause < 64 * 1024) {
    return fail(fmt::format("--client-output-pause: '{}' is not a size of at least 64kb",
                            raw.output_pause));
  }
  c.client_output_pause = *pause;
  if (!parse_number(raw.tcp_backlog, c.tcp_backlog) || c.tcp_backlog <= 0) {
    return fail(fmt::format("--tcp-backlog: '{}' is not a positive integer", raw.tcp_backlog));
  }
  config = std::move(c);
  return {};
}

}  // namespace raftd
