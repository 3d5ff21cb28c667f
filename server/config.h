// The daemon's settings: command-line flags, optionally over a config file (conf/raftd.conf
// lists every option with its default). Parsing only validates; nothing is opened here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/log.h"

namespace raftd {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;

  /// "host:port", with IPv6 hosts in brackets ("[::1]:7001").
  std::string to_string() const;
  bool operator==(const Endpoint&) const = default;
};

/// One member of the ensemble as given to -e: its client address, and its node id when written
/// as "id/host:port" (0 when not given).
struct Member {
  std::uint64_t id = 0;
  Endpoint addr;
};

inline constexpr std::size_t kDefaultMaxEntrySize = 4ull * 1024 * 1024;
inline constexpr std::size_t kMaxEntrySizeLimit = 32ull * 1024 * 1024;

struct Config {
  Endpoint addr{"127.0.0.1", 7001};  ///< client port N; Raft peers will use N+1
  std::string data_dir = "data";
  std::vector<Member> ensemble;  ///< parsed and validated now; used once clustering lands
  std::uint64_t id = 0;     ///< -i; when not given, derived from addr (node_id_for in raft_host.h)
  int tick_ms = 100;        ///< one Raft tick
  int election_ticks = 10;  ///< election timeout: [N, 2N) ticks
  bool forward_writes = true;                ///< --follower-writes forward|redirect
  bool linearizable_reads = true;            ///< --read-consistency linearizable|stale
  int request_timeout_ms = 10000;            ///< -TIMEOUT for writes/reads not decided by then
  std::uint64_t snapshot_interval = 100000;  ///< applied entries between snapshots; 0: never
  std::string peer_secret;                   ///< shared secret proven in peer handshakes
  log::Level log_level = log::Level::kInfo;
  std::string log_file;                                   ///< empty: stderr
  std::size_t proto_max_bulk_len = 512ull * 1024 * 1024;  ///< Redis proto-max-bulk-len
  /// A write whose arguments add up to more bytes is refused before it is proposed: every node
  /// holds its log entry several times over while it is copied, synced and replicated, and the
  /// other clients wait meanwhile. At most kMaxEntrySizeLimit, so an entry fits one peer frame.
  std::size_t max_entry_size = kDefaultMaxEntrySize;
  std::size_t max_clients = 10000;  ///< Redis maxclients
  /// Redis client-query-buffer-limit: a client whose unparsed input grows past this is closed.
  std::size_t client_query_buffer_limit = 1024ull * 1024 * 1024;
  /// Stop reading from a client whose unsent replies exceed this, until they drain (back
  /// pressure for huge pipelines instead of unbounded memory).
  std::size_t client_output_pause = 64ull * 1024 * 1024;
  int tcp_backlog = 511;    ///< Redis tcp-backlog
  std::string config_file;  ///< where the settings came from, if a file was given
};

/// What main() should do after parsing.
struct ParseOutcome {
  enum class Action { kRun, kExit } action = Action::kRun;
  int exit_code = 0;
  std::string output;  ///< text for stdout (help, version) or stderr (errors, exit_code != 0)
};

/// Parses argv (and the --config file, if any; flags given on the command line win).
/// Bad options give Action::kExit with exit code 2 and a one-line reason.
ParseOutcome parse_config(int argc, const char* const* argv, Config& config);

/// "host:port" or "[v6]:port"; port 1..65534 because peers listen on port+1.
std::optional<Endpoint> parse_endpoint(std::string_view text, std::string& error);
/// Redis memory notation: "1024", "512mb", "1gb", "64k" (k=1000, kb=1024, as redis.conf says).
std::optional<std::size_t> parse_memory(std::string_view text);

std::string_view version_string();

}  // namespace raftd
