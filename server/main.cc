// raftd: a Raft-replicated key-value daemon speaking the Redis protocol.
#include <fmt/core.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>  // before boost/asio (g++ 12 + Boost 1.74)

#include "server/config.h"
#include "server/connection_commands.h"
#include "server/kv/kv_commands.h"
#include "server/kv/state_machine.h"
#include "server/log.h"
#include "server/proposer.h"
#include "server/server.h"
#include "server/server_state.h"

namespace {

bool prepare_data_dir(const std::string& dir, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    error = "cannot create data directory '" + dir + "': " + ec.message();
    return false;
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    error = "data directory '" + dir + "' is not a directory";
    return false;
  }
  return true;
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

  log::Logger& logger = log::Logger::instance();
  logger.set_level(config.log_level);
  logger.set_context(fmt::format("n{}", config.id));  // the node host adds term and role
  if (std::string error; !logger.open(config.log_file, error)) {
    std::fprintf(stderr, "raftd: %s\n", error.c_str());
    return 1;
  }
  if (std::string error; !prepare_data_dir(config.data_dir, error)) {
    log::error("{}", error);
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);  // a vanished client is an error code, not a signal

  CommandTable table;
  register_kv_commands(table);
  register_connection_commands(table);
  StateMachine state_machine(table);
  LocalProposer proposer(state_machine);
  ServerState state(config, table, state_machine);

  // One thread does all socket I/O (clients, and later peers), so the reactor needs no locks;
  // other threads (a disk writer) may still post() to the loop.
  boost::asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  Server server(io, state, proposer);
  if (std::string error; !server.listen(error)) {
    log::error("{}", error);
    return 1;
  }

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log::info("received {}, shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
    server.stop();
  });

  if (!config.ensemble.empty()) {
    log::warn(
        "ensemble of {} members given; clustering is not available yet, serving as a "
        "single node",
        config.ensemble.size());
  }
  log::info("raftd {} (node {}) serving clients on {}, data in '{}'", version_string(), config.id,
            config.addr.to_string(), config.data_dir);
  server.start();
  io.run();
  log::info("raftd stopped");
  return 0;
}
