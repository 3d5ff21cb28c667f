// server_e2e_session_order: a real Server and Sessions on loopback, with a Proposer that
// completes writes later, as Raft will. Checks that replies keep command order, that commands
// after a pending write see it, and that clients vanishing with writes in flight are harmless.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <utility>  // before boost/asio (g++ 12 + Boost 1.74)
#include <vector>

#include "server/client/client_context.h"
#include "server/client/server.h"
#include "server/commands/connection_commands.h"
#include "server/keyspace/kv_commands.h"
#include "server/keyspace/state_machine.h"
#include "server/node/proposer.h"
#include "server/server_state.h"

namespace raftd {
namespace {

constexpr std::uint16_t kPort = 21100;  // this test's port (tests/daemon owns 21000-21899)
constexpr auto kDeadline = std::chrono::seconds(10);

/// Holds proposals the way a Raft leader does until they commit: entries are applied in
/// proposal order when the test releases them, and their completions may run in any order.
/// With confirm_reads, reads wait too (as for a ReadIndex), and on release they run only after
/// every held write was applied - the worst order a host may pick.
class HeldProposer final : public Proposer {
 public:
  explicit HeldProposer(StateMachine& sm) : sm_(sm) {}

  void propose(std::string entry, Completion done) override {
    held_.push_back({std::move(entry), nullptr, std::move(done)});
  }
  bool reads_need_confirmation() const override { return confirm_reads_; }
  void submit_read(ReadFn run, Completion done) override {
    held_.push_back({{}, std::move(run), std::move(done)});
  }
  void set_confirm_reads(bool on) { confirm_reads_ = on; }
  std::size_t held() const { return held_.size(); }

  /// Applies every held write in log order, then runs the held reads, then calls the
  /// completions, last first.
  void release_all_reversed() {
    std::vector<Held> batch;
    batch.swap(held_);
    std::vector<std::string> replies(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].read) REQUIRE(sm_.apply(batch[i].entry, replies[i]));
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].read) batch[i].read(replies[i]);
    }
    for (std::size_t i = batch.size(); i-- > 0;) batch[i].done(replies[i]);
  }

 private:
  struct Held {
    std::string entry;
    ReadFn read;  // set for a read
    Completion done;
  };
  StateMachine& sm_;
  std::vector<Held> held_;
  bool confirm_reads_ = false;
};

/// raftd's server on its own thread, with the held proposer.
class Fixture {
 public:
  explicit Fixture(std::size_t output_pause = 64ull << 20)
      : state_(make_config(output_pause), table(), sm_),
        proposer_(sm_),
        server_(io_, state_, proposer_) {
    const raftd::Status st = server_.listen();
    INFO(st.message());
    REQUIRE(st.is_ok());
    server_.start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Fixture() {
    // Stopping closes every client; io.run() returns once their handlers are done.
    boost::asio::post(io_, [this] { server_.stop(); });
    thread_.join();
  }

  /// Runs f on the event-loop thread and returns its result.
  template <class F>
  auto on_loop(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    REQUIRE(result.wait_for(kDeadline) == std::future_status::ready);
    return result.get();
  }

  /// Polls a condition on the loop thread until it holds or the deadline passes.
  bool wait_loop(const std::function<bool()>& cond) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      if (on_loop([&] { return cond(); })) return true;
      std::this_thread::yield();
    }
    return false;
  }

  HeldProposer& proposer() { return proposer_; }
  ServerState& state() { return state_; }

 private:
  static Config make_config(std::size_t output_pause) {
    Config c;
    c.addr = Endpoint{"127.0.0.1", kPort};
    c.client_output_pause = output_pause;
    return c;
  }
  static const CommandTable& table() {
    static const CommandTable t = [] {
      CommandTable t;
      register_kv_commands(t);
      register_connection_commands(t);
      return t;
    }();
    return t;
  }

  boost::asio::io_context io_;
  StateMachine sm_{table()};
  ServerState state_;
  HeldProposer proposer_;
  Server server_;
  std::thread thread_;
};

/// A blocking client socket with deadlines.
class Client {
 public:
  Client() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(kPort);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      REQUIRE(n > 0);
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  /// Bytes already received, without waiting (loopback delivers a send before it returns).
  std::string available() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  /// Reads until `n` bytes arrived (or the deadline / EOF).
  std::string read(std::size_t n) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t got = ::recv(fd_, buf, std::min(sizeof(buf), n - out.size()), 0);
      if (got <= 0) break;
      out.append(buf, static_cast<std::size_t>(got));
    }
    return out;
  }
  /// True once the server closed the connection (EOF), within the deadline.
  bool closed_by_server() {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      const ssize_t got = ::recv(fd_, &c, 1, 0);
      if (got <= 0) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
};

TEST_CASE("replies keep command order and reads see earlier writes when writes complete late") {
  Fixture f;
  Client c;
  c.send("SET a 1\r\nGET a\r\nPING\r\nSET b 2\r\nSET a 3\r\nGET a\r\nECHO x\r\n");
  // Only the first SET was proposed: everything after it waits for it (GET a must see it).
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 1; }));
  CHECK(c.available().empty());

  f.on_loop([&] { f.proposer().release_all_reversed(); });
  // SET a 1 done -> GET a and PING run; SET b 2 and SET a 3 are proposed together; GET a waits.
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 2; }));
  const std::string first = "+OK\r\n$1\r\n1\r\n+PONG\r\n";
  CHECK(c.read(first.size()) == first);
  CHECK(c.available().empty());

  f.on_loop([&] { f.proposer().release_all_reversed(); });
  const std::string rest = "+OK\r\n+OK\r\n$1\r\n3\r\n$1\r\nx\r\n";
  CHECK(c.read(rest.size()) == rest);
  CHECK(f.on_loop([&] { return f.proposer().held(); }) == 0);
}

TEST_CASE("consecutive pipelined writes are proposed together") {
  Fixture f;
  Client c;
  std::string pipeline;
  for (int i = 0; i < 100; ++i) pipeline += "INCR counter\r\n";
  c.send(pipeline);
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 100; }));
  CHECK(c.available().empty());
  f.on_loop([&] { f.proposer().release_all_reversed(); });
  std::string expected;
  for (int i = 1; i <= 100; ++i) expected += ":" + std::to_string(i) + "\r\n";
  CHECK(c.read(expected.size()) == expected);
}

TEST_CASE("a client that disconnects with writes in flight is dropped cleanly") {
  Fixture f;
  {
    Client c;
    c.send("SET gone 1\r\nSET gone 2\r\nGET gone\r\n");
    REQUIRE(f.wait_loop([&] { return f.proposer().held() == 2; }));
    c.close();
  }
  // The server notices the close while the writes are still held.
  REQUIRE(f.wait_loop([&] { return f.state().clients.empty(); }));
  f.on_loop([&] { f.proposer().release_all_reversed(); });  // completions for a gone client
  Client other;
  other.send("GET gone\r\n");
  CHECK(other.read(7) == "$1\r\n2\r\n");  // the writes were applied all the same
}

TEST_CASE("QUIT after a pending write answers both, then closes; later commands never run") {
  Fixture f;
  Client c;
  c.send("SET q 1\r\nQUIT\r\nSET q 2\r\n");
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 1; }));
  CHECK(c.available().empty());
  f.on_loop([&] { f.proposer().release_all_reversed(); });
  CHECK(c.read(10) == "+OK\r\n+OK\r\n");
  CHECK(c.closed_by_server());
  CHECK(f.on_loop([&] { return f.proposer().held(); }) == 0);  // SET q 2 was not proposed
}

TEST_CASE("a protocol error after a pending write still answers the write first") {
  Fixture f;
  Client c;
  c.send("SET p 1\r\n*abc\r\n");
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 1; }));
  CHECK(c.available().empty());
  f.on_loop([&] { f.proposer().release_all_reversed(); });
  const std::string expected = "+OK\r\n-ERR Protocol error: invalid multibulk length\r\n";
  CHECK(c.read(expected.size()) == expected);
  CHECK(c.closed_by_server());
}

TEST_CASE("commands parked behind a pending write are bounded like output") {
  constexpr std::size_t kPause = 64 * 1024;
  Fixture f(kPause);
  Client c;
  constexpr int kGets = 100000;  // 700 KB of requests, 10 times the bound
  std::string pipeline = "SET x 1\r\n";
  for (int i = 0; i < kGets; ++i) pipeline += "GET x\r\n";
  std::thread sender([&] { c.send(pipeline); });  // blocks while the server stops reading
  // The server parks GETs behind the held SET until the bound, then stops reading.
  REQUIRE(f.wait_loop([&] {
    return f.proposer().held() == 1 && f.state().clients.size() == 1 &&
           f.state().clients.begin()->second->events().find('r') == std::string::npos;
  }));
  const std::size_t held_bytes =
      f.on_loop([&] { return f.state().clients.begin()->second->output_buffer_used(); });
  CHECK(held_bytes <= kPause + 1024);
  CHECK(held_bytes > kPause / 2);

  f.on_loop([&] { f.proposer().release_all_reversed(); });
  std::string expected = "+OK\r\n";
  for (int i = 0; i < kGets; ++i) expected += "$1\r\n1\r\n";
  CHECK(c.read(expected.size()) == expected);
  sender.join();
}

TEST_CASE("a write never overtakes a read waiting for confirmation (ReadIndex)") {
  Fixture f;
  f.on_loop([&] { f.proposer().set_confirm_reads(true); });
  Client c;
  c.send("SET a 1\r\n");
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 1; }));
  f.on_loop([&] { f.proposer().release_all_reversed(); });
  CHECK(c.read(5) == "+OK\r\n");

  c.send("GET a\r\nSET a 2\r\nGET a\r\n");
  // GET a waits for confirmation; SET a 2 must not be proposed before it has run, or the
  // GET could see 2. The parked SET shows in the client's buffered bytes.
  REQUIRE(f.wait_loop([&] {
    return f.proposer().held() == 1 && f.state().clients.size() == 1 &&
           f.state().clients.begin()->second->output_buffer_used() > 0;
  }));
  f.on_loop([&] { f.proposer().release_all_reversed(); });  // GET a -> 1; SET a 2 proposed
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 1; }));
  f.on_loop([&] { f.proposer().release_all_reversed(); });  // SET a 2 -> OK; GET a waits
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 1; }));
  f.on_loop([&] { f.proposer().release_all_reversed(); });  // GET a -> 2
  const std::string expected = "$1\r\n1\r\n+OK\r\n$1\r\n2\r\n";
  CHECK(c.read(expected.size()) == expected);
}

TEST_CASE("consecutive pipelined reads wait for confirmation together, replies in order") {
  Fixture f;
  f.on_loop([&] { f.proposer().set_confirm_reads(true); });
  Client c;
  c.send("SET a 1\r\nSET b 2\r\n");
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 2; }));
  f.on_loop([&] { f.proposer().release_all_reversed(); });
  CHECK(c.read(10) == "+OK\r\n+OK\r\n");

  // Reads behind reads are submitted at once (one ReadIndex round for all), not one round
  // each; a write after them still waits until they have run.
  c.send("GET a\r\nGET b\r\nPING\r\nGET a\r\nSET a 3\r\nGET a\r\n");
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 3; }));
  CHECK(c.available().empty());
  f.on_loop([&] { f.proposer().release_all_reversed(); });  // the three GETs; SET a 3 proposed
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 1; }));
  f.on_loop([&] { f.proposer().release_all_reversed(); });  // SET a 3 -> OK; GET a waits
  REQUIRE(f.wait_loop([&] { return f.proposer().held() == 1; }));
  f.on_loop([&] { f.proposer().release_all_reversed(); });  // GET a -> 3
  const std::string expected = "$1\r\n1\r\n$1\r\n2\r\n+PONG\r\n$1\r\n1\r\n+OK\r\n$1\r\n3\r\n";
  CHECK(c.read(expected.size()) == expected);
}

}  // namespace
}  // namespace raftd
