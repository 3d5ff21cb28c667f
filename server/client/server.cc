#include "server/client/server.h"

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <set>

#include "server/client/session.h"
#include "server/keyspace/keyspace.h"
#include "server/keyspace/state_machine.h"
#include "server/log.h"
#include "server/node/proposer.h"

namespace raftd {

namespace {

using boost::asio::ip::tcp;

constexpr auto kCronPeriod = std::chrono::milliseconds(100);  // Redis hz 10
// Active expiry, after Redis's activeExpireCycle: bounded work per tick so a mass expiry never
// stalls the loop; the rest waits for the next tick.
constexpr std::size_t kReapBatch = 200;  // keys per REAPEXPIRED entry
constexpr int kReapBatchesPerTick = 10;  // at most 2000 keys reaped per 100 ms tick
constexpr auto kReapBudget = std::chrono::milliseconds(25);  // 25% of the tick, as Redis

}  // namespace

Server::Server(boost::asio::io_context& io, ServerState& state, Proposer& proposer)
    : io_(io),
      state_(state),
      proposer_(proposer),
      dispatcher_(state, proposer),
      acceptor_(io),
      cron_timer_(io),
      accept_retry_timer_(io) {}

Status Server::listen() {
  const Endpoint& addr = state_.config.addr;
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  auto results = resolver.resolve(addr.host, std::to_string(addr.port),
                                  tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return Status::error("cannot resolve " + addr.to_string() + ": " + ec.message());
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(state_.config.tcp_backlog, ec);
  if (ec) return Status::error("cannot listen on " + addr.to_string() + ": " + ec.message());
  state_.bound_port = acceptor_.local_endpoint(ec).port();
  return Status::ok();
}

void Server::start() {
  accept();
  schedule_cron();
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  cron_timer_.cancel();
  accept_retry_timer_.cancel();
  // Replies completed just before the stop (the host failing what was still waiting) are
  // queued for one write per client: send them before the sockets close.
  Session::flush_scheduled(state_);
  // kill() erases the client from the map, so walk a copy.
  std::vector<ClientContext*> clients;
  for (auto& [id, client] : state_.clients) clients.push_back(client);
  for (ClientContext* client : clients) client->kill();
}

void Server::accept() {
  if (stopped_) return;
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void Server::on_accept(const boost::system::error_code& ec, tcp::socket socket) {
  if (stopped_ || ec == boost::asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors or memory: accepting again at once would spin; wait a little.
    log::warn("accept failed: {}", ec.message());
    accept_retry_timer_.expires_after(std::chrono::milliseconds(100));
    accept_retry_timer_.async_wait([this](const boost::system::error_code& wait_ec) {
      if (!wait_ec) accept();
    });
    return;
  }
  if (state_.clients.size() >= state_.config.max_clients) {
    ++state_.stats.rejected_connections;
    reject(socket, "-ERR max number of clients reached\r\n");
  } else {
    ++state_.stats.total_connections_received;
    boost::system::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);  // replies must not wait for Nagle
    std::make_shared<Session>(state_, dispatcher_, std::move(socket))->start();
  }
  accept();
}

void Server::reject(tcp::socket& socket, std::string_view why) {
  // Best effort, never blocking the loop: the socket buffer of a new connection is empty.
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(boost::asio::buffer(why.data(), why.size()), ec);
  socket.close(ec);
}

void Server::schedule_cron() {
  if (stopped_) return;
  cron_timer_.expires_after(kCronPeriod);
  cron_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    cron();
    schedule_cron();
  });
}

void Server::cron() {
  const std::int64_t now_ms = ServerState::wall_ms();
  state_.ops_per_sec.sample(state_.stats.total_commands_processed, now_ms);
  expire_step(now_ms);
}

void Server::expire_step(std::int64_t now_ms) {
  // Only the proposer of deletes removes expired keys (Redis: only the primary expires keys;
  // replicas wait for its DELs). Reads elsewhere just hide them.
  if (!proposer_.may_reap()) return;  // followers hide expired keys and wait for the leader
  Keyspace& keyspace = state_.state_machine.keyspace();
  if (keyspace.stats().expires == 0) {
    keyspace.drain_expired_candidates();  // nothing can be expired without an expiry
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + kReapBudget;
  for (int batch = 0; batch < kReapBatchesPerTick; ++batch) {
    std::set<std::string> names;
    for (std::string& name : keyspace.drain_expired_candidates()) names.insert(std::move(name));
    if (names.size() < kReapBatch) {
      for (std::string& name : keyspace.sample_expired(now_ms, kReapBatch - names.size())) {
        names.insert(std::move(name));
      }
    }
    if (names.empty()) return;
    const std::vector<std::string> keys(names.begin(), names.end());
    proposer_.propose(make_reap_entry(now_ms, keys), [](std::string_view) {});
    if (names.size() < kReapBatch || std::chrono::steady_clock::now() >= deadline) return;
  }
}

}  // namespace raftd
