// The dispatcher (dispatcher.h): runs an admitted command as the row says - connection and
// read handlers at once or after a read round, writes through the proposer.
#include "server/client/dispatcher.h"

#include <fmt/core.h>

#include <algorithm>
#include <string>
#include <vector>

#include "server/client/client_context.h"
#include "server/keyspace/entry.h"
#include "server/keyspace/state_machine.h"
#include "server/log.h"
#include "server/node/proposer.h"
#include "server/server_state.h"

namespace raftd {

Dispatcher::Dispatcher(ServerState& server, Proposer& proposer)
    : server_(server), proposer_(proposer), gate_(server.commands, server.config) {}

bool Dispatcher::is_write(Args args) {
  return gate_.is_write(args[0]);
}

Dispatcher::Outcome Dispatcher::dispatch(ClientContext& client, Args args, std::int64_t now_ms,
                                         resp::Writer& out) {
  const std::size_t reply_start = out.buffer().size();
  auto reject = [&](const std::string& error) {
    out.error(error);
    ++server_.stats.total_error_replies;
    return Outcome::kReplied;
  };

  auto admitted = gate_.admit(args);
  if (!admitted) return reject(admitted.message());
  const CommandSpec* spec = *admitted;

  ++server_.stats.total_commands_processed;
  client.info().last_command = spec->name;

  if (spec->flags & kCmdWrite) {
    // The write path: prepare on this node (syntax, relative -> absolute times), then the
    // command travels as a log entry stamped with this node's clock and is applied by the
    // state machine wherever the log is applied.
    std::string entry;
    if (!prepare_write(*spec, args, now_ms, entry, out)) {
      ++server_.stats.total_error_replies;
      return Outcome::kReplied;
    }
    proposer_.submit_write(*spec, args, std::move(entry), client.defer_reply());
    return Outcome::kDeferred;
  }
  if ((spec->flags & kCmdReadonly) && proposer_.reads_need_confirmation()) {
    // Linearizable read: it runs once this node has applied everything committed before now
    // (ReadIndex), so the arguments must outlive this call.
    std::vector<std::string> owned(args.begin(), args.end());
    proposer_.submit_read(
        [this, spec, owned = std::move(owned)](std::string& reply) {
          std::vector<std::string_view> views(owned.begin(), owned.end());
          resp::Writer w(reply);
          server_.state_machine.read(*spec, Args(views), ServerState::wall_ms(), w);
        },
        client.defer_reply());
    return Outcome::kDeferred;
  }
  if (spec->flags & kCmdReadonly) {
    server_.state_machine.read(*spec, args, now_ms, out);
  } else if (spec->flags & kCmdConnection) {
    spec->connection(client, args, out);
    if (spec->flags & kCmdDeferred) return Outcome::kDeferred;
  } else {
    log::error("command '{}' has no handler for its flags {:#x}", spec->name, spec->flags);
    std::abort();
  }
  const std::string& buf = out.buffer();
  if (buf.size() > reply_start && buf[reply_start] == '-') ++server_.stats.total_error_replies;
  return Outcome::kReplied;
}

}  // namespace raftd
