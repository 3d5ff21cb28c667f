// Transport tests on loopback: two or three transports share one io_context, and each test runs
// the loop until a condition holds (with a deadline), never sleeping. Ports 23000-23099 only.
#include "server/peer/transport.h"

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>  // before boost/asio: Boost 1.74 + g++ 12 (asio/awaitable.hpp)
#include <vector>

#include "server/peer/codec.h"
#include "server/peer/crypto.h"
#include "server/peer/handshake.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace raftd::peer;
using namespace std::chrono_literals;

constexpr const char* kHost = "127.0.0.1";
constexpr const char* kSecret = "transport test cluster secret";

/// Runs the loop until `cond` holds or the deadline passes; returns whether it held.
bool run_until(asio::io_context& io, const std::function<bool()>& cond,
               std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(20ms);
  }
  return true;
}

/// Runs every handler that is ready now (no waiting), e.g. to let queued writes go out.
void drain_ready(asio::io_context& io) {
  if (io.stopped()) io.restart();
  io.poll();
}

struct Forwarded {
  raft::NodeId from;
  std::uint64_t id;
  std::vector<std::string> args;
};

/// One transport plus everything its callbacks saw.
class TestNode {
 public:
  TestNode(asio::io_context& io, raft::NodeId id, std::uint16_t port, std::uint64_t cluster = 7,
           std::function<void(TransportOptions&)> tweak = {})
      : io_(io), id_(id), port_(port), cluster_(cluster), tweak_(std::move(tweak)) {
    start();
  }

  void start() {
    TransportOptions o;
    o.self_id = id_;
    o.identity.cluster_id = cluster_;
    o.identity.node_id = id_;
    o.identity.dir_id = id_ * 100;
    o.identity.client_addr = fmt_addr(port_ - 1);
    o.secret = kSecret;
    o.listen_host = kHost;
    o.listen_port = port_;
    // Zero jitter keeps redials at the low end of the window: tests finish sooner.
    o.rand = [](std::uint64_t) { return std::uint64_t{0}; };
    o.log = [this](raft::LogLevel, const std::string& line) { logs.push_back(line); };
    if (tweak_) tweak_(o);
    TransportCallbacks cb;
    cb.on_message = [this](const raft::Message& m) {
      ++received;
      if (keep_messages) messages.push_back(m);
    };
    cb.on_forward = [this](raft::NodeId from, std::uint64_t rid, std::vector<std::string> args) {
      forwards.push_back({from, rid, std::move(args)});
      if (on_forward_hook) on_forward_hook(from, rid);
    };
    cb.on_forward_reply = [this](std::uint64_t rid, std::string reply) {
      replies.emplace_back(rid, std::move(reply));
    };
    cb.on_peer_state = [this](raft::NodeId n, bool up) {
      state[n] = up;
      state_changes.emplace_back(n, up);
    };
    // Admits peers of our cluster (the host's Membership decides more; see membership_test).
    cb.admit_inbound = [this](const PeerIdentity& p, bool authenticated) {
      inbound_ids.push_back(p);
      if (admit_inbound_hook) return admit_inbound_hook(p, authenticated);
      if (p.cluster_id != cluster_) {
        return Admission::refuse(RefusalReason::kOtherCluster, "a node of another cluster");
      }
      return Admission::accept();
    };
    cb.admit_outbound = [this](raft::NodeId dialed, const Welcome& w, bool authenticated) {
      welcomes.push_back(w);
      (void)dialed;
      (void)authenticated;
      if (w.id.cluster_id != cluster_) {
        return Admission::refuse(RefusalReason::kOtherCluster, "another cluster");
      }
      return Admission::accept();
    };
    cb.on_refused = [this](raft::NodeId n, const Refusal& r) { refusals.emplace_back(n, r); };
    transport = std::make_unique<Transport>(io_, std::move(o), std::move(cb));
    raftd::Status st = transport->start();
    INFO("start: " << st.message());
    REQUIRE(st.is_ok());
  }

  static std::string fmt_addr(int port) { return std::string(kHost) + ":" + std::to_string(port); }

  void add(const TestNode& other) { REQUIRE(transport->add_peer(other.id_, kHost, other.port_)); }

  bool up(raft::NodeId n) const {
    auto it = state.find(n);
    return it != state.end() && it->second;
  }

  bool logged(const std::string& needle) const {
    for (const auto& l : logs) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  std::size_t messages_from(raft::NodeId from) const {
    std::size_t n = 0;
    for (const auto& m : messages) n += m.from == from;
    return n;
  }

  raft::NodeId id() const { return id_; }
  std::uint16_t port() const { return port_; }

  std::unique_ptr<Transport> transport;
  std::vector<raft::Message> messages;
  std::size_t received = 0;
  bool keep_messages = true;  // off for the benchmark
  std::vector<Forwarded> forwards;
  std::vector<std::pair<std::uint64_t, std::string>> replies;
  std::map<raft::NodeId, bool> state;
  std::vector<std::pair<raft::NodeId, bool>> state_changes;
  std::vector<PeerIdentity> inbound_ids;
  std::vector<Welcome> welcomes;
  std::vector<std::pair<raft::NodeId, Refusal>> refusals;
  std::function<Admission(const PeerIdentity&, bool)> admit_inbound_hook;
  std::vector<std::string> logs;
  std::function<void(raft::NodeId, std::uint64_t)> on_forward_hook;

 private:
  asio::io_context& io_;
  raft::NodeId id_;
  std::uint16_t port_;
  std::uint64_t cluster_;
  std::function<void(TransportOptions&)> tweak_;
};

raft::Message make_message(raft::NodeId from, raft::NodeId to, std::uint64_t seq,
                           std::size_t payload = 0) {
  raft::Message m;
  m.type = raft::MessageType::kAppend;
  m.from = from;
  m.to = to;
  m.term = 3;
  m.index = seq;
  m.log_term = 3;
  m.commit = seq / 2;
  if (payload > 0) {
    m.entries.push_back(
        {3, seq + 1, raft::EntryType::kNormal, std::string(payload, 'a' + seq % 26)});
  }
  return m;
}

/// A hand-driven peer connection, to say things a Transport never would.
class RawClient {
 public:
  RawClient(asio::io_context& io, std::uint16_t port) : socket_(io) {
    socket_.async_connect(tcp::endpoint(asio::ip::make_address(kHost), port),
                          [this](boost::system::error_code ec) {
                            connected = !ec;
                            failed = static_cast<bool>(ec);
                            if (ec) return;
                            read_more();
                            if (!unsent_.empty()) write(std::exchange(unsent_, {}));
                          });
  }

  /// Sends now if connected, else as soon as the connection is up.
  void send(const std::string& bytes) {
    if (connected) {
      write(bytes);
    } else {
      unsent_ += bytes;
    }
  }

  bool connected = false;
  bool failed = false;
  bool eof = false;
  std::vector<Frame> frames;
  bool frame_error = false;

 private:
  void read_more() {
    socket_.async_read_some(asio::buffer(buf_),
                            [this](boost::system::error_code ec, std::size_t n) {
                              if (ec) {
                                eof = true;
                                return;
                              }
                              reader_.feed(std::string_view(buf_.data(), n));
                              Frame f;
                              DecodeStatus st;
                              while ((st = reader_.next(f)) == DecodeStatus::kOk)
                                frames.push_back(std::move(f));
                              frame_error = st == DecodeStatus::kError;
                              read_more();
                            });
  }

  void write(std::string bytes) {
    auto buf = std::make_shared<std::string>(std::move(bytes));
    asio::async_write(socket_, asio::buffer(*buf),
                      [buf](boost::system::error_code, std::size_t) {});
  }

  tcp::socket socket_;
  std::string unsent_;
  std::array<char, 4096> buf_{};
  FrameReader reader_;
};

/// A Hello from a hand-driven client: as node `node` of cluster `cluster`, with a proof over the
/// challenge when `secret` is given.
Hello raw_hello(std::uint64_t cluster, raft::NodeId node, const std::string& challenge,
                const std::string& secret, std::string nonce = random_bytes(kHandshakeNonceBytes)) {
  Hello h;
  h.nonce = std::move(nonce);
  h.id.cluster_id = cluster;
  h.id.node_id = node;
  h.id.dir_id = node * 100;
  h.id.client_addr = "127.0.0.1:1";
  if (!secret.empty()) h.proof = hello_proof(secret, challenge, h);
  return h;
}

/// A raw client that completes the handshake as `node` and can then send sealed frames.
struct AuthenticatedRaw {
  AuthenticatedRaw(asio::io_context& io, std::uint16_t port, raft::NodeId node,
                   std::uint64_t cluster = 7, const std::string& secret = kSecret)
      : raw(io, port) {
    REQUIRE(run_until(io, [&] { return raw.frames.size() == 1; }));
    challenge = std::get<Challenge>(raw.frames[0]).nonce;
    hello = raw_hello(cluster, node, challenge, secret);
    hello_bytes = encode_frame(hello);
    raw.send(hello_bytes);
    REQUIRE(run_until(io, [&] { return raw.frames.size() == 2 || raw.eof; }));
    cipher = std::make_unique<FrameCipher>(session_key(secret, challenge, hello.nonce));
  }
  /// Seals `frames` (append_frame output) as the next frames of this connection.
  std::string seal(const std::string& plain) {
    std::string out;
    seal_frames(*cipher, plain, out);
    return out;
  }
  RawClient raw;
  std::string challenge;
  Hello hello;
  std::string hello_bytes;
  std::unique_ptr<FrameCipher> cipher;
};

}  // namespace

TEST_CASE("messages are delivered in order, in both directions", "[peer][transport]") {
  asio::io_context io;
  TestNode a(io, 1, 23001);
  TestNode b(io, 2, 23002);
  a.add(b);
  b.add(a);

  // Sent before any connection exists: they wait in the queue and go out after the handshake.
  std::vector<raft::Message> sent_ab;
  std::vector<raft::Message> sent_ba;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    // Mostly small, a few large enough to span many socket reads.
    sent_ab.push_back(make_message(1, 2, i, i % 100 == 0 ? 200000 : i % 7));
    REQUIRE(a.transport->send(sent_ab.back()));
    if (i % 3 == 0) {
      sent_ba.push_back(make_message(2, 1, i, 10));
      REQUIRE(b.transport->send(sent_ba.back()));
    }
  }
  REQUIRE(run_until(io, [&] {
    return b.messages.size() == sent_ab.size() && a.messages.size() == sent_ba.size();
  }));
  CHECK(b.messages == sent_ab);
  CHECK(a.messages == sent_ba);
  CHECK(a.up(2));
  CHECK(b.up(1));

  const PeerStats sa = *a.transport->peer_stats(2);
  CHECK(sa.connected);
  CHECK(sa.configured);
  CHECK(sa.frames_sent == 1000);
  CHECK(sa.frames_dropped == 0);
  CHECK(sa.bytes_queued == 0);
  CHECK(sa.writes < 1000);  // batched
  CHECK(sa.client_addr == "127.0.0.1:23001");
  CHECK(sa.frames_received == sent_ba.size());
  const PeerStats sb = *b.transport->peer_stats(1);
  CHECK(sb.frames_received == 1000);
  CHECK(sb.bytes_received == sa.bytes_sent);
}

TEST_CASE("everything queued in one loop turn leaves in one write", "[peer][transport]") {
  asio::io_context io;
  TestNode a(io, 1, 23011);
  TestNode b(io, 2, 23012);
  a.add(b);
  REQUIRE(run_until(io, [&] { return a.up(2); }));
  drain_ready(io);
  REQUIRE(run_until(io, [&] { return a.transport->peer_stats(2)->bytes_queued == 0; }));
  const std::uint64_t writes_before = a.transport->peer_stats(2)->writes;

  for (std::uint64_t i = 0; i < 50; ++i) REQUIRE(a.transport->send(make_message(1, 2, i, 100)));
  REQUIRE(run_until(io, [&] { return b.messages.size() == 50; }));
  CHECK(a.transport->peer_stats(2)->writes == writes_before + 1);
  CHECK(a.transport->peer_stats(2)->frames_sent == 50);
}

TEST_CASE("three transports keep per-sender order", "[peer][transport]") {
  asio::io_context io;
  TestNode a(io, 1, 23021);
  TestNode b(io, 2, 23022);
  TestNode c(io, 3, 23023);
  for (TestNode* x : {&a, &b, &c}) {
    for (TestNode* y : {&a, &b, &c}) {
      if (x != y) x->add(*y);
    }
  }
  for (std::uint64_t i = 0; i < 300; ++i) {
    REQUIRE(a.transport->send(make_message(1, 2, i, i % 5)));
    REQUIRE(c.transport->send(make_message(3, 2, i, i % 3)));
    REQUIRE(b.transport->send(make_message(2, i % 2 ? 1 : 3, i)));
    if (i % 50 == 0) drain_ready(io);  // interleave sending with delivery
  }
  REQUIRE(run_until(io, [&] {
    return b.messages.size() == 600 && a.messages.size() == 150 && c.messages.size() == 150;
  }));
  std::map<raft::NodeId, std::uint64_t> next;
  for (const auto& m : b.messages) {
    REQUIRE(m.index == next[m.from]);
    ++next[m.from];
  }
  CHECK(next[1] == 300);
  CHECK(next[3] == 300);
  const auto stats = b.transport->stats();
  REQUIRE(stats.size() == 2);
  CHECK(stats[0].node_id == 1);  // ordered by id
  CHECK(stats[1].node_id == 3);
}

TEST_CASE("a peer that goes away and comes back on the same port is redialled",
          "[peer][transport]") {
  asio::io_context io;
  TestNode a(io, 1, 23031);
  auto b = std::make_unique<TestNode>(io, 2, 23032);
  a.add(*b);
  b->add(a);
  REQUIRE(a.transport->send(make_message(1, 2, 0)));
  REQUIRE(run_until(io, [&] { return b->messages.size() == 1 && a.up(2); }));

  b.reset();  // the peer's process dies: its sockets close
  REQUIRE(run_until(io, [&] { return !a.up(2); }));
  CHECK(a.state_changes == std::vector<std::pair<raft::NodeId, bool>>{{2, true}, {2, false}});
  CHECK(a.logged("lost connection to peer 2"));

  // Queued while the peer is down, within the bound.
  for (std::uint64_t i = 1; i <= 10; ++i) REQUIRE(a.transport->send(make_message(1, 2, i)));
  // Let a few dials fail, so the backoff path runs.
  REQUIRE(run_until(io, [&] { return a.transport->peer_stats(2)->connect_failures >= 2; }));

  b = std::make_unique<TestNode>(io, 2, 23032);
  b->add(a);
  REQUIRE(run_until(io, [&] { return b->messages.size() == 10 && a.up(2); }));
  for (std::uint64_t i = 0; i < 10; ++i) CHECK(b->messages[i].index == i + 1);
  CHECK(a.transport->peer_stats(2)->connects == 2);

  // The reverse direction works too (the new b dials a, whose old inbound died).
  REQUIRE(b->transport->send(make_message(2, 1, 77)));
  REQUIRE(run_until(io, [&] { return !a.messages.empty(); }));
  CHECK(a.messages.back().index == 77);
  REQUIRE(run_until(io, [&] { return a.transport->transport_stats().inbound_open == 1; }));
}

TEST_CASE("a peer from another cluster is refused", "[peer][transport]") {
  asio::io_context io;
  TestNode a(io, 1, 23041, /*cluster=*/0x111);
  TestNode b(io, 2, 23042, /*cluster=*/0x222);
  a.add(b);
  b.add(a);
  for (std::uint64_t i = 0; i < 5; ++i) a.transport->send(make_message(1, 2, i));
  REQUIRE(run_until(io, [&] {
    return a.transport->peer_stats(2)->connect_failures >= 2 &&
           b.transport->peer_stats(1)->connect_failures >= 2;
  }));
  CHECK(b.logged("a node of another cluster"));
  CHECK_FALSE(a.up(2));
  CHECK_FALSE(b.up(1));
  CHECK(b.messages.empty());
  CHECK(a.transport->transport_stats().handshakes_rejected >= 2);
  CHECK(a.transport->peer_stats(2)->connects == 0);
  REQUIRE_FALSE(a.refusals.empty());
  CHECK(a.refusals[0].second.reason == RefusalReason::kOtherCluster);
}

TEST_CASE("the acceptor speaks first and says nothing but a nonce", "[peer][transport]") {
  asio::io_context io;
  TestNode b(io, 2, 23051, 0x222);
  RawClient raw(io, 23051);
  REQUIRE(run_until(io, [&] { return raw.frames.size() == 1; }));
  const auto& c = std::get<Challenge>(raw.frames[0]);
  CHECK(c.protocol_version == kProtocolVersion);
  CHECK(c.nonce.size() == kHandshakeNonceBytes);
  // Nothing about the cluster, the node or its address.
  const std::string bytes = encode_frame(raw.frames[0]);
  CHECK(bytes.find("127.0.0.1") == std::string::npos);
  CHECK(bytes.size() == kFrameOverheadBytes + 2 + kHandshakeNonceBytes);
  RawClient other(io, 23051);
  REQUIRE(run_until(io, [&] { return other.frames.size() == 1; }));
  CHECK(std::get<Challenge>(other.frames[0]).nonce != c.nonce);
}

TEST_CASE("the acceptor checks the dialer's hello", "[peer][transport]") {
  asio::io_context io;
  TestNode b(io, 2, 23052, /*cluster=*/0x222);

  SECTION("no proof: refused, nothing delivered, nothing learned") {
    RawClient raw(io, 23052);
    REQUIRE(run_until(io, [&] { return raw.frames.size() == 1; }));
    std::string bytes = encode_frame(raw_hello(0x222, 5, "", ""));
    append_frame(bytes, make_message(5, 2, 9));  // a message nobody proved the right to send
    raw.send(bytes);
    REQUIRE(run_until(io, [&] { return raw.eof; }));
    REQUIRE(raw.frames.size() == 2);
    const auto& r = std::get<Refusal>(raw.frames[1]);
    CHECK(r.reason == RefusalReason::kAuthentication);
    CHECK(r.text.find("222") == std::string::npos);
    CHECK(b.messages.empty());
  }
  SECTION("a wrong proof") {
    RawClient raw(io, 23052);
    REQUIRE(run_until(io, [&] { return raw.frames.size() == 1; }));
    const auto& c = std::get<Challenge>(raw.frames[0]);
    raw.send(encode_frame(raw_hello(0x222, 5, c.nonce, "a guessed secret")));
    REQUIRE(run_until(io, [&] { return raw.eof; }));
    CHECK(std::get<Refusal>(raw.frames.at(1)).reason == RefusalReason::kAuthentication);
    CHECK(b.logged("wrong proof of the cluster secret"));
    CHECK(b.transport->transport_stats().handshakes_rejected == 1);
  }
  SECTION("the right proof: welcomed, and sealed frames are delivered") {
    AuthenticatedRaw ar(io, 23052, 5, 0x222);
    REQUIRE(ar.raw.frames.size() == 2);
    const auto& w = std::get<Welcome>(ar.raw.frames[1]);
    CHECK(w.id.node_id == 2);
    CHECK(w.id.cluster_id == 0x222);
    CHECK(w.proof == welcome_proof(kSecret, ar.challenge, ar.hello.nonce, w));
    std::string plain;
    append_frame(plain, make_message(5, 2, 9));
    ar.raw.send(ar.seal(plain));
    REQUIRE(run_until(io, [&] { return b.messages.size() == 1; }));
    CHECK(b.messages[0].index == 9);
    CHECK_FALSE(ar.raw.eof);
  }
  SECTION("plaintext after the handshake is refused") {
    AuthenticatedRaw ar(io, 23052, 5, 0x222);
    std::string plain = encode_frame(make_message(5, 2, 9, 100));
    ar.raw.send(plain);
    REQUIRE(run_until(io, [&] { return ar.raw.eof; }));
    CHECK(b.messages.empty());
    CHECK(b.logged("authentication tag"));
  }
  SECTION("a frame before the hello") {
    RawClient raw(io, 23052);
    raw.send(encode_frame(make_message(5, 2, 1)));
    REQUIRE(run_until(io, [&] { return raw.eof; }));
    CHECK(b.messages.empty());
    CHECK(b.transport->transport_stats().protocol_errors == 1);
  }
  SECTION("a message claiming to be from another node") {
    AuthenticatedRaw ar(io, 23052, 5, 0x222);
    std::string plain;
    append_frame(plain, make_message(6, 2, 1));
    ar.raw.send(ar.seal(plain));
    REQUIRE(run_until(io, [&] { return ar.raw.eof; }));
    CHECK(b.messages.empty());
    CHECK(b.logged("raft message from 6"));
  }
  SECTION("a hello claiming our own id") {
    AuthenticatedRaw ar(io, 23052, 2, 0x222);
    REQUIRE(run_until(io, [&] { return ar.raw.eof; }));
    CHECK(std::get<Refusal>(ar.raw.frames.at(1)).reason == RefusalReason::kProtocol);
  }
  SECTION("the host's refusal is told to the dialer") {
    b.admit_inbound_hook = [](const PeerIdentity&, bool) {
      return Admission::refuse(RefusalReason::kLostData, "node 5 lost its data directory");
    };
    AuthenticatedRaw ar(io, 23052, 5, 0x222);
    REQUIRE(run_until(io, [&] { return ar.raw.eof; }));
    const auto& r = std::get<Refusal>(ar.raw.frames.at(1));
    CHECK(r.reason == RefusalReason::kLostData);
    CHECK(r.text == "node 5 lost its data directory");
  }
}

TEST_CASE("a recorded session cannot be replayed", "[peer][transport]") {
  asio::io_context io;
  TestNode b(io, 2, 23053);
  // A member's real session: its Hello and one sealed message, as a capture would hold them.
  std::string captured;
  {
    AuthenticatedRaw ar(io, 23053, 5);
    std::string plain;
    append_frame(plain, make_message(5, 2, 1));
    const std::string sealed = ar.seal(plain);
    captured = ar.hello_bytes + sealed;
    ar.raw.send(sealed);
    REQUIRE(run_until(io, [&] { return b.messages.size() == 1; }));
    // Within the connection, the same sealed frame again fails its tag (its number is used).
    ar.raw.send(sealed);
    REQUIRE(run_until(io, [&] { return ar.raw.eof; }));
    CHECK(b.messages.size() == 1);
  }
  // On a new connection, the old Hello's proof covers another challenge.
  RawClient again(io, 23053);
  REQUIRE(run_until(io, [&] { return again.frames.size() == 1; }));
  again.send(captured);
  REQUIRE(run_until(io, [&] { return again.eof; }));
  CHECK(std::get<Refusal>(again.frames.at(1)).reason == RefusalReason::kAuthentication);
  CHECK(b.messages.size() == 1);
}

TEST_CASE("an unauthenticated connection buffers a few KB at most", "[peer][transport]") {
  asio::io_context io;
  TestNode b(io, 2, 23054);
  RawClient raw(io, 23054);
  REQUIRE(run_until(io, [&] { return raw.frames.size() == 1; }));
  // A frame header announcing 65 MB: refused from the header alone.
  std::string header = {0, 0x04, 0x10, 0, 2, 5};
  raw.send(header + std::string(1000, 'x'));
  REQUIRE(run_until(io, [&] { return raw.eof; }));
  CHECK(b.logged("frame too large"));
  REQUIRE(run_until(io, [&] { return b.transport->transport_stats().inbound_open == 0; }));
}

TEST_CASE("strangers holding connections open cannot lock members out", "[peer][transport]") {
  asio::io_context io;
  TestNode b(io, 2, 23056, 7, [](TransportOptions& o) { o.max_pending_handshakes = 8; });
  std::vector<std::unique_ptr<RawClient>> squatters;
  for (int i = 0; i < 40; ++i) {
    squatters.push_back(std::make_unique<RawClient>(io, 23056));
    REQUIRE(run_until(io, [&] { return squatters.back()->frames.size() == 1; }));
  }
  CHECK(b.transport->transport_stats().inbound_open <= 8);
  CHECK(b.transport->transport_stats().handshakes_evicted >= 32);
  // A member still gets in at once.
  TestNode a(io, 1, 23055);
  a.add(b);
  REQUIRE(a.transport->send(make_message(1, 2, 3)));
  REQUIRE(run_until(io, [&] { return b.messages.size() == 1; }));
  // And one authenticated connection per node: a second one replaces the first.
  AuthenticatedRaw impostor_free(io, 23056, 1);
  std::string plain;
  append_frame(plain, make_message(1, 2, 4));
  impostor_free.raw.send(impostor_free.seal(plain));
  REQUIRE(run_until(io, [&] { return b.messages.size() == 2; }));
  CHECK(b.logged("replaced by a newer connection"));
}

TEST_CASE("malformed input closes that connection and nothing else", "[peer][transport]") {
  asio::io_context io;
  TestNode a(io, 1, 23061);
  TestNode b(io, 2, 23062);
  a.add(b);
  REQUIRE(run_until(io, [&] { return a.up(2); }));

  AuthenticatedRaw ar(io, 23062, 5);
  std::string plain;
  append_frame(plain, make_message(5, 2, 1));
  std::string bad = ar.seal(plain);
  bad[bad.size() - 1] = static_cast<char>(bad[bad.size() - 1] ^ 0x40);  // corrupt the tag
  ar.raw.send(bad);
  REQUIRE(run_until(io, [&] { return ar.raw.eof; }));
  CHECK(b.logged("authentication tag"));
  CHECK(b.transport->transport_stats().protocol_errors == 1);

  RawClient junk(io, 23062);
  junk.send(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(run_until(io, [&] { return junk.eof; }));
  CHECK(b.transport->transport_stats().protocol_errors == 2);

  // The real peer is unaffected.
  REQUIRE(a.transport->send(make_message(1, 2, 5)));
  REQUIRE(run_until(io, [&] { return b.messages.size() == 1; }));
  CHECK(a.up(2));
}

TEST_CASE("an inbound connection that never says hello times out", "[peer][transport]") {
  asio::io_context io;
  TestNode b(io, 2, 23072, 7,
             [](TransportOptions& o) { o.handshake_timeout = std::chrono::milliseconds(100); });
  RawClient raw(io, 23072);
  REQUIRE(run_until(io, [&] { return raw.eof; }));
  CHECK(b.logged("no handshake within 100 ms"));
  CHECK(b.transport->transport_stats().inbound_open == 0);
}

TEST_CASE("the send queue is bounded while the peer is down", "[peer][transport]") {
  asio::io_context io;
  constexpr std::size_t kBound = 16 * 1024;
  TestNode a(io, 1, 23081, 7, [](TransportOptions& o) { o.max_queue_bytes = kBound; });
  // Nobody listens on 23082 yet.
  REQUIRE(a.transport->add_peer(2, kHost, 23082));

  std::vector<std::uint64_t> accepted;
  for (std::uint64_t i = 0; i < 500; ++i) {
    if (a.transport->send(make_message(1, 2, i, 1000))) accepted.push_back(i);
  }
  const PeerStats s = *a.transport->peer_stats(2);
  CHECK(s.bytes_queued <= kBound);
  CHECK(s.frames_queued == accepted.size());
  CHECK(s.frames_dropped == 500 - accepted.size());
  CHECK(accepted.size() >= 10);
  CHECK(accepted.size() < 20);
  CHECK(a.logged("send queue to peer 2 full"));

  // Let the dials fail for a while: memory stays bounded and nothing is counted twice.
  REQUIRE(run_until(io, [&] { return a.transport->peer_stats(2)->connect_failures >= 3; }));
  CHECK(a.transport->peer_stats(2)->bytes_queued == s.bytes_queued);
  CHECK_FALSE(a.transport->send(make_message(1, 2, 999, 1000)));

  TestNode b(io, 2, 23082);
  REQUIRE(run_until(io, [&] { return b.messages.size() == accepted.size(); }));
  for (std::size_t i = 0; i < accepted.size(); ++i) CHECK(b.messages[i].index == accepted[i]);
  REQUIRE(run_until(io, [&] { return a.transport->peer_stats(2)->bytes_queued == 0; }));
  // Drained: sending works again.
  REQUIRE(a.transport->send(make_message(1, 2, 1000, 1000)));
  REQUIRE(run_until(io, [&] { return b.messages.size() == accepted.size() + 1; }));
}

TEST_CASE("a frame above the frame limit is refused at send", "[peer][transport]") {
  asio::io_context io;
  TestNode a(io, 1, 23086, 7, [](TransportOptions& o) { o.max_frame_bytes = 4096; });
  REQUIRE(a.transport->add_peer(2, kHost, 23087));
  CHECK(a.transport->send(make_message(1, 2, 1, 100)));
  CHECK_FALSE(a.transport->send(make_message(1, 2, 2, 5000)));
  CHECK(a.transport->peer_stats(2)->frames_dropped == 1);
  CHECK(a.transport->peer_stats(2)->frames_queued == 1);
}

TEST_CASE("a forwarded command and its reply make the round trip", "[peer][transport]") {
  asio::io_context io;
  TestNode follower(io, 1, 23091);
  TestNode leader(io, 2, 23092);
  follower.add(leader);
  leader.add(follower);
  leader.on_forward_hook = [&](raft::NodeId from, std::uint64_t rid) {
    REQUIRE(leader.transport->send_forward_reply(from, rid, "+OK\r\n"));
  };
  REQUIRE(follower.transport->send_forward(2, 42, {"SET", "k", std::string("v\0v", 3)}));
  REQUIRE(follower.transport->send_forward(2, 43, {"GET", "k"}));
  REQUIRE(run_until(io, [&] { return follower.replies.size() == 2; }));
  REQUIRE(leader.forwards.size() == 2);
  CHECK(leader.forwards[0].from == 1);
  CHECK(leader.forwards[0].id == 42);
  CHECK(leader.forwards[0].args == std::vector<std::string>{"SET", "k", std::string("v\0v", 3)});
  CHECK(leader.forwards[1].id == 43);
  CHECK(follower.replies[0] == std::pair<std::uint64_t, std::string>{42, "+OK\r\n"});
  CHECK(follower.replies[1].first == 43);
  CHECK_FALSE(follower.transport->send_forward(9, 1, {"PING"}));  // not a peer
}

TEST_CASE("only peers that know the secret connect, without flapping", "[peer][transport]") {
  asio::io_context io;
  auto secret = [](std::string s) { return [s](TransportOptions& o) { o.secret = s; }; };
  TestNode a(io, 1, 23095);
  TestNode b(io, 2, 23096);
  TestNode c(io, 3, 23097, 7, secret("a different secret"));
  a.add(b);
  c.add(b);
  b.add(c);
  REQUIRE(a.transport->send(make_message(1, 2, 1)));
  REQUIRE(c.transport->send(make_message(3, 2, 1)));
  REQUIRE(run_until(io, [&] {
    return b.messages.size() == 1 && c.transport->peer_stats(2)->connect_failures >= 2 &&
           b.transport->peer_stats(3)->connect_failures >= 2;
  }));
  CHECK(b.messages[0].from == 1);
  CHECK(b.logged("wrong proof of the cluster secret"));
  CHECK(a.up(2));
  CHECK(c.state_changes.empty());
  CHECK(b.state.count(3) == 0);

  // A node without a secret (not formed yet) never carries frames either.
  TestNode d(io, 4, 23094, 7, secret(""));
  d.add(b);
  REQUIRE(d.transport->send(make_message(4, 2, 1)));
  REQUIRE(run_until(io, [&] { return d.transport->peer_stats(2)->connect_failures >= 2; }));
  CHECK(b.messages.size() == 1);
  CHECK(d.state_changes.empty());
  REQUIRE_FALSE(d.refusals.empty());
  CHECK(d.refusals[0].second.reason == RefusalReason::kAuthentication);
}

TEST_CASE("a new identity and secret reconnect everything", "[peer][transport]") {
  asio::io_context io;
  auto none = [](TransportOptions& o) { o.secret.clear(); };
  TestNode a(io, 1, 23088, 7, none);
  TestNode b(io, 2, 23089, 7, none);
  a.add(b);
  REQUIRE(a.transport->send(make_message(1, 2, 1)));
  REQUIRE(run_until(io, [&] { return a.transport->peer_stats(2)->connect_failures >= 2; }));
  CHECK(b.messages.empty());
  // Both learn the secret (a cluster was formed): the queued message goes out.
  PeerIdentity ia = a.transport->identity();
  PeerIdentity ib = b.transport->identity();
  a.transport->set_identity(ia, kSecret);
  b.transport->set_identity(ib, kSecret);
  REQUIRE(run_until(io, [&] { return b.messages.size() == 1; }));
  CHECK(a.up(2));
}

TEST_CASE("the acceptor may hand a record over in its Welcome and close", "[peer][transport]") {
  asio::io_context io;
  TestNode a(io, 1, 23084);
  TestNode b(io, 2, 23085);
  FormationRecord record;
  record.cluster_id = 99;
  record.founder = 2;
  record.members = {{1, "x:1", 100, "key", "sealed"}};
  b.admit_inbound_hook = [&](const PeerIdentity&, bool) { return Admission::tell(record); };
  a.add(b);
  REQUIRE(run_until(io, [&] { return !a.welcomes.empty(); }));
  CHECK(a.welcomes[0].has_formation);
  CHECK(a.welcomes[0].formation == record);
  CHECK_FALSE(a.welcomes[0].admitted);
  CHECK_FALSE(a.up(2));  // told, not admitted
  // To a dialer that proved nothing, the Welcome carries no proof: nothing to guess against.
  RawClient raw(io, 23085);
  REQUIRE(run_until(io, [&] { return raw.frames.size() == 1; }));
  raw.send(encode_frame(raw_hello(7, 5, "", "")));
  REQUIRE(run_until(io, [&] { return raw.frames.size() == 2; }));
  CHECK(std::get<Welcome>(raw.frames[1]).proof.empty());
}

TEST_CASE("peers are added, readdressed and removed", "[peer][transport]") {
  asio::io_context io;
  TestNode a(io, 1, 23098);
  TestNode b(io, 2, 23099);
  CHECK_FALSE(a.transport->add_peer(1, kHost, 23099));  // ourselves
  CHECK_FALSE(a.transport->add_peer(raft::kNoNode, kHost, 23099));
  // Wrong address first: node 2 is not at 23093 (node 3 is).
  TestNode c(io, 3, 23093);
  REQUIRE(a.transport->add_peer(2, kHost, 23093));
  REQUIRE(run_until(io, [&] { return a.logged("dialed node 2 but node 3 answered"); }));
  REQUIRE(a.transport->add_peer(2, kHost, 23099));
  REQUIRE(a.transport->send(make_message(1, 2, 1)));
  REQUIRE(run_until(io, [&] { return b.messages.size() == 1; }));

  CHECK(a.transport->remove_peer(2));
  CHECK_FALSE(a.transport->remove_peer(2));
  CHECK_FALSE(a.transport->send(make_message(1, 2, 2)));
  CHECK_FALSE(a.transport->connected(2));
  CHECK_FALSE(a.transport->peer_stats(2).has_value());  // b never dialed a: nothing to list
  a.transport->stop();
  a.transport->stop();  // idempotent
  CHECK_FALSE(a.transport->add_peer(2, kHost, 23099));
}

// Not run by default: `server_peer_transport_test "[.bench]"` prints loopback throughput.
TEST_CASE("loopback throughput", "[.bench]") {
  asio::io_context io;
  TestNode a(io, 1, 23005);
  TestNode b(io, 2, 23006);
  a.add(b);
  REQUIRE(run_until(io, [&] { return a.up(2); }));
  b.keep_messages = false;
  for (std::size_t payload : {0, 100, 4096}) {
    b.received = 0;
    constexpr std::size_t kTotal = 200000;
    constexpr std::size_t kPerTurn = 500;
    const auto start = std::chrono::steady_clock::now();
    std::size_t sent = 0;
    while (sent < kTotal) {
      for (std::size_t i = 0; i < kPerTurn; ++i) {
        REQUIRE(a.transport->send(make_message(1, 2, sent++, payload)));
      }
      REQUIRE(run_until(io, [&] { return b.received + 4 * kPerTurn >= sent; }));
    }
    REQUIRE(run_until(
        io, [&] { return b.received == kTotal; }, 60s));
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    WARN("payload " << payload << " B: " << static_cast<long>(kTotal / secs) << " msgs/s, "
                    << static_cast<long>(kTotal * (payload + 20) / secs / 1e6) << " MB/s");
  }
}
