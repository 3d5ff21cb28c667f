#include "server/session.h"

#include <boost/asio/write.hpp>
#include <cstring>

#include "server/dispatcher.h"
#include "server/log.h"
#include "server/server_state.h"

namespace raftd {

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;      // Redis PROTO_IOBUF_LEN
constexpr std::size_t kShrinkAbove = 1024 * 1024;  // give back big buffers once idle
constexpr std::size_t kPausedResumeDivisor = 2;    // resume reading at half the limit

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
      in_(kReadChunk) {}

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
  read();
}

std::size_t Session::output_buffer_used() const {
  std::size_t n = out_.size() + sending_.size();
  for (const Slot& slot : pending_) n += slot.reply.size();
  return n;
}

std::string Session::events() const {
  std::string e;
  if (reading_) e += 'r';
  if (writing_) e += 'w';
  return e;
}

bool Session::output_over_limit() const {
  return out_.size() + sending_.size() > server().config.client_output_pause;
}

void Session::make_read_space() {
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
    if (in_.size() > kShrinkAbove) std::vector<char>(kReadChunk).swap(in_);
  }
  if (in_.size() - in_end_ >= kReadChunk) return;
  if (in_begin_ > 0) {
    // The parser keeps offsets relative to the first unconsumed byte, so moving the unconsumed
    // bytes to the front is safe even in the middle of a command.
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  if (in_.size() - in_end_ < kReadChunk) in_.resize(std::max(in_.size() * 2, in_end_ + kReadChunk));
}

void Session::read() {
  if (reading_ || closing_ || closed_ || output_over_limit()) return;
  make_read_space();
  reading_ = true;
  socket_.async_read_some(
      boost::asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t bytes) {
        self->on_read(ec, bytes);
      });
}

void Session::on_read(const boost::system::error_code& ec, std::size_t bytes) {
  reading_ = false;
  if (closed_) return;
  if (ec) {
    close(ec == boost::asio::error::eof ? "client closed connection" : ec.message());
    return;
  }
  if (closing_) return;  // input after QUIT or a protocol error is ignored, as Redis does
  ServerState& s = server();
  in_end_ += bytes;
  s.stats.total_net_input_bytes += bytes;
  ++s.stats.total_reads_processed;
  batch_now_ms_ = ServerState::wall_ms();
  info().last_interaction_ms = batch_now_ms_;

  process_input();
  if (closed_) return;
  if (in_end_ - in_begin_ > s.config.client_query_buffer_limit) {
    ++s.stats.client_query_buffer_limit_disconnections;
    log::warn("closing client {} ({}) that reached the query buffer limit: {} bytes buffered",
              info().id, info().addr, in_end_ - in_begin_);
    close("query buffer limit");
    return;
  }
  flush();
  read();
}

void Session::process_input() {
  processing_ = true;
  while (!closing_ && !closed_ && in_begin_ < in_end_ && !output_over_limit()) {
    const std::string_view buf(in_.data() + in_begin_, in_end_ - in_begin_);
    const resp::ParseStatus status = parser_.parse(buf, command_);
    if (status == resp::ParseStatus::kNeedMore) break;
    if (status == resp::ParseStatus::kError) {
      // Redis replies with the error, sends what is queued, then closes the connection.
      log::debug("client {} ({}): {}", info().id, info().addr, parser_.error());
      ++server().stats.total_error_replies;
      scratch_.clear();
      resp::Writer(pending_.empty() ? out_ : scratch_).error(parser_.error_reply());
      if (!pending_.empty()) pending_.push_back({true, std::move(scratch_)});
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
  if (pending_.empty()) {
    resp::Writer out(out_);
    dispatcher_.dispatch(*this, args, batch_now_ms_, out);
    return;
  }
  // An earlier reply is still pending: this one waits behind it.
  scratch_.clear();
  resp::Writer out(scratch_);
  if (dispatcher_.dispatch(*this, args, batch_now_ms_, out) == Dispatcher::Outcome::kReplied) {
    pending_.push_back({true, std::move(scratch_)});
  }
}

Proposer::Completion Session::defer_reply() {
  const std::uint64_t seq = pending_base_ + pending_.size();
  pending_.emplace_back();
  return [self = shared_from_this(), seq](std::string_view reply) { self->complete(seq, reply); };
}

void Session::complete(std::uint64_t seq, std::string_view reply) {
  if (closed_) return;  // the client went away while its write was in flight
  if (seq < pending_base_ || seq - pending_base_ >= pending_.size() ||
      pending_[seq - pending_base_].ready) {
    log::error("client {}: reply slot {} completed twice or unknown (base {}, pending {})",
               info().id, seq, pending_base_, pending_.size());
    std::abort();
  }
  if (seq == pending_base_) {
    out_.append(reply);  // the oldest slot: no need to park the reply
    pending_.pop_front();
    ++pending_base_;
  } else {
    Slot& slot = pending_[seq - pending_base_];
    slot.ready = true;
    slot.reply.assign(reply);
  }
  while (!pending_.empty() && pending_.front().ready) {
    out_.append(pending_.front().reply);
    pending_.pop_front();
    ++pending_base_;
  }
  // Inside a batch the batch's end flushes; a completion arriving later (Raft) flushes itself.
  if (!processing_) flush();
}

void Session::flush() {
  if (writing_ || closed_) return;
  if (out_.empty()) {
    if (closing_ && pending_.empty()) close("closed after reply");
    return;
  }
  writing_ = true;
  sending_.swap(out_);
  boost::asio::async_write(
      socket_, boost::asio::buffer(sending_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t bytes) {
        self->on_written(ec, bytes);
      });
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
  // Commands held back by a full output buffer run now that it has drained.
  if (!closing_ && in_begin_ < in_end_ &&
      out_.size() <= s.config.client_output_pause / kPausedResumeDivisor) {
    batch_now_ms_ = ServerState::wall_ms();
    process_input();
    if (closed_) return;
  }
  flush();
  read();
}

void Session::close_after_reply() {
  closing_ = true;
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
  out_.clear();
}

}  // namespace raftd
