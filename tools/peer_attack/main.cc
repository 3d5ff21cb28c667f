// peer_attack: a hostile peer for the attack suite. It connects to a raftd's peer port with
// plain blocking sockets and the project's own codec, says what an attacker would, and prints
// what came back, one "key: value" line per fact (tests/cluster/test_attacks.py reads them).
//
//   peer_attack ATTACK --target HOST:PORT [options]
// Attacks (each connects as node --as, a member's id by default, with no secret unless
// --secret-file is given):
//   listen       connect, say nothing, print every frame the node sends within 1 s
//   forward      a Forward frame (a client write) with --args, after an unproven Hello
//   append       an Append from --as to --to at --term with one entry of --data
//   heartbeat    a heartbeat at --term (default 2^64-1), --repeat times, every --interval-ms
//   record       (needs --secret-file) a proper member session that forwards --args once; the
//                bytes it sent go to --out
//   replay       send the bytes of --in on a new connection, as they were
//   bigframe     a frame header announcing 65 MB, then --trickle KB of it, --connections times
//   squat        open --connections connections and keep them, saying nothing, --hold-ms
// Insider (with --secret-file and --dir-id of the member it claims to be):
//   append       as above, but authenticated and sealed
#include <arpa/inet.h>
#include <fmt/core.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/peer/codec.h"
#include "server/peer/crypto.h"
#include "server/peer/handshake.h"

namespace {

using namespace raftd::peer;

struct Args {
  std::string attack;
  std::string host;
  int port = 0;
  raft::NodeId as = 1;
  raft::NodeId to = 0;
  std::uint64_t cluster = 0;
  std::uint64_t dir_id = 0;
  std::uint64_t term = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t index = 0;
  std::uint64_t log_term = 0;
  std::string data = "undecodable entry";
  std::vector<std::string> cmd = {"SET", "attack", "1"};
  std::string secret;
  std::string in, out;
  int repeat = 1;
  int interval_ms = 500;
  int connections = 1;
  int trickle_kb = 64;
  int hold_ms = 10000;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "peer_attack: %s\n(see the comment at the top of tools/peer_attack/main.cc)\n",
               why.c_str());
  std::exit(2);
}

std::uint64_t number(const std::string& s) {
  if (s == "max") return std::numeric_limits<std::uint64_t>::max();
  return std::strtoull(s.c_str(), nullptr, s.rfind("0x", 0) == 0 ? 16 : 10);
}

Args parse(int argc, char** argv) {
  if (argc < 2) usage("no attack given");
  Args a;
  a.attack = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    auto v = [&]() -> std::string {
      if (i + 1 >= argc) usage(k + " needs a value");
      return argv[++i];
    };
    if (k == "--target") {
      const std::string t = v();
      const auto colon = t.rfind(':');
      a.host = t.substr(0, colon);
      a.port = std::atoi(t.c_str() + colon + 1);
    } else if (k == "--as") {
      a.as = number(v());
    } else if (k == "--to") {
      a.to = number(v());
    } else if (k == "--cluster") {
      a.cluster = number(v());
    } else if (k == "--dir-id") {
      a.dir_id = number(v());
    } else if (k == "--term") {
      a.term = number(v());
    } else if (k == "--index") {
      a.index = number(v());
    } else if (k == "--log-term") {
      a.log_term = number(v());
    } else if (k == "--data") {
      a.data = v();
    } else if (k == "--args") {
      a.cmd.clear();
      std::istringstream words(v());
      for (std::string w; words >> w;) a.cmd.push_back(w);
    } else if (k == "--secret-file") {
      std::ifstream f(v(), std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      a.secret = ss.str();
      // A DIR/SECRET file: magic, CRC, newline, then the secret itself.
      if (a.secret.rfind("RAFTDF01", 0) == 0) a.secret = a.secret.substr(17);
      while (!a.secret.empty() && a.secret.back() == '\n') a.secret.pop_back();
    } else if (k == "--in") {
      a.in = v();
    } else if (k == "--out") {
      a.out = v();
    } else if (k == "--repeat") {
      a.repeat = std::atoi(v().c_str());
    } else if (k == "--interval-ms") {
      a.interval_ms = std::atoi(v().c_str());
    } else if (k == "--connections") {
      a.connections = std::atoi(v().c_str());
    } else if (k == "--trickle") {
      a.trickle_kb = std::atoi(v().c_str());
    } else if (k == "--hold-ms") {
      a.hold_ms = std::atoi(v().c_str());
    } else {
      usage("unknown option " + k);
    }
  }
  if (a.host.empty() || a.port == 0) usage("--target HOST:PORT is required");
  return a;
}

/// One blocking connection, reading frames with the project's FrameReader.
class Conn {
 public:
  Conn(const std::string& host, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      fmt::print("connect: failed ({})\n", std::strerror(errno));
      std::exit(1);
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Conn() { ::close(fd_); }

  bool send(const std::string& bytes) {
    sent_ += bytes;
    std::size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  /// The next frame within `ms`, or nullopt (closed, timed out or undecodable: see closed()).
  std::optional<Frame> next(int ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      Frame f;
      const DecodeStatus st = reader_.next(f);
      if (st == DecodeStatus::kOk) return f;
      if (st == DecodeStatus::kError) return std::nullopt;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) return std::nullopt;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        return std::nullopt;
      }
      reader_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }

  /// True once the node closed the connection (waits up to `ms`).
  bool closed_within(int ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!closed_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) {
        char buf[65536];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) closed_ = true;
      }
    }
    return closed_;
  }

  const std::string& sent() const { return sent_; }

 private:
  int fd_ = -1;
  FrameReader reader_;
  bool closed_ = false;
  std::string sent_;
};

void print_frame(const Frame& f) {
  if (auto* c = std::get_if<Challenge>(&f)) {
    fmt::print("frame: challenge nonce_bytes={}\n", c->nonce.size());
  } else if (auto* w = std::get_if<Welcome>(&f)) {
    fmt::print("frame: welcome node={} cluster={:016x} admitted={}\n", w->id.node_id,
               w->id.cluster_id, w->admitted);
  } else if (auto* r = std::get_if<Refusal>(&f)) {
    fmt::print("frame: refusal reason={} text={}\n", to_string(r->reason), r->text);
  } else {
    fmt::print("frame: {}\n", to_string(frame_type(f)));
  }
}

/// Challenge, then our Hello (with a proof when we have the secret). Returns the cipher for
/// sealing once welcomed and admitted, or null; prints what happened.
std::unique_ptr<FrameCipher> handshake(Conn& c, const Args& a) {
  auto first = c.next(3000);
  if (!first || !std::holds_alternative<Challenge>(*first)) {
    fmt::print("handshake: no challenge\n");
    return nullptr;
  }
  print_frame(*first);
  const std::string challenge = std::get<Challenge>(*first).nonce;
  Hello h;
  h.nonce = random_bytes(kHandshakeNonceBytes);
  h.id.cluster_id = a.cluster;
  h.id.node_id = a.as;
  h.id.dir_id = a.dir_id;
  h.id.client_addr = "127.0.0.1:1";
  if (!a.secret.empty()) h.proof = hello_proof(a.secret, challenge, h);
  c.send(encode_frame(h));
  auto answer = c.next(3000);
  if (!answer) {
    fmt::print("handshake: no answer\n");
    return nullptr;
  }
  print_frame(*answer);
  auto* w = std::get_if<Welcome>(&*answer);
  if (w == nullptr || !w->admitted || a.secret.empty()) return nullptr;
  return std::make_unique<FrameCipher>(session_key(a.secret, challenge, h.nonce));
}

/// Sends `plain` frames: sealed if we were admitted, as they are otherwise.
void send_frames(Conn& c, FrameCipher* cipher, const std::string& plain) {
  if (cipher == nullptr) {
    c.send(plain);
    return;
  }
  std::string sealed;
  seal_frames(*cipher, plain, sealed);
  c.send(sealed);
}

void report_end(Conn& c) {
  for (int i = 0; i < 3; ++i) {
    auto f = c.next(300);
    if (!f) break;
    print_frame(*f);
  }
  fmt::print("closed: {}\n", c.closed_within(4000) ? "yes" : "no");
}

int run(const Args& a) {
  if (a.attack == "listen") {
    Conn c(a.host, a.port);
    int frames = 0;
    while (auto f = c.next(1000)) {
      print_frame(*f);
      fmt::print("frame_bytes: {}\n", to_hex(encode_frame(*f)));
      ++frames;
    }
    fmt::print("frames: {}\n", frames);
    return 0;
  }
  if (a.attack == "forward") {
    Conn c(a.host, a.port);
    auto cipher = handshake(c, a);
    std::string plain;
    append_forward_frame(plain, 1, a.cmd);
    send_frames(c, cipher.get(), plain);
    report_end(c);
    return 0;
  }
  if (a.attack == "append" || a.attack == "heartbeat") {
    Conn c(a.host, a.port);
    auto cipher = handshake(c, a);
    for (int i = 0; i < a.repeat; ++i) {
      raft::Message m;
      m.from = a.as;
      m.to = a.to;
      m.term = a.term;
      if (a.attack == "append") {
        m.type = raft::MessageType::kAppend;
        m.index = a.index;
        m.log_term = a.log_term;
        m.entries.push_back({a.term, a.index + 1, raft::EntryType::kNormal, a.data});
      } else {
        m.type = raft::MessageType::kHeartbeat;
      }
      std::string plain;
      append_frame(plain, m);
      send_frames(c, cipher.get(), plain);
      if (i + 1 < a.repeat) std::this_thread::sleep_for(std::chrono::milliseconds(a.interval_ms));
    }
    report_end(c);
    return 0;
  }
  if (a.attack == "record") {
    if (a.secret.empty()) usage("record needs --secret-file");
    Conn c(a.host, a.port);
    auto cipher = handshake(c, a);
    if (!cipher) {
      fmt::print("record: not admitted\n");
      return 1;
    }
    std::string plain;
    append_forward_frame(plain, 7, a.cmd);
    send_frames(c, cipher.get(), plain);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::ofstream(a.out, std::ios::binary) << c.sent();
    fmt::print("recorded_bytes: {}\n", c.sent().size());
    return 0;
  }
  if (a.attack == "replay") {
    std::ifstream f(a.in, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    Conn c(a.host, a.port);
    auto first = c.next(3000);
    if (first) print_frame(*first);
    c.send(ss.str());
    report_end(c);
    return 0;
  }
  if (a.attack == "bigframe") {
    std::vector<std::unique_ptr<Conn>> conns;
    int closed = 0;
    for (int i = 0; i < a.connections; ++i) {
      auto c = std::make_unique<Conn>(a.host, a.port);
      (void)c->next(1000);  // the challenge
      std::string header = {0x04, 0x10, 0x00, 0x00, static_cast<char>(kFormatVersion), 5};
      c->send(header + std::string(static_cast<std::size_t>(a.trickle_kb) * 1024, 'x'));
      conns.push_back(std::move(c));
    }
    for (auto& c : conns) closed += c->closed_within(4000) ? 1 : 0;
    fmt::print("connections: {}\nclosed: {}\n", a.connections, closed);
    return 0;
  }
  if (a.attack == "squat") {
    std::vector<std::unique_ptr<Conn>> conns;
    conns.reserve(static_cast<std::size_t>(a.connections));
    for (int i = 0; i < a.connections; ++i) conns.push_back(std::make_unique<Conn>(a.host, a.port));
    fmt::print("opened: {}\n", conns.size());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(a.hold_ms));
    int closed = 0;
    for (auto& c : conns) closed += c->closed_within(10) ? 1 : 0;
    fmt::print("closed_by_node: {}\n", closed);
    return 0;
  }
  usage("unknown attack " + a.attack);
}

}  // namespace

int main(int argc, char** argv) {
  return run(parse(argc, argv));
}
