// Runs one client command, generically, as Redis's processCommand does: the admission gate
// (client/admission.h) finds its row and rejects unknown commands, wrong arity and oversized
// writes with Redis's texts, then the dispatcher acts on the flags:
//   connection: the handler runs against the client and the server;
//   readonly:   the read handler runs against the state machine's keyspace, with the local
//               clock as "now" (expired keys are hidden);
//   write:      the prepare step validates and makes times absolute, the command becomes a
//               log entry stamped with "now", and the Proposer takes it; the reply comes back
//               through the client's next reply slot.
#pragma once

#include <cstdint>

#include "server/client/admission.h"
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

  Dispatcher(ServerState& server, Proposer& proposer);

  /// `args[0]` is the command name as sent. `now_ms` is the wall clock for this batch.
  Outcome dispatch(ClientContext& client, Args args, std::int64_t now_ms, resp::Writer& out);
  /// True if dispatch() would take the write path (a known, client-callable write command).
  bool is_write(Args args);

 private:
  ServerState& server_;
  Proposer& proposer_;
  AdmissionGate gate_;
};

}  // namespace raftd
