// The daemon's settings and the one table of options behind them.
//
// Every option is one row of options() (config.cc): its name, the older spellings still
// accepted, its default, what values it takes, whether CONFIG SET may change it while the node
// runs and what then makes the change take effect, and its help text. That row alone drives the
// command-line flags (--name VALUE), --help, config files (`name value` lines, as redis.conf;
// conf/raftd.conf lists every option), CONFIG GET/SET/REWRITE, and the typed field of Config
// the node reads. Nothing else repeats a default. Parsing only validates; apart from a
// --peer-secret-file it reads, nothing is opened here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/log.h"
#include "server/status.h"

namespace raftd {

class ServerState;

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

/// The largest max-entry-size: an entry must fit one peer frame.
inline constexpr std::size_t kMaxEntrySizeLimit = 32ull * 1024 * 1024;

/// The values the node reads. Each field is set from its option's row (defaults included), so
/// the initializers below are only what a test gets from a bare Config{}; parse_config() fills
/// every field from the table.
struct Config {
  Endpoint addr{"127.0.0.1", 7001};  ///< addr: client port N; Raft peers use N+1
  std::string data_dir = "data";     ///< dir
  std::vector<Member> ensemble;      ///< ensemble
  std::uint64_t id = 0;        ///< id; 0: derived from addr (node_id_for, node/member_directory.h)
  int tick_ms = 100;           ///< tick-ms
  int election_ticks = 10;     ///< election-ticks: election timeout in [N, 2N) ticks
  bool forward_writes = true;  ///< follower-writes forward|redirect
  bool linearizable_reads = true;            ///< read-consistency linearizable|stale
  int request_timeout_ms = 10000;            ///< request-timeout
  std::uint64_t snapshot_interval = 100000;  ///< snapshot-interval; 0: only on CHECKPOINT
  std::string peer_secret;                   ///< peer-secret as given
  std::string peer_secret_file;              ///< peer-secret-file
  /// The secret peers prove: peer-secret-file's first line, else peer-secret; empty: the one
  /// made when the cluster formed. Resolved by parse_config(), not an option of its own.
  std::string cluster_secret;
  log::Level log_level = log::Level::kInfo;               ///< loglevel
  std::string log_file;                                   ///< logfile; empty: stderr
  std::size_t proto_max_bulk_len = 512ull * 1024 * 1024;  ///< proto-max-bulk-len
  /// max-entry-size: a write whose arguments add up to more bytes is refused before it is
  /// proposed (every node holds its entry several times over while it is copied, synced and
  /// replicated, and the other clients wait meanwhile).
  std::size_t max_entry_size = 4ull * 1024 * 1024;
  std::size_t max_clients = 10000;  ///< maxclients
  /// client-query-buffer-limit: a client whose unparsed input grows past this is closed.
  std::size_t client_query_buffer_limit = 1024ull * 1024 * 1024;
  /// client-output-pause: stop reading from a client whose unsent replies exceed this, until
  /// they drain (back pressure for huge pipelines instead of unbounded memory).
  std::size_t client_output_pause = 64ull * 1024 * 1024;
  int tcp_backlog = 511;    ///< tcp-backlog
  std::string config_file;  ///< --config: where the settings came from, if a file was given
};

/// One option. Rows are plain data (function pointers, no captures) so the table is a constant.
struct Option {
  /// Where the option may be given.
  enum Where : unsigned {
    kCommandLine = 1u << 0,  ///< --name VALUE
    kFile = 1u << 1,         ///< `name value` in a config file
    kConfigCommand = 1u << 2,
    kEverywhere = kCommandLine | kFile | kConfigCommand,
  };

  std::string_view name;           ///< the one name; Redis's where Redis has the option
  char short_flag = 0;             ///< -a, -d, -e, -i; 0: none
  std::string_view aliases;        ///< older spellings still accepted, space separated
  std::string_view default_value;  ///< as text, checked by set() like any value
  std::string_view value_name;     ///< --help's placeholder: host:port, N, BYTES, ...
  std::string_view help;
  /// CONFIG SET may change it while the node runs. Then on_change (if set) makes the new
  /// value take effect; without it the node reads the field each time it needs it.
  bool live = false;
  /// CONFIG GET and CONFIG REWRITE show whether it is set, never the value.
  bool sensitive = false;
  unsigned where = kEverywhere;
  /// Checks `value` and stores it in `config`; the error says why in Redis's words
  /// ("argument must be between 1 and 4294967295 inclusive").
  Status (*set)(Config& config, std::string_view value) = nullptr;
  std::string (*get)(const Config& config) = nullptr;
  void (*on_change)(ServerState& state) = nullptr;

  /// "--name" with its short form, as --help shows it.
  std::string flags_text() const;
  /// Whether `spelling` names this option (its name or an alias; case-insensitive).
  bool named(std::string_view spelling) const;
};

/// Every option, in --help's order.
std::span<const Option> options();
/// The option named `spelling` (name or alias, case-insensitive); nullptr if none.
const Option* find_option(std::string_view spelling);
/// What `raftd --help` prints.
std::string help_text();

/// What main() should do after parsing.
struct ParseOutcome {
  enum class Action { kRun, kExit } action = Action::kRun;
  int exit_code = 0;
  std::string output;  ///< text for stdout (help, version) or stderr (errors, exit_code != 0)
};

/// Parses argv (and the --config file, if any; flags given on the command line win) into
/// `config`, every field starting from its row's default. Bad options give Action::kExit with
/// exit code 2 and a one-line reason naming the option as it was spelt.
ParseOutcome parse_config(int argc, const char* const* argv, Config& config);

/// Checks what only the options together can say (the ensemble against -a/-i) and resolves
/// cluster_secret. parse_config() calls it; so does CONFIG SET, on the updated copy.
Status check_config(Config& config);

/// CONFIG REWRITE: writes the running values back into the config file the node was started
/// with. Lines that set an option get its current value, everything else (comments, blank
/// lines) stays; options set to other than their default and missing from the file are added
/// at the end. Written to a temporary file, synced and renamed.
Status rewrite_config_file(const Config& config);

/// "host:port" or "[v6]:port"; port 1..65534 because peers listen on port+1.
Result<Endpoint> parse_endpoint(std::string_view text);
/// Redis memory notation: "1024", "512mb", "1gb", "64k" (k=1000, kb=1024, as redis.conf says).
std::optional<std::size_t> parse_memory(std::string_view text);

std::string_view version_string();

}  // namespace raftd
