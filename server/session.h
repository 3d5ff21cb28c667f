// One client connection (Redis's `client`): reads into a per-connection buffer, parses every
// complete command in it, runs them, and sends all their replies with one write.
//
// Reply order: each command gets the next reply slot. A reply that is ready while no earlier
// one is pending goes straight into the output buffer; otherwise it waits in `pending_` behind
// the earlier slots, and a write's completion (which may arrive much later once Raft commits it)
// releases every ready reply behind it. So a read never overtakes an earlier write.
//
// Back pressure: reading stops while the unsent output exceeds config.client_output_pause and
// resumes as it drains; a client whose unparsed input exceeds client_query_buffer_limit is
// closed, as Redis does.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>  // before boost/asio (g++ 12 + Boost 1.74)
#include <vector>

#include "resp/parser.h"
#include "server/client_context.h"

namespace raftd {

class Dispatcher;

class Session final : public ClientContext, public std::enable_shared_from_this<Session> {
 public:
  Session(ServerState& server, Dispatcher& dispatcher, boost::asio::ip::tcp::socket socket);
  ~Session() override;

  /// Registers the client and starts reading.
  void start();

  Proposer::Completion defer_reply() override;
  void close_after_reply() override;
  void kill() override;
  std::size_t query_buffer_used() const override { return in_end_ - in_begin_; }
  std::size_t query_buffer_free() const override { return in_.size() - in_end_; }
  std::size_t output_buffer_used() const override;
  std::string events() const override;

 private:
  struct Slot {
    bool ready = false;
    std::string reply;
  };

  void read();
  void on_read(const boost::system::error_code& ec, std::size_t bytes);
  void make_read_space();
  /// Runs every complete command in the input buffer (stops early when output is over the
  /// limit or the client is closing).
  void process_input();
  void execute(const resp::Command& command);
  void complete(std::uint64_t seq, std::string_view reply);
  void flush();
  void on_written(const boost::system::error_code& ec, std::size_t bytes);
  void close(std::string_view why);
  bool output_over_limit() const;

  boost::asio::ip::tcp::socket socket_;
  Dispatcher& dispatcher_;
  resp::Parser parser_;
  resp::Command command_;

  std::vector<char> in_;  // bytes [in_begin_, in_end_) are received but not yet consumed
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::string out_;                 // replies ready to send
  std::string sending_;             // the batch handed to the in-flight async_write
  std::string scratch_;             // a reply made while earlier ones are pending
  std::deque<Slot> pending_;        // replies not yet in out_, in command order
  std::uint64_t pending_base_ = 0;  // slot number of pending_.front()
  std::int64_t batch_now_ms_ = 0;   // one clock read per batch of commands

  bool reading_ = false;
  bool writing_ = false;
  bool processing_ = false;
  bool closing_ = false;  // close once every queued reply is sent
  bool closed_ = false;
};

}  // namespace raftd
