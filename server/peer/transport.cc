#include "server/peer/transport.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <random>
#include <utility>  // before boost/asio: Boost 1.74 + g++ 12 (asio/awaitable.hpp)

#include "server/peer/crypto.h"

namespace raftd::peer {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using raft::LogLevel;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
// Buffers that grew for a snapshot chunk are released once drained rather than kept per peer.
constexpr std::size_t kKeepCapacity = 1u << 20;

void release_if_large(std::string& s) {
  if (s.empty() && s.capacity() > kKeepCapacity) std::string().swap(s);
}

std::string describe(const error_code& ec) {
  if (ec == asio::error::eof) return "closed by peer";
  return ec.message();
}

const char* frame_name(const Frame& f) {
  return to_string(frame_type(f));
}

}  // namespace

/// One TCP connection, either direction. Owned by the transport's maps and kept alive by the
/// handlers of its pending operations.
struct Connection {
  enum class Dir { kInbound, kOutbound };

  Connection(asio::io_context& io, Dir d, std::uint64_t conn_id, std::size_t max_frame)
      : dir(d),
        id(conn_id),
        socket(io),
        deadline(io),
        reader(max_frame),
        rbuf(new char[kReadChunk]) {}
  ~Connection();

  void close() {
    if (closed) return;
    closed = true;
    error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    deadline.cancel();
  }

  const char* dir_name() const { return dir == Dir::kInbound ? "inbound" : "outbound"; }

  Dir dir;
  std::uint64_t id;
  tcp::socket socket;
  asio::steady_timer deadline;  // connect + handshake must finish before it fires
  FrameReader reader;
  std::unique_ptr<char[]> rbuf;
  std::string remote = "?";    // "ip:port", for logs
  std::string remote_address;  // inbound: the peer's IP, for the per-address handshake limit

  bool closed = false;
  bool established = false;             // both proofs held, both sides admitted: frames flow
  bool hello_sent = false;              // outbound: our Hello answered the Challenge
  raft::NodeId node = raft::kNoNode;    // outbound: whom we dialed; inbound: learned in handshake
  std::string challenge_nonce;          // the acceptor's (inbound: ours; outbound: received)
  std::string hello_nonce;              // the dialer's
  std::unique_ptr<FrameCipher> cipher;  // outbound, once established: seals what we send

  std::string control;             // handshake frames waiting to be written
  bool close_after_write = false;  // a Refusal or a parting Welcome: close once it is out
  std::string wbuf;                // the write in flight
  std::uint64_t wframes = 0;
  bool writing = false;
};

Connection::~Connection() = default;

/// A peer we dial: its outbound connection (if any) and its send queue, which survives
/// reconnections.
struct OutPeer {
  OutPeer(asio::io_context& io, raft::NodeId node, std::string h, std::uint16_t p,
          std::chrono::milliseconds initial_backoff)
      : id(node), host(std::move(h)), port(p), resolver(io), retry(io), backoff(initial_backoff) {}

  raft::NodeId id;
  std::string host;
  std::uint16_t port;
  tcp::resolver resolver;
  asio::steady_timer retry;
  std::chrono::milliseconds backoff;
  std::shared_ptr<Connection> conn;  // the current attempt or the established connection
  bool connected = false;
  bool removed = false;
  std::uint64_t failures_in_row = 0;

  std::string pending;  // encoded frames not yet handed to the socket
  std::uint64_t pending_frames = 0;
  bool flush_posted = false;
  bool dropping = false;  // in a run of drops (logged once per run)
  std::uint64_t drops_in_run = 0;

  std::string client_addr;
  PeerStats counters;
};

struct RecvStats {
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  std::string client_addr;
};

class Transport::Impl : public std::enable_shared_from_this<Transport::Impl> {
 public:
  Impl(asio::io_context& io, TransportOptions options, TransportCallbacks callbacks)
      : io_(io),
        opts_(std::move(options)),
        cbs_(std::move(callbacks)),
        acceptor_(io),
        accept_retry_(io) {}

  Status start() {
    if (stopped_) return Status::error("transport stopped");
    if (acceptor_.is_open()) return Status::error("already started");
    const std::string where = fmt::format("{}:{}", opts_.listen_host, opts_.listen_port);
    error_code ec;
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(opts_.listen_host, std::to_string(opts_.listen_port),
                                    tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return Status::error(
          fmt::format("peer listen address {}: {}", where, ec ? ec.message() : "no address"));
    }
    const tcp::endpoint endpoint = results.begin()->endpoint();
    if (acceptor_.open(endpoint.protocol(), ec) ||
        acceptor_.set_option(tcp::acceptor::reuse_address(true), ec) ||
        acceptor_.bind(endpoint, ec) ||
        acceptor_.listen(asio::socket_base::max_listen_connections, ec)) {
      error_code ignored;
      acceptor_.close(ignored);
      return Status::error(fmt::format("peer listen on {}: {}", where, ec.message()));
    }
    log(LogLevel::kInfo, fmt::format("listening for peers on {}", where));
    accept_next();
    return Status::ok();
  }

  std::uint16_t listen_port() const {
    error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    return ec ? 0 : ep.port();
  }

  bool add_peer(raft::NodeId node, const std::string& host, std::uint16_t port) {
    if (stopped_ || node == raft::kNoNode || node == opts_.self_id) return false;
    if (auto it = peers_.find(node); it != peers_.end()) {
      if (it->second->host == host && it->second->port == port) return true;
      log(LogLevel::kInfo, fmt::format("peer {} moved from {}:{} to {}:{}", node, it->second->host,
                                       it->second->port, host, port));
      drop_peer(it->second);
      peers_.erase(it);
    }
    auto peer = std::make_shared<OutPeer>(io_, node, host, port, opts_.backoff_initial);
    peers_.emplace(node, peer);
    dial(peer);
    return true;
  }

  bool remove_peer(raft::NodeId node) {
    auto it = peers_.find(node);
    if (it == peers_.end()) return false;
    drop_peer(it->second);
    peers_.erase(it);
    return true;
  }

  /// Encodes a frame with `encode(std::string&) -> bytes appended` into node's queue.
  template <typename Encode>
  bool enqueue(raft::NodeId node, const char* what, Encode&& encode) {
    if (stopped_) return false;
    auto it = peers_.find(node);
    if (it == peers_.end()) {
      log(LogLevel::kDebug, fmt::format("dropping {} to unknown peer {}", what, node));
      return false;
    }
    OutPeer& p = *it->second;
    const std::size_t before = p.pending.size();
    const std::size_t in_flight = p.conn ? p.conn->wbuf.size() : 0;
    const std::size_t size = encode(p.pending);
    // Sealed, the frame grows by the tag less the CRC: the receiver checks that size.
    if (size - kFrameHeaderBytes + (kTagBytes - 4) > opts_.max_frame_bytes) {
      p.pending.resize(before);
      release_if_large(p.pending);
      ++p.counters.frames_dropped;
      log(LogLevel::kWarn, fmt::format("dropping {} to peer {}: {} bytes exceed the frame limit {}",
                                       what, node, size, opts_.max_frame_bytes));
      return false;
    }
    const std::size_t queued = before + in_flight;
    // An empty queue takes any frame that fits the frame limit, so one large snapshot chunk
    // can always go; otherwise the queue stays within its byte bound.
    if (queued > 0 && queued + size > opts_.max_queue_bytes) {
      p.pending.resize(before);
      release_if_large(p.pending);
      ++p.counters.frames_dropped;
      ++p.drops_in_run;
      if (!p.dropping) {
        p.dropping = true;
        log(LogLevel::kWarn,
            fmt::format("send queue to peer {} full ({} bytes, {}): dropping messages", node,
                        queued, p.connected ? "connected" : "disconnected"));
      }
      return false;
    }
    if (p.dropping) {
      log(LogLevel::kInfo,
          fmt::format("send queue to peer {} accepts again after {} drops", node, p.drops_in_run));
      p.dropping = false;
      p.drops_in_run = 0;
    }
    ++p.pending_frames;
    schedule_flush(it->second);
    return true;
  }

  void set_identity(PeerIdentity identity, std::string secret) {
    opts_.identity = std::move(identity);
    opts_.secret = std::move(secret);
    // Everything now is authenticated with the new secret, or not at all.
    for (auto& [id, c] : inbound_) c->close();
    inbound_.clear();
    for (auto& [id, peer] : peers_) {
      const bool was_connected = peer->connected;
      peer->retry.cancel();
      if (peer->conn) {
        if (peer->conn->writing) peer->counters.frames_lost += peer->conn->wframes;
        peer->conn->close();
      }
      peer->conn.reset();
      peer->connected = false;
      peer->backoff = opts_.backoff_initial;
      peer->failures_in_row = 0;
      dial(peer);
      if (was_connected && cbs_.on_peer_state) cbs_.on_peer_state(id, false);
    }
  }
  const PeerIdentity& identity() const { return opts_.identity; }

  bool connected(raft::NodeId node) const {
    auto it = peers_.find(node);
    return it != peers_.end() && it->second->connected;
  }

  std::vector<PeerStats> stats() const {
    std::map<raft::NodeId, PeerStats> all;
    for (const auto& [id, p] : peers_) {
      PeerStats s = p->counters;
      s.node_id = id;
      s.address = fmt::format("{}:{}", p->host, p->port);
      s.client_addr = p->client_addr;
      s.configured = true;
      s.connected = p->connected;
      s.bytes_queued = p->pending.size() + (p->conn ? p->conn->wbuf.size() : 0);
      s.frames_queued = p->pending_frames + (p->conn ? p->conn->wframes : 0);
      all[id] = std::move(s);
    }
    for (const auto& [id, r] : recv_) {
      PeerStats& s = all[id];
      s.node_id = id;
      s.frames_received = r.frames;
      s.bytes_received = r.bytes;
      if (s.client_addr.empty()) s.client_addr = r.client_addr;
    }
    std::vector<PeerStats> out;
    out.reserve(all.size());
    for (auto& [id, s] : all) out.push_back(std::move(s));
    return out;
  }

  TransportStats transport_stats() const {
    TransportStats s = tstats_;
    s.inbound_open = inbound_.size();
    return s;
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    error_code ec;
    acceptor_.close(ec);
    accept_retry_.cancel();
    for (auto& [id, p] : peers_) drop_peer(p);
    peers_.clear();
    for (auto& [id, c] : inbound_) c->close();
    inbound_.clear();
  }

 private:
  void log(LogLevel level, const std::string& msg) const {
    if (opts_.log) opts_.log(level, "peer: " + msg);
  }

  bool alive(const std::shared_ptr<Connection>& c) const { return !stopped_ && !c->closed; }

  // --- Accepting -----------------------------------------------------------------------------

  void accept_next() {
    acceptor_.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
      if (self->stopped_) return;
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        // E.g. out of file descriptors: back off briefly instead of spinning on the error.
        self->log(LogLevel::kWarn, fmt::format("accept failed: {}", ec.message()));
        self->accept_retry_.expires_after(std::chrono::milliseconds(100));
        self->accept_retry_.async_wait([self](error_code wec) {
          if (!wec && !self->stopped_) self->accept_next();
        });
        return;
      }
      self->on_accepted(std::move(socket));
      self->accept_next();
    });
  }

  void on_accepted(tcp::socket socket) {
    // Connections that have not proven themselves get a few slots, and a new one takes the
    // oldest one's: strangers that open connections and say nothing cannot lock members out.
    // One source address gets at most max_pending_per_address of them, and when all are taken
    // the oldest of the address holding most goes: a flood from a few addresses cannot evict a
    // member's handshake, which lasts one round trip.
    error_code aec;
    const std::string from = socket.remote_endpoint(aec).address().to_string(aec);
    std::size_t pending = 0;
    std::map<std::string, std::vector<std::shared_ptr<Connection>>> by_address;
    for (const auto& [id, c] : inbound_) {
      if (c->established) continue;
      ++pending;
      by_address[c->remote_address].push_back(c);  // ordered by connection id: oldest first
    }
    std::shared_ptr<Connection> evict;
    if (auto it = by_address.find(from);
        it != by_address.end() && it->second.size() >= opts_.max_pending_per_address) {
      evict = it->second.front();
    } else if (pending >= opts_.max_pending_handshakes) {
      std::size_t most = 0;
      for (const auto& [addr, conns] : by_address) {
        if (conns.size() > most) {
          most = conns.size();
          evict = conns.front();
        }
      }
    }
    if (evict) {
      ++tstats_.handshakes_evicted;
      close_inbound(evict, LogLevel::kDebug,
                    "closed for a newer connection (handshake slots full)");
    }
    if (inbound_.size() >= opts_.max_inbound + opts_.max_pending_handshakes) {
      log(LogLevel::kWarn,
          fmt::format("refusing a peer connection: {} inbound connections open", inbound_.size()));
      error_code ec;
      socket.close(ec);
      return;
    }
    auto conn = std::make_shared<Connection>(io_, Connection::Dir::kInbound, next_conn_id_++,
                                             kMaxUnauthenticatedFrameBytes);
    conn->socket = std::move(socket);
    conn->remote_address = from;
    configure_socket(*conn);
    inbound_.emplace(conn->id, conn);
    ++tstats_.inbound_accepted;

    // We speak first, and say nothing but a fresh nonce the dialer's proof must cover.
    conn->challenge_nonce = random_bytes(kHandshakeNonceBytes);
    append_frame(conn->control, Challenge{kProtocolVersion, conn->challenge_nonce});
    write_control(conn);
    arm_deadline(conn);
    read_next(conn);
  }

  // --- Dialing -------------------------------------------------------------------------------

  void dial(const std::shared_ptr<OutPeer>& peer) {
    auto conn = std::make_shared<Connection>(io_, Connection::Dir::kOutbound, next_conn_id_++,
                                             kMaxWelcomeFrameBytes);
    conn->node = peer->id;
    conn->remote = fmt::format("{}:{}", peer->host, peer->port);
    peer->conn = conn;
    arm_deadline(conn);
    // A numeric address needs no resolver (whose lookups run on a helper thread).
    error_code aec;
    const auto address = asio::ip::make_address(peer->host, aec);
    if (!aec) {
      const tcp::endpoint remote(address, peer->port);
      // Dial from our own listen address, not whatever the kernel picks (127.0.0.1 for any
      // loopback destination): peers then see one address per node, and packet filters
      // (partition tests) can tell nodes apart.
      error_code bec;
      const auto local = asio::ip::make_address(opts_.listen_host, bec);
      if (!bec && !local.is_unspecified() && local.is_v4() == address.is_v4()) {
        conn->socket.open(remote.protocol(), bec);
        if (!bec) conn->socket.bind(tcp::endpoint(local, 0), bec);
        if (bec) {
          outbound_failed(conn, "bind " + opts_.listen_host + ": " + bec.message());
          return;
        }
        conn->socket.async_connect(remote, [self = shared_from_this(), conn](error_code ec) {
          if (!self->alive(conn)) return;
          if (ec) {
            self->outbound_failed(conn, "connect: " + ec.message());
            return;
          }
          self->configure_socket(*conn);
          self->read_next(conn);  // nothing to send until the acceptor's handshake arrives
        });
        return;
      }
      const std::array<tcp::endpoint, 1> endpoints = {remote};
      connect(conn, endpoints);
      return;
    }
    peer->resolver.async_resolve(peer->host, std::to_string(peer->port),
                                 [self = shared_from_this(), conn](
                                     error_code ec, const tcp::resolver::results_type& results) {
                                   if (!self->alive(conn)) return;
                                   if (ec) {
                                     self->outbound_failed(conn, "resolve: " + ec.message());
                                     return;
                                   }
                                   self->connect(conn, results);
                                 });
  }

  template <typename Endpoints>
  void connect(const std::shared_ptr<Connection>& conn, const Endpoints& endpoints) {
    asio::async_connect(conn->socket, endpoints,
                        [self = shared_from_this(), conn](error_code ec, const tcp::endpoint&) {
                          if (!self->alive(conn)) return;
                          if (ec) {
                            self->outbound_failed(conn, "connect: " + ec.message());
                            return;
                          }
                          self->configure_socket(*conn);
                          // Nothing to send until the acceptor's handshake arrives.
                          self->read_next(conn);
                        });
  }

  void arm_deadline(const std::shared_ptr<Connection>& conn) {
    conn->deadline.expires_after(opts_.handshake_timeout);
    conn->deadline.async_wait([self = shared_from_this(), conn](error_code ec) {
      if (ec || !self->alive(conn) || conn->established) return;
      const std::string why =
          fmt::format("no handshake within {} ms",
                      static_cast<long long>(self->opts_.handshake_timeout.count()));
      if (conn->dir == Connection::Dir::kOutbound) {
        self->outbound_failed(conn, why);
      } else {
        self->close_inbound(conn, LogLevel::kInfo, why);
      }
    });
  }

  void schedule_redial(const std::shared_ptr<OutPeer>& peer) {
    // Jitter in [backoff/2, backoff] keeps peers that lost each other at the same moment from
    // redialling in lockstep.
    const auto backoff = static_cast<std::uint64_t>(peer->backoff.count());
    const std::uint64_t half = backoff / 2;
    const std::uint64_t jitter = opts_.rand ? opts_.rand(backoff - half + 1) : backoff - half;
    const std::chrono::milliseconds delay(half + std::min(jitter, backoff - half));
    peer->backoff = std::min(peer->backoff * 2, opts_.backoff_max);
    peer->retry.expires_after(delay);
    peer->retry.async_wait([self = shared_from_this(), peer](error_code ec) {
      if (ec || self->stopped_ || peer->removed) return;
      self->dial(peer);
    });
  }

  /// An outbound attempt or connection ended: count, redial later, tell the host.
  /// `first_level`: how loudly to log the first failure of a run (retries log at debug).
  void outbound_failed(const std::shared_ptr<Connection>& conn, const std::string& why,
                       LogLevel first_level = LogLevel::kInfo) {
    conn->close();
    auto it = peers_.find(conn->node);
    if (it == peers_.end() || it->second->conn != conn) return;
    std::shared_ptr<OutPeer> peer = it->second;
    if (conn->writing) peer->counters.frames_lost += conn->wframes;
    const bool was_connected = peer->connected;
    peer->connected = false;
    peer->conn.reset();
    if (was_connected) {
      peer->failures_in_row = 0;
      log(LogLevel::kWarn,
          fmt::format("lost connection to peer {} at {}: {}", peer->id, conn->remote, why));
    } else {
      ++peer->counters.connect_failures;
      ++peer->failures_in_row;
      // The first failure of a run is worth a line; the retries every few seconds are not.
      log(peer->failures_in_row == 1 ? first_level : LogLevel::kDebug,
          fmt::format("cannot reach peer {} at {}: {} (attempt {}, retrying)", peer->id,
                      conn->remote, why, peer->failures_in_row));
    }
    schedule_redial(peer);
    if (was_connected && cbs_.on_peer_state) cbs_.on_peer_state(peer->id, false);
  }

  void drop_peer(const std::shared_ptr<OutPeer>& peer) {
    peer->removed = true;
    peer->connected = false;
    peer->retry.cancel();
    peer->resolver.cancel();
    if (peer->conn) peer->conn->close();
    peer->conn.reset();
    peer->pending.clear();
    peer->pending_frames = 0;
  }

  void close_inbound(const std::shared_ptr<Connection>& conn, LogLevel level,
                     const std::string& why) {
    conn->close();
    inbound_.erase(conn->id);
    if (conn->established) {
      log(level, fmt::format("inbound connection from peer {} ({}) closed: {}", conn->node,
                             conn->remote, why));
    } else {
      log(level, fmt::format("inbound connection from {} closed before its handshake: {}",
                             conn->remote, why));
    }
  }

  /// Malformed or unexpected input: log, close this connection, carry on.
  void protocol_error(const std::shared_ptr<Connection>& conn, const std::string& why) {
    ++tstats_.protocol_errors;
    if (conn->dir == Connection::Dir::kOutbound) {
      outbound_failed(conn, "protocol error: " + why, LogLevel::kWarn);
    } else {
      close_inbound(conn, LogLevel::kWarn, "protocol error: " + why);
    }
  }

  // --- Reading -------------------------------------------------------------------------------

  void read_next(const std::shared_ptr<Connection>& conn) {
    // Before its handshake a connection gets small reads: it never holds more than a few KB.
    const std::size_t chunk = conn->established ? kReadChunk : kMaxUnauthenticatedFrameBytes;
    conn->socket.async_read_some(asio::buffer(conn->rbuf.get(), chunk),
                                 [self = shared_from_this(), conn](error_code ec, std::size_t n) {
                                   self->on_read(conn, ec, n);
                                 });
  }

  void on_read(const std::shared_ptr<Connection>& conn, const error_code& ec, std::size_t n) {
    if (!alive(conn)) return;
    if (ec) {
      if (conn->dir == Connection::Dir::kOutbound) {
        outbound_failed(conn, describe(ec));
      } else {
        close_inbound(conn, LogLevel::kInfo, describe(ec));
      }
      return;
    }
    conn->reader.feed(std::string_view(conn->rbuf.get(), n));
    Frame frame;
    for (;;) {
      const DecodeStatus st = conn->reader.next(frame);
      if (st == DecodeStatus::kNeedMore) break;
      if (st == DecodeStatus::kError) {
        const DecodeResult& err = conn->reader.last_error();
        protocol_error(conn, fmt::format("{}: {}", to_string(err.error), err.detail));
        return;
      }
      handle_frame(conn, std::move(frame));
      // A callback may have stopped the transport or dropped this connection.
      if (!alive(conn)) return;
    }
    read_next(conn);
  }

  void handle_frame(const std::shared_ptr<Connection>& conn, Frame&& frame) {
    if (conn->dir == Connection::Dir::kOutbound) {
      if (conn->established) {
        protocol_error(
            conn, fmt::format("unexpected {} frame from the accepting side", frame_name(frame)));
        return;
      }
      if (auto* c = std::get_if<Challenge>(&frame); c != nullptr && !conn->hello_sent) {
        on_challenge(conn, *c);
      } else if (auto* w = std::get_if<Welcome>(&frame); w != nullptr && conn->hello_sent) {
        on_welcome(conn, *w);
      } else if (auto* r = std::get_if<Refusal>(&frame); r != nullptr && conn->hello_sent) {
        on_refusal(conn, *r);
      } else {
        protocol_error(conn,
                       fmt::format("unexpected {} frame in the handshake", frame_name(frame)));
      }
      return;
    }

    if (!conn->established) {
      if (auto* h = std::get_if<Hello>(&frame); h != nullptr && !conn->close_after_write) {
        on_hello(conn, *h);
      } else {
        protocol_error(conn, fmt::format("expected a hello, got {}", frame_name(frame)));
      }
      return;
    }
    RecvStats& rs = recv_[conn->node];
    ++rs.frames;
    rs.bytes += conn->reader.last_frame_bytes();
    switch (frame_type(frame)) {
      case FrameType::kRaft: {
        const auto& m = std::get<raft::Message>(frame);
        // Messages are attributed by the handshake: a peer cannot speak for another node, and
        // a message for someone else means a misrouted or confused sender.
        if (m.from != conn->node || m.to != opts_.self_id) {
          protocol_error(conn, fmt::format("raft message from {} to {} on a connection from node "
                                           "{} to node {}",
                                           m.from, m.to, conn->node, opts_.self_id));
          return;
        }
        if (cbs_.on_message) cbs_.on_message(m);
        return;
      }
      case FrameType::kForward: {
        auto& f = std::get<Forward>(frame);
        if (cbs_.on_forward) cbs_.on_forward(conn->node, f.request_id, std::move(f.args));
        return;
      }
      case FrameType::kForwardReply: {
        auto& r = std::get<ForwardReply>(frame);
        if (cbs_.on_forward_reply) cbs_.on_forward_reply(r.request_id, std::move(r.reply));
        return;
      }
      default:
        protocol_error(conn,
                       fmt::format("unexpected {} frame after the handshake", frame_name(frame)));
        return;
    }
  }

  // --- The acceptor's side -------------------------------------------------------------------

  void on_hello(const std::shared_ptr<Connection>& conn, const Hello& h) {
    if (h.protocol_version != kProtocolVersion) {
      refuse(conn, RefusalReason::kProtocol,
             fmt::format("protocol version {} (this node speaks {})", h.protocol_version,
                         kProtocolVersion));
      return;
    }
    if (h.nonce.size() != kHandshakeNonceBytes || h.id.node_id == raft::kNoNode ||
        h.id.node_id == opts_.self_id) {
      refuse(conn, RefusalReason::kProtocol, "malformed hello");
      return;
    }
    bool authenticated = false;
    if (!opts_.secret.empty() && !h.proof.empty()) {
      authenticated =
          constant_time_equal(h.proof, hello_proof(opts_.secret, conn->challenge_nonce, h));
      if (!authenticated) {
        refuse(conn, RefusalReason::kAuthentication, "wrong proof of the cluster secret",
               fmt::format("a connection claiming node {} sent a wrong proof of the cluster "
                           "secret",
                           h.id.node_id));
        return;
      }
    }
    Admission a = cbs_.admit_inbound ? cbs_.admit_inbound(h.id, authenticated)
                  : authenticated    ? Admission::accept()
                                     : Admission::refuse(RefusalReason::kAuthentication,
                                                         "authentication required");
    if (a.verdict == Admission::Verdict::kAccept && !authenticated) {
      a = Admission::refuse(RefusalReason::kAuthentication, "authentication required");
    }
    if (a.verdict == Admission::Verdict::kRefuse) {
      refuse(conn, a.reason, a.text,
             fmt::format("refused node {} ({}): {}", h.id.node_id, conn->remote, a.text));
      return;
    }
    conn->hello_nonce = h.nonce;
    Welcome w;
    w.id = opts_.identity;
    if (a.formation) {
      w.has_formation = true;
      w.formation = std::move(*a.formation);
    }
    w.admitted = a.verdict == Admission::Verdict::kAccept;
    // Only a dialer that proved the secret gets our proof: to anyone else it would be an HMAC of
    // the secret over bytes they know, something to guess a weak secret against offline.
    if (authenticated) {
      w.proof = welcome_proof(opts_.secret, conn->challenge_nonce, conn->hello_nonce, w);
    }
    append_frame(conn->control, w);
    if (a.verdict == Admission::Verdict::kTell) {
      conn->close_after_write = true;
      write_control(conn);
      return;
    }
    // Admitted: from the next frame on, everything the dialer sends is sealed.
    conn->established = true;
    conn->node = h.id.node_id;
    conn->deadline.cancel();
    conn->reader.set_cipher(std::make_unique<FrameCipher>(
        session_key(opts_.secret, conn->challenge_nonce, conn->hello_nonce)));
    conn->reader.set_max_frame_bytes(opts_.max_frame_bytes);
    write_control(conn);
    // The peer dials one connection to us at a time: an older one from the same node is dead
    // (it redialled after losing it), even if no FIN reached us. Only an authenticated
    // connection gets here, so nobody else can push a member's connection out.
    std::vector<std::shared_ptr<Connection>> stale;
    for (const auto& [id, other] : inbound_) {
      if (other != conn && other->established && other->node == h.id.node_id) {
        stale.push_back(other);
      }
    }
    for (const auto& other : stale) {
      close_inbound(other, LogLevel::kInfo, "replaced by a newer connection");
    }
    std::size_t established = 0;
    for (const auto& [id, other] : inbound_) established += other->established;
    if (established > opts_.max_inbound) {
      close_inbound(conn, LogLevel::kWarn, "too many authenticated inbound connections");
      return;
    }
    recv_[h.id.node_id].client_addr = h.id.client_addr;
    log(LogLevel::kInfo,
        fmt::format("accepted connection from peer {} ({})", h.id.node_id, conn->remote));
  }

  /// Answers with a Refusal and closes once it is written. `told` goes to the peer, `logged`
  /// (if set) to our log; a misconfigured or hostile peer redials every few seconds, so the log
  /// gets the first and then ever rarer ones.
  void refuse(const std::shared_ptr<Connection>& conn, RefusalReason reason,
              const std::string& told, const std::string& logged = {}) {
    ++tstats_.handshakes_rejected;
    const std::uint64_t n = ++inbound_rejects_;
    log((n & (n - 1)) == 0 ? LogLevel::kWarn : LogLevel::kDebug,
        fmt::format("handshake refused: {} (refusal #{})", logged.empty() ? told : logged, n));
    append_frame(conn->control, Refusal{reason, told.substr(0, kMaxRefusalTextBytes)});
    conn->close_after_write = true;
    write_control(conn);
  }

  // --- The dialer's side ---------------------------------------------------------------------

  void on_challenge(const std::shared_ptr<Connection>& conn, const Challenge& c) {
    if (c.protocol_version != kProtocolVersion || c.nonce.size() != kHandshakeNonceBytes) {
      outbound_failed(conn,
                      fmt::format("the peer speaks protocol version {} (this node speaks {})",
                                  c.protocol_version, kProtocolVersion),
                      LogLevel::kWarn);
      return;
    }
    conn->challenge_nonce = c.nonce;
    conn->hello_nonce = random_bytes(kHandshakeNonceBytes);
    Hello h;
    h.nonce = conn->hello_nonce;
    h.id = opts_.identity;
    if (!opts_.secret.empty()) h.proof = hello_proof(opts_.secret, conn->challenge_nonce, h);
    append_frame(conn->control, h);
    conn->hello_sent = true;
    write_control(conn);
  }

  void on_welcome(const std::shared_ptr<Connection>& conn, const Welcome& w) {
    auto it = peers_.find(conn->node);
    if (it == peers_.end() || it->second->conn != conn) {
      conn->close();
      return;
    }
    std::shared_ptr<OutPeer> peer = it->second;
    if (w.id.node_id != conn->node) {
      outbound_failed(conn,
                      fmt::format("dialed node {} but node {} answered", conn->node, w.id.node_id),
                      LogLevel::kWarn);
      return;
    }
    bool authenticated = false;
    if (!opts_.secret.empty() && !w.proof.empty()) {
      authenticated = constant_time_equal(
          w.proof, welcome_proof(opts_.secret, conn->challenge_nonce, conn->hello_nonce, w));
      if (!authenticated) {
        outbound_failed(conn, "the peer sent a wrong proof of the cluster secret", LogLevel::kWarn);
        return;
      }
    }
    Admission a = cbs_.admit_outbound ? cbs_.admit_outbound(conn->node, w, authenticated)
                                      : Admission::accept();
    if (!alive(conn) || peer->conn != conn) return;  // the host reconfigured us meanwhile
    if (a.verdict != Admission::Verdict::kAccept || !authenticated || !w.admitted) {
      outbound_failed(
          conn,
          a.text.empty() ? std::string("not admitted (no proof of the cluster secret)") : a.text,
          LogLevel::kDebug);
      return;
    }
    conn->established = true;
    conn->deadline.cancel();
    conn->cipher = std::make_unique<FrameCipher>(
        session_key(opts_.secret, conn->challenge_nonce, conn->hello_nonce));
    peer->connected = true;
    peer->backoff = opts_.backoff_initial;
    peer->failures_in_row = 0;
    peer->client_addr = w.id.client_addr;
    ++peer->counters.connects;
    log(LogLevel::kInfo, fmt::format("connected to peer {} at {}", peer->id, conn->remote));
    // Everything queued while we were away leaves now (after our Hello, if still in flight).
    write_batch(peer);
    if (cbs_.on_peer_state) cbs_.on_peer_state(peer->id, true);
  }

  void on_refusal(const std::shared_ptr<Connection>& conn, const Refusal& r) {
    const raft::NodeId node = conn->node;
    ++tstats_.handshakes_rejected;
    if (cbs_.on_refused) cbs_.on_refused(node, r);
    if (!alive(conn)) return;
    outbound_failed(conn, fmt::format("refused ({}): {}", to_string(r.reason), r.text),
                    LogLevel::kDebug);
  }

  // --- Writing -------------------------------------------------------------------------------

  void schedule_flush(const std::shared_ptr<OutPeer>& peer) {
    if (!peer->connected || !peer->conn || peer->conn->writing || peer->flush_posted) return;
    // Posted, not written at once: everything else queued in this loop turn joins the batch.
    peer->flush_posted = true;
    asio::post(io_, [self = shared_from_this(), peer] {
      peer->flush_posted = false;
      if (self->stopped_ || peer->removed) return;
      self->write_batch(peer);
    });
  }

  void write_batch(const std::shared_ptr<OutPeer>& peer) {
    const std::shared_ptr<Connection> conn = peer->conn;
    if (!peer->connected || !conn || conn->writing || conn->closed || !conn->cipher) return;
    if (peer->pending.empty()) return;
    conn->wbuf.clear();
    conn->wframes = seal_frames(*conn->cipher, peer->pending, conn->wbuf);
    peer->pending.clear();
    release_if_large(peer->pending);
    peer->pending_frames = 0;
    conn->writing = true;
    ++peer->counters.writes;
    asio::async_write(conn->socket, asio::buffer(conn->wbuf),
                      [self = shared_from_this(), peer, conn](error_code ec, std::size_t) {
                        self->on_written(peer, conn, ec);
                      });
  }

  void on_written(const std::shared_ptr<OutPeer>& peer, const std::shared_ptr<Connection>& conn,
                  const error_code& ec) {
    if (!alive(conn)) return;
    if (ec) {
      outbound_failed(conn, "write: " + describe(ec));
      return;
    }
    peer->counters.frames_sent += conn->wframes;
    peer->counters.bytes_sent += conn->wbuf.size();
    conn->writing = false;
    conn->wframes = 0;
    conn->wbuf.clear();
    release_if_large(conn->wbuf);
    // Frames queued while this batch was on the wire form the next batch.
    write_batch(peer);
  }

  /// Writes the handshake frames queued in conn->control (one write at a time per socket).
  void write_control(const std::shared_ptr<Connection>& conn) {
    if (conn->writing || conn->closed || conn->control.empty()) return;
    conn->wbuf.clear();
    conn->wbuf.swap(conn->control);
    conn->writing = true;
    asio::async_write(conn->socket, asio::buffer(conn->wbuf),
                      [self = shared_from_this(), conn](error_code ec, std::size_t) {
                        if (!self->alive(conn)) return;
                        conn->writing = false;
                        conn->wbuf.clear();
                        if (ec) {
                          self->connection_failed(conn, "handshake write: " + describe(ec));
                          return;
                        }
                        if (!conn->control.empty()) {
                          self->write_control(conn);
                        } else if (conn->close_after_write) {
                          self->close_inbound(conn, LogLevel::kDebug, "handshake answered");
                        } else if (conn->dir == Connection::Dir::kOutbound && conn->established) {
                          auto it = self->peers_.find(conn->node);
                          if (it != self->peers_.end() && it->second->conn == conn) {
                            self->write_batch(it->second);
                          }
                        }
                      });
  }

  void connection_failed(const std::shared_ptr<Connection>& conn, const std::string& why) {
    if (conn->dir == Connection::Dir::kOutbound) {
      outbound_failed(conn, why);
    } else {
      close_inbound(conn, LogLevel::kDebug, why);
    }
  }

  // --- Helpers -------------------------------------------------------------------------------

  void configure_socket(Connection& conn) {
    error_code ec;
    conn.socket.set_option(tcp::no_delay(true), ec);
    conn.socket.set_option(asio::socket_base::keep_alive(true), ec);
#if defined(TCP_KEEPIDLE) && defined(TCP_KEEPINTVL) && defined(TCP_KEEPCNT)
    // Notice a peer that vanished without a FIN (power loss, partition) within ~25 s rather
    // than the kernel default of two hours.
    const int fd = conn.socket.native_handle();
    const int idle = 10, interval = 5, count = 3;
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
#endif
#ifdef TCP_USER_TIMEOUT
    // Keepalive only probes an idle connection; with heartbeats unacknowledged in the send
    // buffer, this is what ends a dead one (instead of ~15 minutes of retransmissions).
    const unsigned int user_timeout_ms = 30000;
    ::setsockopt(conn.socket.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
                 sizeof user_timeout_ms);
#endif
    auto ep = conn.socket.remote_endpoint(ec);
    if (!ec) conn.remote = fmt::format("{}:{}", ep.address().to_string(), ep.port());
  }

  asio::io_context& io_;
  TransportOptions opts_;
  TransportCallbacks cbs_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  bool stopped_ = false;
  std::uint64_t next_conn_id_ = 1;

  std::map<raft::NodeId, std::shared_ptr<OutPeer>> peers_;
  std::map<std::uint64_t, std::shared_ptr<Connection>> inbound_;
  std::map<raft::NodeId, RecvStats> recv_;
  TransportStats tstats_;
  std::uint64_t inbound_rejects_ = 0;
};

Transport::Transport(asio::io_context& io, TransportOptions options, TransportCallbacks callbacks)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(callbacks))) {}

Transport::~Transport() {
  impl_->stop();
}

Status Transport::start() {
  return impl_->start();
}
std::uint16_t Transport::listen_port() const {
  return impl_->listen_port();
}

bool Transport::add_peer(raft::NodeId node, const std::string& host, std::uint16_t peer_port) {
  return impl_->add_peer(node, host, peer_port);
}
bool Transport::remove_peer(raft::NodeId node) {
  return impl_->remove_peer(node);
}

bool Transport::send(const raft::Message& m) {
  return impl_->enqueue(m.to, "raft message",
                        [&m](std::string& out) { return append_frame(out, m); });
}

bool Transport::send_forward(raft::NodeId node, std::uint64_t request_id,
                             const std::vector<std::string>& args) {
  return impl_->enqueue(node, "forwarded command", [&](std::string& out) {
    return append_forward_frame(out, request_id, args);
  });
}

bool Transport::send_forward_reply(raft::NodeId node, std::uint64_t request_id,
                                   const std::string& reply) {
  return impl_->enqueue(node, "forward reply", [&](std::string& out) {
    return append_forward_reply_frame(out, request_id, reply);
  });
}

void Transport::set_identity(PeerIdentity identity, std::string secret) {
  impl_->set_identity(std::move(identity), std::move(secret));
}
const PeerIdentity& Transport::identity() const {
  return impl_->identity();
}
bool Transport::connected(raft::NodeId node) const {
  return impl_->connected(node);
}
std::vector<PeerStats> Transport::stats() const {
  return impl_->stats();
}

std::optional<PeerStats> Transport::peer_stats(raft::NodeId node) const {
  for (auto& s : impl_->stats()) {
    if (s.node_id == node) return s;
  }
  return std::nullopt;
}

TransportStats Transport::transport_stats() const {
  return impl_->transport_stats();
}
void Transport::stop() {
  impl_->stop();
}

}  // namespace raftd::peer
