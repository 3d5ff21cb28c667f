// The server family's own commands: TIME, CHECKPOINT (raftd's: snapshot now), and DBSIZE when
// the data commands do not provide it.
#include <fmt/core.h>
#include <sys/time.h>

#include <algorithm>
#include <string>
#include <vector>

#include "server/client/client_context.h"
#include "server/commands/connection_commands.h"
#include "server/commands/families.h"
#include "server/config.h"
#include "server/keyspace/glob.h"
#include "server/keyspace/keyspace.h"
#include "server/keyspace/numbers.h"
#include "server/keyspace/state_machine.h"
#include "server/log.h"
#include "server/node/proposer.h"
#include "server/server_state.h"
#include "server/text.h"

namespace raftd {

namespace {

void time_command(ClientContext&, Args, resp::Writer& out) {
  struct timeval tv {};
  gettimeofday(&tv, nullptr);
  out.array(2);
  out.bulk(std::to_string(tv.tv_sec));
  out.bulk(std::to_string(tv.tv_usec));
}

void checkpoint(ClientContext& c, Args, resp::Writer&) {
  Proposer::Completion done = c.defer_reply();
  if (c.server().admin == nullptr) {
    done("-ERR this node has no log to checkpoint\r\n");
    return;
  }
  c.server().admin->checkpoint(std::move(done));
}

void dbsize(ClientContext& c, Args, resp::Writer& out) {
  out.integer(static_cast<std::int64_t>(c.server().state_machine.keyspace().size()));
}

}  // namespace

void register_server_commands(CommandTable& table) {
  table.add({
      {.name = "time",
       .arity = 1,
       .flags = "loading stale fast",
       .group = CommandGroup::kServer,
       .summary = "Return the current server time",
       .connection = time_command},
      {.name = "checkpoint",
       .arity = 1,
       .flags = "admin deferred",
       .group = CommandGroup::kServer,
       .summary = "Snapshot the state machine now and compact the log up to it (replies once "
                  "the snapshot is on disk)",
       .connection = checkpoint},
  });
  if (table.find("dbsize") == nullptr) {
    table.add(CommandRow{.name = "dbsize",
                         .arity = 1,
                         .flags = "fast",
                         .group = CommandGroup::kServer,
                         .summary = "Return the number of keys in the selected database",
                         .acl = "@keyspace @read",
                         .connection = dbsize});
  }
}

}  // namespace raftd
