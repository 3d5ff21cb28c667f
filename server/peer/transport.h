// The Raft peer transport: carries raft::Message (and forwarded client commands) between raftd
// nodes over TCP, on the daemon's single io_context thread.
//
// Connections. For each peer we keep ONE outbound connection that we dial ourselves and use only
// for sending to that peer; what a peer sends us arrives on the connection it dialed (inbound).
// So each direction has one ordered byte stream and nobody has to arbitrate between two
// simultaneous dials. A failed or dropped outbound connection is redialled with exponential
// backoff (initial doubling to max, jittered by the injected random source).
//
// Handshake (handshake.h has the messages and proofs). The accepting side sends a Challenge (a
// nonce, nothing else); the dialer answers with a Hello carrying who it is and its proof of the
// cluster secret; the acceptor checks the proof, asks the host whether to admit that identity
// (TransportCallbacks::admit_inbound), and answers with a Welcome or a Refusal. The dialer checks
// the Welcome's proof and asks the host too (admit_outbound). Only a connection whose two proofs
// held and whose identities both hosts admitted carries frames, and those are sealed (AES-GCM
// with a key of this connection alone): nobody without the secret can step a Raft message,
// forward a command, or read one, and a recorded stream cannot be replayed. Before its proof a
// connection may buffer kMaxUnauthenticatedFrameBytes and must finish within handshake_timeout;
// at most max_pending_handshakes wait at once (the oldest is closed for a new one, so strangers
// cannot hold the slots a member needs), and a member has one connection at a time (a newer,
// authenticated one replaces it). Any mismatch or malformed input: a log line, the connection is
// closed, the transport keeps running.
//
// Sending. Frames are encoded straight into a per-peer pending buffer bounded in bytes
// (queued + in flight). When it is full, messages are dropped and counted: Raft tolerates loss
// (the leader retries), and a forwarded command is refused to its caller. Everything queued
// during one event-loop turn leaves in one async_write. Frames queued while a peer is down wait
// (within the bound) and go out once the connection is back; frames in flight when a connection
// breaks are lost and counted.
//
// Threading: not thread-safe. Call every method on the io_context's thread; callbacks run there
// too, and may call back into the transport (send, remove_peer, stop) but must not destroy it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>  // before boost/asio: Boost 1.74 + g++ 12 (asio/awaitable.hpp)
#include <vector>

#include "raft/message.h"
#include "raft/raft.h"
#include "raft/types.h"
#include "server/peer/codec.h"
#include "server/peer/handshake.h"
#include "server/status.h"

namespace raftd::peer {

struct TransportOptions {
  raft::NodeId self_id = raft::kNoNode;
  /// What we say about ourselves in handshakes (set_identity() changes it).
  PeerIdentity identity;
  /// The cluster secret every peer must prove; empty until the node has one (a node that is not
  /// formed yet can then only exchange identities, never carry frames).
  std::string secret;
  /// Where to listen for peers: the client host and client port + 1.
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;

  std::size_t max_frame_bytes = kDefaultMaxFrameBytes;
  /// Per peer: bytes queued plus in flight. Beyond it messages are dropped.
  std::size_t max_queue_bytes = 64u << 20;
  std::chrono::milliseconds backoff_initial{50};
  std::chrono::milliseconds backoff_max{2000};
  /// Dial + handshake (outbound) or handshake (inbound) must finish within this.
  std::chrono::milliseconds handshake_timeout{3000};
  /// Authenticated inbound connections beyond this are closed at once.
  std::size_t max_inbound = 256;
  /// Inbound connections still in their handshake; a new one closes the oldest of the address
  /// holding most of them. One address holds at most max_pending_per_address.
  std::size_t max_pending_handshakes = 64;
  std::size_t max_pending_per_address = 8;

  /// Injected randomness for backoff jitter: returns a uniform integer in [0, n). Must be set.
  std::function<std::uint64_t(std::uint64_t n)> rand;
  /// Injected logger; may be empty.
  std::function<void(raft::LogLevel, const std::string&)> log;
};

/// What the host decides about a peer's identity in a handshake.
struct Admission {
  enum class Verdict {
    kAccept,  ///< a member: the connection carries frames (only if both proofs held)
    kTell,    ///< acceptor: answer with our Welcome (and `formation`, if set), then close
    kRefuse,  ///< acceptor: answer with a Refusal; dialer: close
  };
  Verdict verdict = Verdict::kRefuse;
  RefusalReason reason = RefusalReason::kNotMember;
  std::string text;  ///< what the peer is told (kRefuse) or logged (dialer)
  std::optional<FormationRecord> formation;

  static Admission accept() { return {Verdict::kAccept, {}, {}, {}}; }
  static Admission tell(std::optional<FormationRecord> f = {}) {
    return {Verdict::kTell, {}, {}, std::move(f)};
  }
  static Admission refuse(RefusalReason r, std::string text) {
    return {Verdict::kRefuse, r, std::move(text), {}};
  }
};

struct TransportCallbacks {
  /// A Raft message from a peer (m.to is us, m.from is the peer that sent it).
  std::function<void(const raft::Message& m)> on_message;
  /// A client command forwarded to us (we are, or were, the leader).
  std::function<void(raft::NodeId from, std::uint64_t request_id, std::vector<std::string> args)>
      on_forward;
  /// The leader's reply to a command we forwarded.
  std::function<void(std::uint64_t request_id, std::string reply)> on_forward_reply;
  /// Our outbound connection to `node` finished its handshake (true) or broke (false). The host
  /// reports unreachable peers to raft::Node on false.
  std::function<void(raft::NodeId node, bool connected)> on_peer_state;
  /// Acceptor: a Hello from `peer`; `authenticated` when its proof of our secret held. Empty:
  /// accept every authenticated peer, refuse the rest.
  std::function<Admission(const PeerIdentity& peer, bool authenticated)> admit_inbound;
  /// Dialer: the Welcome of `dialed`; `authenticated` when its proof held. Only kAccept keeps
  /// the connection. Empty: accept every authenticated peer.
  std::function<Admission(raft::NodeId dialed, const Welcome& welcome, bool authenticated)>
      admit_outbound;
  /// Dialer: `node` refused us (we redial later, with backoff).
  std::function<void(raft::NodeId node, const Refusal& refusal)> on_refused;
};

/// Per-peer figures for INFO.
struct PeerStats {
  raft::NodeId node_id = raft::kNoNode;
  std::string address;             ///< the peer port we dial, "host:port"; empty if inbound only
  std::string client_addr;         ///< as announced in its handshake
  bool configured = false;         ///< added with add_peer (we dial it)
  bool connected = false;          ///< outbound handshake done
  std::uint64_t bytes_queued = 0;  ///< pending + in flight
  std::uint64_t frames_queued = 0;
  std::uint64_t frames_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t writes = 0;  ///< async_write calls (frames_sent / writes = batching)
  std::uint64_t frames_received = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t frames_dropped = 0;  ///< refused at send: queue full or frame too large
  std::uint64_t frames_lost = 0;     ///< in flight when the connection broke
  std::uint64_t connects = 0;        ///< outbound handshakes completed
  std::uint64_t connect_failures = 0;
};

/// Transport-wide figures.
struct TransportStats {
  std::uint64_t inbound_accepted = 0;
  std::uint64_t inbound_open = 0;
  std::uint64_t handshakes_rejected = 0;  ///< refused: no or a wrong proof, not admitted
  std::uint64_t handshakes_evicted = 0;   ///< pending handshakes closed for a newer one
  std::uint64_t protocol_errors = 0;      ///< malformed or unexpected frames
};

class Transport {
 public:
  Transport(boost::asio::io_context& io, TransportOptions options, TransportCallbacks callbacks);
  /// Closes every connection; pending handlers finish harmlessly later.
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  /// Binds and listens on options.listen_host:listen_port. An error when that fails (e.g. the
  /// port is taken).
  Status start();
  /// The bound peer port (after start()).
  std::uint16_t listen_port() const;

  /// Starts dialing `node` at host:peer_port. Re-adding with a new address redials; with the
  /// same address it is a no-op. Returns false for our own id or kNoNode.
  bool add_peer(raft::NodeId node, const std::string& host, std::uint16_t peer_port);
  /// Closes the outbound connection to `node` and discards its queue. Its inbound connection, if
  /// any, stays until the peer closes it. Returns false if it was not a peer.
  bool remove_peer(raft::NodeId node);

  /// Queues a Raft message for m.to. False if m.to is not a peer, the queue is full or the frame
  /// exceeds max_frame_bytes (counted as dropped; Raft retries).
  bool send(const raft::Message& m);
  /// Forwards a client command to `node`. False if it cannot be queued: the caller replies with
  /// an error instead of waiting.
  bool send_forward(raft::NodeId node, std::uint64_t request_id,
                    const std::vector<std::string>& args);
  bool send_forward_reply(raft::NodeId node, std::uint64_t request_id, const std::string& reply);

  /// Our identity and secret from now on (the cluster was formed): every connection is closed
  /// and outbound ones are redialled at once, to be authenticated with the new secret.
  void set_identity(PeerIdentity identity, std::string secret);
  const PeerIdentity& identity() const;

  /// True if the outbound connection to `node` is up.
  bool connected(raft::NodeId node) const;
  /// Ordered by node id: configured peers and nodes we only heard from.
  std::vector<PeerStats> stats() const;
  std::optional<PeerStats> peer_stats(raft::NodeId node) const;
  TransportStats transport_stats() const;

  /// Stops listening, closes all connections and timers; no callback runs afterwards.
  /// Idempotent. The transport cannot be restarted.
  void stop();

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace raftd::peer
