// The client listener: accepts connections on config.addr and runs a Session for each, on the
// one event-loop thread. Also owns the periodic chores (INFO's ops/sec sample, the expiry sweep).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <string>
#include <utility>  // before boost/asio (g++ 12 + Boost 1.74)

#include "server/client/dispatcher.h"
#include "server/server_state.h"
#include "server/status.h"

namespace raftd {

class Proposer;

class Server {
 public:
  Server(boost::asio::io_context& io, ServerState& state, Proposer& proposer);

  /// Binds and listens; an error if the address cannot be used.
  Status listen();
  /// Starts accepting and the periodic chores.
  void start();
  /// Stops accepting and closes every client; io.run() returns once their handlers finish.
  void stop();

 private:
  void accept();
  void on_accept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);
  void reject(boost::asio::ip::tcp::socket& socket, std::string_view why);
  void schedule_cron();
  void cron();
  void expire_step(std::int64_t now_ms);

  boost::asio::io_context& io_;
  ServerState& state_;
  Proposer& proposer_;
  Dispatcher dispatcher_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer cron_timer_;
  boost::asio::steady_timer accept_retry_timer_;
  bool stopped_ = false;
};

}  // namespace raftd
