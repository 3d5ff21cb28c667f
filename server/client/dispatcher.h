// Runs one client command, generically, as Redis's processCommand does: look the name up
// (case-insensitively; container commands such as CLIENT look up their subcommand), reject
// unknown commands and wrong arity with Redis's texts, then act on the flags:
//   connection: the handler runs against the client and the server;
//   readonly:   the read handler runs against the state machine's keyspace, with the local
//               clock as "now" (expired keys are hidden);
//   write:      the prepare step validates and makes times absolute, the command becomes a
//               log entry stamped with "now", and the Proposer takes it; the reply comes back
//               through the client's next reply slot.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "server/commands/command_table.h"

namespace raftd {

class ClientContext;
class Proposer;
class ServerState;

class Dispatcher {
 public:
  enum class Outcome {
    kReplied,  ///< the reply is in `out`
    kDeferred  ///< the command took client.defer_reply(); nothing was written to `out`
  };

  Dispatcher(ServerState& server, Proposer& proposer) : server_(server), proposer_(proposer) {}

  /// `args[0]` is the command name as sent. `now_ms` is the wall clock for this batch.
  Outcome dispatch(ClientContext& client, Args args, std::int64_t now_ms, resp::Writer& out);
  /// True if dispatch() would take the write path (a known, client-callable write command).
  bool is_write(Args args);

 private:
  /// CommandTable::find lower-cases and searches an ordered map; clients send the same few
  /// names over and over, so remember them by their exact bytes. Rows never move or vanish
  /// once the table is built, so an entry never goes stale.
  const CommandSpec* lookup(std::string_view name);

  struct CacheEntry {
    char name[16];
    std::uint8_t size = 0;  // 0: empty
    const CommandSpec* spec = nullptr;
  };

  ServerState& server_;
  Proposer& proposer_;
  std::array<CacheEntry, 64> cache_{};
};

}  // namespace raftd
