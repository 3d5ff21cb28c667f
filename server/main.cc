// raftd: a Raft-replicated key-value daemon speaking the Redis protocol.
#include <fmt/core.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>  // before boost/asio (g++ 12 + Boost 1.74)

#include "server/client/event_loop.h"
#include "server/client/server.h"
#include "server/client/session.h"
#include "server/commands/connection_commands.h"
#include "server/config.h"
#include "server/keyspace/kv_commands.h"
#include "server/keyspace/state_machine.h"
#include "server/log.h"
#include "server/node/proposer.h"
#include "server/node/raft_host.h"
#include "server/server_state.h"
#include "server/status.h"
#include "storage/data_dir.h"

namespace {

raftd::Status prepare_data_dir(const std::string& dir) {
  using raftd::Status;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::error("cannot create data directory '" + dir + "': " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::error("data directory '" + dir + "' is not a directory");
  }
  return Status::ok();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace raftd;
  Config config;
  const ParseOutcome outcome = parse_config(argc, argv, config);
  if (outcome.action == ParseOutcome::Action::kExit) {
    std::fputs(outcome.output.c_str(), outcome.exit_code == 0 ? stdout : stderr);
    return outcome.exit_code;
  }

  // Node ids default to a hash of the client address, so `-a` alone names a node and every
  // member derives the same ids from the same -e list.
  if (config.id == 0) config.id = node_id_for(config.addr.to_string());
  ClusterConfig cluster;
  cluster.id = config.id;
  cluster.host = config.addr.host;
  cluster.port = config.addr.port;
  cluster.members[config.id] = config.addr.to_string();
  for (const Member& m : config.ensemble) {
    if (m.addr == config.addr) continue;
    const std::uint64_t id = m.id != 0 ? m.id : node_id_for(m.addr.to_string());
    if (cluster.members.count(id)) {
      std::fprintf(stderr, "raftd: two members share node id %llu\n",
                   static_cast<unsigned long long>(id));
      return 2;
    }
    cluster.members[id] = m.addr.to_string();
  }
  cluster.tick_ms = config.tick_ms;
  cluster.election_ticks = config.election_ticks;
  cluster.forward_writes = config.forward_writes;
  cluster.linearizable_reads = config.linearizable_reads;
  cluster.request_timeout_ms = config.request_timeout_ms;
  cluster.snapshot_interval = config.snapshot_interval;
  cluster.secret = config.cluster_secret;

  log::Logger& logger = log::Logger::instance();
  logger.set_level(config.log_level);
  logger.set_context(fmt::format("n{}", config.id));  // the node host adds term and role
  if (Status st = logger.open(config.log_file); !st) {
    std::fprintf(stderr, "raftd: %s\n", st.message().c_str());
    return 1;
  }
  if (Status st = prepare_data_dir(config.data_dir); !st) {
    log::error("{}", st.message());
    std::fprintf(stderr, "raftd: %s\n", st.message().c_str());
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);  // a vanished client is an error code, not a signal

  // The data directory: lock, identity (a directory whose log is gone, or of another node, is
  // refused), the Raft log and snapshots. Damage found here stops the node: it is never served.
  // The cluster id is not known here: it is made when the cluster is formed (membership.h).
  storage::Identity identity;
  identity.node_id = config.id;
  identity.address = config.addr.to_string();
  storage::DataDir::Options dir_options;
  // The log reaches back to the previous snapshot, so a damaged newest snapshot file is never
  // the end of this node's data: it falls back to the older one and replays the log.
  dir_options.keep_log_to_previous_snapshot = true;
  auto opened = storage::DataDir::open(config.data_dir, identity, dir_options);
  if (!opened) {
    log::error("{}", opened.message());
    std::fprintf(stderr, "raftd: %s\n", opened.message().c_str());
    return 1;
  }
  std::unique_ptr<storage::DataDir> data_dir = std::move(*opened);
  for (const std::string& d : data_dir->diagnostics()) log::warn("{}", d);

  CommandTable table;
  register_kv_commands(table);
  register_connection_commands(table);
  StateMachine state_machine(table);
  ServerState state(config, table, state_machine);

  // One thread does all socket I/O (clients and peers) and runs the Raft core, so the reactor
  // needs no locks; other threads (a disk writer) may still post() to the loop.
  boost::asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  RaftHost host(io, cluster, state.config, *data_dir, state_machine);
  state.proposer = &host;
  state.admin = &host;
  host.set_before_sync([&state] { Session::flush_scheduled(state); });
  Server server(io, state, host);
  if (Status st = server.listen(); !st) {
    log::error("{}", st.message());
    std::fprintf(stderr, "raftd: %s\n", st.message().c_str());
    return 1;
  }
  if (Status st = host.start(); !st) {
    log::error("{}", st.message());
    std::fprintf(stderr, "raftd: %s\n", st.message().c_str());
    return 1;
  }

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log::info("received {}, shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
    // A leader hands over to a caught-up follower first, so clients see no election gap.
    host.shutdown([&] { server.stop(); });
  });

  log::info(
      "raftd {} (node {}) serving clients on {}, peers on port {}, {} member(s), data in '{}'",
      version_string(), config.id, config.addr.to_string(), config.addr.port + 1,
      cluster.members.size(), config.data_dir);
  server.start();
  host.set_loop_calls_before_sleep(true);
  run_event_loop(io, [&host] { return host.before_sleep(); });
  log::info("raftd stopped");
  return 0;
}
