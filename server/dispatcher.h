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

#include <cstdint>

#include "server/kv/command.h"

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

 private:
  ServerState& server_;
  Proposer& proposer_;
};

}  // namespace raftd
