// State of the whole daemon that commands and sessions share: settings, counters for INFO,
// the connected clients, the command table and the state machine. Lives on the event-loop
// thread only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/config.h"

namespace raftd {

class ClientContext;
class CommandTable;
class StateMachine;

/// Counters behind INFO stats (Redis names).
struct ServerStats {
  std::uint64_t total_connections_received = 0;
  std::uint64_t total_commands_processed = 0;
  std::uint64_t rejected_connections = 0;
  std::uint64_t total_net_input_bytes = 0;
  std::uint64_t total_net_output_bytes = 0;
  std::uint64_t total_error_replies = 0;
  std::uint64_t total_reads_processed = 0;
  std::uint64_t total_writes_processed = 0;
  std::uint64_t client_query_buffer_limit_disconnections = 0;
};

/// Redis's instantaneous metric: a ring of per-interval rates, averaged.
class InstantaneousMetric {
 public:
  /// Call every sample period with the counter's current value.
  void sample(std::uint64_t value, std::int64_t now_ms);
  std::uint64_t per_second() const;

 private:
  static constexpr std::size_t kSamples = 16;
  std::array<std::uint64_t, kSamples> rates_{};
  std::size_t next_ = 0;
  std::uint64_t last_value_ = 0;
  std::int64_t last_ms_ = 0;
};

class NodeAdmin;
class Proposer;
class Session;

class ServerState {
 public:
  ServerState(Config cfg, const CommandTable& table, StateMachine& sm);

  Config config;  ///< CONFIG SET may change some fields at run time
  const CommandTable& commands;
  StateMachine& state_machine;
  ServerStats stats;
  InstantaneousMetric ops_per_sec;
  /// Connected clients by id: ordered, so CLIENT LIST is in connection order.
  std::map<std::uint64_t, ClientContext*> clients;
  std::uint64_t next_client_id = 1;
  /// Clients with replies completed outside their own input handling (a Raft batch applied),
  /// each listed once: Session::flush_scheduled() sends them, one write per client.
  std::vector<std::shared_ptr<Session>> clients_to_flush;
  std::string run_id;            ///< 40 random hex characters, new every start (as Redis's run_id)
  std::uint16_t bound_port = 0;  ///< the port actually listened on
  /// Where writes and reads go. Set by main before serving.
  Proposer* proposer = nullptr;
  /// INFO's "# Raft" section, CHECKPOINT and live option changes; null without a node host.
  NodeAdmin* admin = nullptr;

  /// Wall-clock milliseconds since the epoch: the "now" a write is stamped with and reads
  /// expire against.
  static std::int64_t wall_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
  std::int64_t start_ms() const { return start_ms_; }
  std::int64_t uptime_seconds() const;

 private:
  std::int64_t start_ms_;
  std::chrono::steady_clock::time_point start_steady_;
};

}  // namespace raftd
