// One client connection (Redis's `client`): reads into a per-connection buffer, parses every
// complete command in it, runs them, and sends all their replies with one write.
//
// I/O, as Redis's event loop does it: when the socket is readable, read what it holds, run every
// complete command, then try to send the whole batch of replies at once with a non-blocking
// write; only what the socket does not take goes out through an async_write. Readiness is
// awaited with async_wait (no speculative read that would mostly fail with EAGAIN), so a
// request/reply round trip costs one read and one write.
//
// Order: each command gets the next slot of `pending_`. With nothing pending, a command runs
// at once and its reply goes straight into the output buffer (reads and connection commands;
// a write completes once Raft applies it). Once a write is waiting for its log entry to be
// applied (Raft),
//   - a following write is proposed at once, unless a read is waiting ahead of it: the log
//     keeps writes in command order, so pipelined writes still share group commits;
//   - a read (or any other command that is not a write) is run at once when only reads are
//     waiting ahead of it (ReadIndex rounds finish in order, so it cannot overtake them);
//   - anything else is parked (its arguments copied) and runs only when every slot before it
//     has completed, so it sees the connection's earlier writes, as with Redis; commands after
//     a parked one park too.
// Replies leave strictly in command order: a completion releases every finished slot behind it
// and runs the parked commands that became runnable.
//
// Back pressure: commands stop running and reading stops while the unsent output exceeds
// config.client_output_pause, and resume once it has half drained; a client whose unparsed
// input exceeds client_query_buffer_limit is closed, as Redis does.
//
// Lifetime: the session is owned by its outstanding I/O handlers and, while writes are waiting
// for their replies, by itself (self_); a client that disconnects meanwhile is closed at once and
// its late replies are dropped.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>  // before boost/asio (g++ 12 + Boost 1.74)
#include <vector>

#include "resp/parser.h"
#include "server/client/client_context.h"

namespace raftd {

class Dispatcher;

class Session final : public ClientContext, public std::enable_shared_from_this<Session> {
 public:
  Session(ServerState& server, Dispatcher& dispatcher, boost::asio::ip::tcp::socket socket);
  ~Session() override;

  /// Registers the client and starts reading.
  void start();
  /// Sends the replies of every client in state.clients_to_flush: replies completed outside
  /// the client's own input handling wait there so that one write carries all of them.
  static void flush_scheduled(ServerState& state);

  Proposer::Completion defer_reply() override;
  void close_after_reply() override;
  void kill() override;
  std::size_t query_buffer_used() const override { return in_end_ - in_begin_; }
  std::size_t query_buffer_free() const override { return in_capacity_ - in_end_; }
  std::size_t output_buffer_used() const override;
  std::string events() const override;

 private:
  enum class SlotState : std::uint8_t {
    kParked,    ///< not run yet: waits for the slots before it
    kDeferred,  ///< a write handed to the proposer; its completion fills the reply
    kReady,     ///< reply made, waiting for the slots before it to be sent
  };
  struct Slot {
    SlotState state = SlotState::kDeferred;
    std::string reply;
    std::vector<std::string> args;  ///< a parked command
    bool write = false;             ///< a write (a deferred one, else a deferred read: ReadIndex)
  };

  /// Reads what the socket holds and runs it, until it would block; then waits for readiness.
  void pump_input();
  void wait_readable();
  void make_read_space();
  /// Runs every complete command in the input buffer (stops early, setting held_back_, when
  /// the output is over the limit; or when the client is closing).
  void process_input();
  /// process_input() + flush(), repeated while commands were held back but the socket took
  /// the whole output at once.
  void run_buffered();
  void execute(const resp::Command& command);
  void complete(std::uint64_t seq, std::string_view reply);
  /// Moves finished replies from the front of pending_ to out_ and runs parked commands whose
  /// turn has come.
  void advance();
  void run_parked(std::size_t index);
  /// Sends out_: directly if the socket takes it all, else through async_write.
  void flush();
  /// flush() once the handler running now returns, or sooner through flush_scheduled()
  /// (completions arriving from Raft: one write per batch, not one per reply).
  void schedule_flush();
  void on_written(const boost::system::error_code& ec, std::size_t bytes);
  /// Restarts commands and reading paused by output_over_limit(), once below half of it.
  void maybe_resume_input();
  void close(std::string_view why);
  /// Too much waits on this client to read more: buffered replies and parked commands over
  /// client_output_pause, or kMaxInFlight commands awaiting their outcome.
  bool output_over_limit() const;
  /// Bytes a slot holds (its reply and parked arguments), for the output limit.
  static std::size_t weight(const Slot& slot);

  boost::asio::ip::tcp::socket socket_;
  Dispatcher& dispatcher_;
  resp::Parser parser_;
  resp::Command command_;

  // Bytes [in_begin_, in_end_) of in_ are received but not yet consumed. Not a vector: growing
  // one zero-fills the new space, and for a value of hundreds of MB that memset alone (and the
  // page faults it takes at once) stalled every other client for seconds.
  std::unique_ptr<char[]> in_;
  std::size_t in_capacity_ = 0;
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::string out_;                   // replies ready to send
  std::string sending_;               // the part handed to the in-flight async_write
  std::string scratch_;               // a reply made while earlier ones are pending
  std::deque<Slot> pending_;          // replies not yet in out_, in command order
  std::uint64_t pending_base_ = 0;    // slot number of pending_.front()
  std::size_t deferred_ = 0;          // completions handed out and not yet called
  std::deque<std::uint64_t> parked_;  // slot numbers of the kParked slots, oldest first
  std::size_t deferred_reads_ = 0;    // deferred slots that are reads (writes must not pass them)
  bool dispatching_write_ = false;    // the command being dispatched is a write
  std::size_t pending_bytes_ = 0;     // sum of weight() over pending_
  std::uint64_t running_seq_ = 0;     // slot of the parked command being run
  bool running_parked_ = false;       // defer_reply() fills slot running_seq_
  bool advancing_ = false;
  bool discard_parked_ = false;    // QUIT or CLIENT KILL of oneself ran: parked commands never run
  std::shared_ptr<Session> self_;  // set while deferred_ > 0: late completions find us alive
  std::int64_t batch_now_ms_ = 0;  // one clock read per batch of commands

  bool waiting_read_ = false;  // an async_wait for readability is outstanding
  bool pumping_ = false;       // inside pump_input()
  bool pump_posted_ = false;   // pump_input() yielded the loop and is posted to go on
  bool input_paused_ = false;  // stopped by a full output buffer or kMaxInFlight
  bool held_back_ = false;     // complete commands wait in in_ for the output to drain
  bool resume_posted_ = false;
  bool flush_queued_ = false;  // in ServerState::clients_to_flush
  bool writing_ = false;       // an async_write is outstanding
  bool processing_ = false;
  bool closing_ = false;  // close once every queued reply is sent
  bool closed_ = false;
};

}  // namespace raftd
