// What a connection-level command (PING, CLIENT, HELLO, INFO, CONFIG...) may see and change:
// this connection's own state, and the server it belongs to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "server/node/proposer.h"

namespace raftd {

class ServerState;

/// Per-connection facts shown by CLIENT LIST / CLIENT INFO (Redis field names).
struct ClientInfo {
  std::uint64_t id = 0;
  std::string addr;   ///< peer "ip:port"
  std::string laddr;  ///< local "ip:port"
  int fd = -1;
  std::string name;  ///< CLIENT SETNAME / HELLO SETNAME; empty: none
  std::string lib_name;
  std::string lib_ver;
  int db = 0;
  int resp = 2;
  std::int64_t created_ms = 0;
  std::int64_t last_interaction_ms = 0;
  std::string last_command = "NULL";  ///< full name of the last command, e.g. "client|list"
};

class ClientContext {
 public:
  explicit ClientContext(ServerState& server) : server_(server) {}
  virtual ~ClientContext() = default;
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  ServerState& server() { return server_; }
  const ServerState& server() const { return server_; }
  ClientInfo& info() { return info_; }
  const ClientInfo& info() const { return info_; }

  /// Reserves this client's next reply slot for a reply that comes later (a write waiting for
  /// its log entry to be applied). Replies after it wait for it, so order is kept.
  virtual Proposer::Completion defer_reply() = 0;
  /// Sends what is queued (this command's reply included), then closes: QUIT, protocol errors,
  /// CLIENT KILL of oneself.
  virtual void close_after_reply() = 0;
  /// Closes now, dropping unsent replies (CLIENT KILL of another client).
  virtual void kill() = 0;
  /// Buffer sizes for CLIENT LIST (qbuf, qbuf-free, omem).
  virtual std::size_t query_buffer_used() const = 0;
  virtual std::size_t query_buffer_free() const = 0;
  virtual std::size_t output_buffer_used() const = 0;
  /// "r", "w", "rw" or "": whether a read / write is outstanding (CLIENT LIST events=).
  virtual std::string events() const = 0;

 private:
  ServerState& server_;
  ClientInfo info_;
};

}  // namespace raftd
