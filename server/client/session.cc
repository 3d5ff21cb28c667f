// One client connection (session.h): reading and parsing, ordered replies, flow control.
#include "server/client/session.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "server/client/dispatcher.h"
#include "server/log.h"
#include "server/server_state.h"

namespace raftd {

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;      // Redis PROTO_IOBUF_LEN
constexpr std::size_t kShrinkAbove = 1024 * 1024;  // give back big buffers once idle
constexpr std::size_t kPausedResumeDivisor = 2;    // resume reading at half the limit
// Reads per turn of the event loop before a client yields to everything else (timers, peers,
// the Raft loop, other clients). Without it a client pipelining a million commands kept the
// loop for itself until its input ran dry, and followers starved of heartbeats elected anew.
constexpr int kReadsPerTurn = 16;
// One read takes at most this much, however big the buffer: a big value's pages are first
// touched by the copy into them (a page fault each, slow under virtualisation), so a turn that
// read a whole socket buffer into a fresh one kept every other client waiting.
constexpr std::size_t kMaxReadBytes = 256 * 1024;
// Commands of one client that may wait for their outcome (writes in Raft, reads for their
// ReadIndex) before it stops reading more. A flood then flows at the rate the cluster commits
// instead of piling up proposals that -TIMEOUT before their turn.
constexpr std::size_t kMaxInFlight = 16 * 1024;

std::string endpoint_string(const boost::asio::ip::tcp::endpoint& ep) {
  const auto addr = ep.address();
  if (addr.is_v6() && !addr.to_v6().is_v4_mapped()) {
    return addr.to_string() + ":" + std::to_string(ep.port());
  }
  const auto v4 = addr.is_v6() ? addr.to_v6().to_v4() : addr.to_v4();
  return v4.to_string() + ":" + std::to_string(ep.port());
}

}  // namespace

Session::Session(ServerState& server, Dispatcher& dispatcher, boost::asio::ip::tcp::socket socket)
    : ClientContext(server),
      socket_(std::move(socket)),
      dispatcher_(dispatcher),
      parser_(resp::Limits{.max_bulk_len = server.config.proto_max_bulk_len}),
      in_(new char[kReadChunk]),
      in_capacity_(kReadChunk) {}

Session::~Session() = default;

void Session::start() {
  ServerState& s = server();
  ClientInfo& ci = info();
  ci.id = s.next_client_id++;
  boost::system::error_code ec;
  if (auto remote = socket_.remote_endpoint(ec); !ec) ci.addr = endpoint_string(remote);
  if (auto local = socket_.local_endpoint(ec); !ec) ci.laddr = endpoint_string(local);
  ci.fd = socket_.native_handle();
  ci.created_ms = ServerState::wall_ms();
  ci.last_interaction_ms = ci.created_ms;
  s.clients.emplace(ci.id, this);
  log::debug("client {} connected from {}", ci.id, ci.addr);
  // Direct reads and writes below must return would_block instead of blocking the loop.
  socket_.non_blocking(true, ec);
  if (ec) {
    close(ec.message());
    return;
  }
  // Bytes may have arrived before any wait was registered; pump_input() reads first.
  pump_input();
}

std::size_t Session::output_buffer_used() const {
  return out_.size() + sending_.size() + pending_bytes_;
}

std::string Session::events() const {
  std::string e;
  if (!closed_ && !closing_ && !input_paused_) e += 'r';
  if (writing_) e += 'w';
  return e;
}

bool Session::output_over_limit() const {
  // Parked commands and replies waiting for earlier slots count too: a client pipelining
  // behind a slow write must not make us buffer without bound.
  return out_.size() + sending_.size() + pending_bytes_ > server().config.client_output_pause ||
         deferred_ >= kMaxInFlight;
}

std::size_t Session::weight(const Slot& slot) {
  std::size_t n = slot.reply.size();
  for (const std::string& arg : slot.args) n += arg.size() + sizeof(std::string);
  return n;
}

void Session::make_read_space() {
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
    if (in_capacity_ > kShrinkAbove) {
      in_.reset(new char[kReadChunk]);
      in_capacity_ = kReadChunk;
    }
  }
  if (in_capacity_ - in_end_ >= kReadChunk) return;
  if (in_begin_ > 0) {
    // The parser keeps offsets relative to the first unconsumed byte, so moving the unconsumed
    // bytes to the front is safe even in the middle of a command.
    std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  if (in_capacity_ - in_end_ >= kReadChunk) return;
  // A big bulk whose length is known gets its whole buffer now: one copy of what is here, and
  // its pages are touched only as the bytes arrive (a step at a time, between other clients).
  std::size_t want = std::max(in_capacity_ * 2, in_end_ + kReadChunk);
  want =
      std::max(want, std::min(parser_.bytes_wanted(), server().config.client_query_buffer_limit));
  std::unique_ptr<char[]> bigger(new char[want]);
  std::memcpy(bigger.get(), in_.get(), in_end_);
  in_ = std::move(bigger);
  in_capacity_ = want;
}

void Session::pump_input() {
  if (pumping_ || waiting_read_ || pump_posted_) return;
  pumping_ = true;
  ServerState& s = server();
  int reads = 0;
  while (!closed_ && !closing_) {
    if (held_back_ || output_over_limit()) {
      input_paused_ = true;  // maybe_resume_input() restarts once the output drains
      break;
    }
    if (reads++ == kReadsPerTurn) {
      pump_posted_ = true;
      boost::asio::post(socket_.get_executor(), [self = shared_from_this()] {
        self->pump_posted_ = false;
        self->pump_input();
      });
      break;
    }
    make_read_space();
    const std::size_t space = std::min(in_capacity_ - in_end_, kMaxReadBytes);
    boost::system::error_code ec;
    const std::size_t bytes =
        socket_.read_some(boost::asio::buffer(in_.get() + in_end_, space), ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
      wait_readable();
      break;
    }
    if (ec) {
      close(ec == boost::asio::error::eof ? "client closed connection" : ec.message());
      break;
    }
    in_end_ += bytes;
    s.stats.total_net_input_bytes += bytes;
    ++s.stats.total_reads_processed;
    batch_now_ms_ = ServerState::wall_ms();
    info().last_interaction_ms = batch_now_ms_;

    run_buffered();
    if (closed_) break;
    if (in_end_ - in_begin_ > s.config.client_query_buffer_limit) {
      ++s.stats.client_query_buffer_limit_disconnections;
      log::warn("closing client {} ({}) that reached the query buffer limit: {} bytes buffered",
                info().id, info().addr, in_end_ - in_begin_);
      close("query buffer limit");
      break;
    }
    // A short read means the socket is (most likely) empty: wait instead of trying a read that
    // would fail. Starting the wait re-arms the descriptor in epoll, so bytes that slipped in
    // meanwhile are reported at once.
    if (bytes < space && !closing_ && !held_back_ && !output_over_limit()) {
      wait_readable();
      break;
    }
  }
  pumping_ = false;
}

void Session::run_buffered() {
  do {
    process_input();
    flush();  // one write for the whole batch
    // Commands held back by a full output buffer run now if the socket took it all at once.
  } while (held_back_ && !writing_ && !closed_ && !closing_ && !output_over_limit());
}

void Session::wait_readable() {
  waiting_read_ = true;
  socket_.async_wait(boost::asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->waiting_read_ = false;
                       if (self->closed_) return;
                       if (ec) {
                         self->close(ec.message());
                         return;
                       }
                       self->pump_input();
                     });
}

void Session::process_input() {
  processing_ = true;
  held_back_ = false;
  while (!closing_ && !closed_ && in_begin_ < in_end_) {
    if (output_over_limit()) {
      held_back_ = true;
      break;
    }
    const std::string_view buf(in_.get() + in_begin_, in_end_ - in_begin_);
    const resp::ParseStatus status = parser_.parse(buf, command_);
    if (status == resp::ParseStatus::kNeedMore) break;
    if (status == resp::ParseStatus::kError) {
      // Redis replies with the error, sends what is queued, then closes the connection.
      log::debug("client {} ({}): {}", info().id, info().addr, parser_.error());
      ++server().stats.total_error_replies;
      scratch_.clear();
      resp::Writer(pending_.empty() ? out_ : scratch_).error(parser_.error_reply());
      if (!pending_.empty()) {
        pending_bytes_ += scratch_.size();
        pending_.push_back({SlotState::kReady, std::move(scratch_), {}});
      }
      closing_ = true;
      break;
    }
    if (!command_.args.empty()) execute(command_);
    in_begin_ += command_.consumed;
  }
  if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  processing_ = false;
}

void Session::execute(const resp::Command& command) {
  const Args args(command.args.data(), command.args.size());
  dispatching_write_ = dispatcher_.is_write(args);
  if (pending_.empty()) {
    resp::Writer out(out_);
    dispatcher_.dispatch(*this, args, batch_now_ms_, out);
    return;
  }
  // Nothing parked ahead, and what is in flight cannot be overtaken: a write behind writes only
  // (the log keeps their order), or a read behind reads only (ReadIndex rounds finish in order
  // and confirmed reads run in index order, so it runs after them, on state at least as new).
  // Otherwise it parks: a write behind a waiting read could be applied before the read runs, a
  // read behind a write must see it.
  const std::size_t deferred_writes = deferred_ - deferred_reads_;
  if (parked_.empty() && (dispatching_write_ ? deferred_reads_ == 0 : deferred_writes == 0)) {
    scratch_.clear();
    resp::Writer out(scratch_);
    if (dispatcher_.dispatch(*this, args, batch_now_ms_, out) == Dispatcher::Outcome::kReplied) {
      pending_bytes_ += scratch_.size();
      pending_.push_back({SlotState::kReady, std::move(scratch_), {}});  // e.g. a syntax error
    }
    return;
  }
  Slot slot;
  slot.state = SlotState::kParked;
  slot.args.assign(args.begin(), args.end());
  slot.write = dispatching_write_;
  pending_bytes_ += weight(slot);
  parked_.push_back(pending_base_ + pending_.size());
  pending_.push_back(std::move(slot));
}

Proposer::Completion Session::defer_reply() {
  std::uint64_t seq;
  if (running_parked_) {
    seq = running_seq_;
    pending_[seq - pending_base_].state = SlotState::kDeferred;
  } else {
    seq = pending_base_ + pending_.size();
    pending_.emplace_back();
  }
  pending_[seq - pending_base_].write = dispatching_write_;
  if (!dispatching_write_) ++deferred_reads_;
  if (deferred_++ == 0) self_ = shared_from_this();
  // Two words, trivially copyable: std::function keeps it inline, no allocation per write.
  return [self = this, seq](std::string_view reply) { self->complete(seq, reply); };
}

void Session::complete(std::uint64_t seq, std::string_view reply) {
  if (!closed_) {
    if (seq < pending_base_ || seq - pending_base_ >= pending_.size() ||
        pending_[seq - pending_base_].state != SlotState::kDeferred) {
      log::error("client {}: reply slot {} completed twice or unknown (base {}, pending {})",
                 info().id, seq, pending_base_, pending_.size());
      std::abort();
    }
    if (!pending_[seq - pending_base_].write) --deferred_reads_;
    if (seq == pending_base_ && !advancing_) {
      out_.append(reply);  // the oldest slot (always, on a single node): no need to park it
      pending_.pop_front();
      ++pending_base_;
    } else {
      Slot& slot = pending_[seq - pending_base_];
      slot.state = SlotState::kReady;
      slot.reply.assign(reply);
      pending_bytes_ += reply.size();
    }
    advance();
    // Inside a batch the batch's end flushes. A completion arriving later (Raft applying a
    // batch of entries) flushes once that batch is done: one send for all of this client's
    // replies in it, not one per reply (Redis, too, writes replies just before it sleeps).
    if (!processing_ && !advancing_) schedule_flush();
  }
  if (--deferred_ == 0) {
    // Last use of `this` may be here: the local keeps the session alive until we return.
    std::shared_ptr<Session> keep = std::move(self_);
  }
}

void Session::advance() {
  if (advancing_) return;  // a completion called from a command run below: the loop sees it
  advancing_ = true;
  while (!closed_) {
    while (!pending_.empty() && pending_.front().state == SlotState::kReady) {
      out_.append(pending_.front().reply);
      pending_bytes_ -= weight(pending_.front());
      pending_.pop_front();
      ++pending_base_;
    }
    if (parked_.empty()) break;
    // The oldest parked slot, found without a scan: behind 100k writes in flight (redis-cli
    // --pipe ends with an ECHO) a scan per completion was quadratic.
    const std::size_t p = parked_.front() - pending_base_;
    if (discard_parked_) {
      // QUIT ran: what was parked after it is dropped, as Redis stops reading after QUIT.
      while (pending_.size() > p) {
        pending_bytes_ -= weight(pending_.back());
        pending_.pop_back();
      }
      parked_.clear();
      break;
    }
    // A parked command runs once everything before it has finished; a parked write may also run
    // while only writes are in flight ahead of it (every deferred slot is before p).
    if (p != 0 && (deferred_reads_ != 0 || !pending_[p].write)) break;
    // Replies of parked commands wait for the output to drain, like input does.
    if (out_.size() + sending_.size() > server().config.client_output_pause) break;
    run_parked(p);
  }
  advancing_ = false;
}

void Session::run_parked(std::size_t index) {
  // Slots before `index` are never popped while we run (advancing_), so the index stays valid.
  pending_bytes_ -= weight(pending_[index]);
  const std::vector<std::string> args = std::move(pending_[index].args);
  const std::vector<std::string_view> views(args.begin(), args.end());
  parked_.pop_front();
  running_seq_ = pending_base_ + index;
  running_parked_ = true;
  dispatching_write_ = pending_[index].write;  // classified once, when it was parked
  scratch_.clear();
  resp::Writer out(scratch_);
  const Dispatcher::Outcome outcome =
      dispatcher_.dispatch(*this, views, ServerState::wall_ms(), out);
  running_parked_ = false;
  if (closed_) return;
  if (outcome == Dispatcher::Outcome::kReplied) {
    Slot& slot = pending_[index];
    slot.state = SlotState::kReady;
    slot.reply = std::move(scratch_);
    pending_bytes_ += slot.reply.size();
  }
}

void Session::schedule_flush() {
  if (flush_queued_) return;
  flush_queued_ = true;
  std::vector<std::shared_ptr<Session>>& queue = server().clients_to_flush;
  queue.push_back(shared_from_this());
  // After the handler running now (which may complete many more replies); the Raft host may
  // flush sooner, before it blocks the loop on a sync.
  if (queue.size() == 1) {
    boost::asio::post(socket_.get_executor(), [&s = server()] { flush_scheduled(s); });
  }
}

void Session::flush_scheduled(ServerState& state) {
  std::vector<std::shared_ptr<Session>> queue;
  queue.swap(state.clients_to_flush);
  for (const std::shared_ptr<Session>& session : queue) {
    session->flush_queued_ = false;
    session->flush();
  }
}

void Session::flush() {
  ServerState& s = server();
  for (;;) {
    if (writing_ || closed_) return;
    if (out_.empty()) {
      if (closing_ && pending_.empty()) close("closed after reply");
      return;
    }
    // Most batches fit in the socket's send buffer: send at once, as Redis does before it
    // sleeps.
    boost::system::error_code ec;
    const std::size_t sent = socket_.write_some(boost::asio::buffer(out_), ec);
    if (ec && ec != boost::asio::error::would_block && ec != boost::asio::error::try_again) {
      close(ec.message());
      return;
    }
    if (!ec) {
      s.stats.total_net_output_bytes += sent;
      ++s.stats.total_writes_processed;
    }
    if (ec || sent < out_.size()) {
      // The socket is full: the rest goes out when it drains; later replies collect in out_.
      writing_ = true;
      sending_.swap(out_);
      out_.clear();
      const std::size_t offset = ec ? 0 : sent;
      boost::asio::async_write(
          socket_, boost::asio::buffer(sending_.data() + offset, sending_.size() - offset),
          [self = shared_from_this()](const boost::system::error_code& wec, std::size_t bytes) {
            self->on_written(wec, bytes);
          });
      return;
    }
    if (out_.capacity() > kShrinkAbove) {
      std::string().swap(out_);
    } else {
      out_.clear();
    }
    if (closing_ && pending_.empty()) {
      close("closed after reply");
      return;
    }
    maybe_resume_input();
    // Parked commands held back by a full output buffer may run now.
    if (parked_.empty() || advancing_ || processing_) return;
    advance();
  }
}

void Session::on_written(const boost::system::error_code& ec, std::size_t bytes) {
  writing_ = false;
  if (closed_) return;
  if (ec) {
    close(ec.message());
    return;
  }
  ServerState& s = server();
  s.stats.total_net_output_bytes += bytes;
  ++s.stats.total_writes_processed;
  if (sending_.capacity() > kShrinkAbove) {
    std::string().swap(sending_);
  } else {
    sending_.clear();
  }
  advance();  // parked commands held back by the full output
  flush();    // replies made meanwhile
  maybe_resume_input();
}

void Session::maybe_resume_input() {
  if (!input_paused_ || resume_posted_ || closed_ || closing_) return;
  if (out_.size() + sending_.size() + pending_bytes_ >
          server().config.client_output_pause / kPausedResumeDivisor ||
      deferred_ > kMaxInFlight / kPausedResumeDivisor) {
    return;
  }
  input_paused_ = false;
  // Posted rather than run here: flush() is called from deep inside command processing.
  resume_posted_ = true;
  boost::asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->resume_posted_ = false;
    if (self->closed_ || self->closing_) return;
    self->batch_now_ms_ = ServerState::wall_ms();
    self->run_buffered();  // commands held back while the output was full
    self->pump_input();
  });
}

void Session::close_after_reply() {
  closing_ = true;
  discard_parked_ = true;
}

void Session::kill() {
  close("killed");
}

void Session::close(std::string_view why) {
  if (closed_) return;
  closed_ = true;
  server().clients.erase(info().id);
  log::debug("client {} ({}) closed: {}", info().id, info().addr, why);
  boost::system::error_code ignored;
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  pending_.clear();
  pending_bytes_ = 0;
  parked_.clear();
  deferred_reads_ = 0;
  out_.clear();
}

}  // namespace raftd
