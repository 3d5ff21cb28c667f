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

namespace {

const CommandSpec* find_subcommand(const CommandSpec& parent, std::string_view name) {
  std::string lowered(name);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  auto it = parent.subcommands.find(lowered);
  return it == parent.subcommands.end() ? nullptr : &it->second;
}

}  // namespace

const CommandSpec* Dispatcher::lookup(std::string_view name) {
  if (name.empty() || name.size() > sizeof(CacheEntry::name)) return server_.commands.find(name);
  const std::size_t slot = (name.size() * 31 + static_cast<unsigned char>(name.front()) * 7 +
                            static_cast<unsigned char>(name.back())) %
                           cache_.size();
  CacheEntry& e = cache_[slot];
  if (e.size == name.size() && std::memcmp(e.name, name.data(), name.size()) == 0) return e.spec;
  const CommandSpec* spec = server_.commands.find(name);
  if (spec != nullptr) {
    std::memcpy(e.name, name.data(), name.size());
    e.size = static_cast<std::uint8_t>(name.size());
    e.spec = spec;
  }
  return spec;
}

bool Dispatcher::is_write(Args args) {
  const CommandSpec* spec = lookup(args[0]);
  return spec != nullptr && (spec->flags & kCmdWrite) && !(spec->flags & kCmdInternal);
}

Dispatcher::Outcome Dispatcher::dispatch(ClientContext& client, Args args, std::int64_t now_ms,
                                         resp::Writer& out) {
  const std::size_t reply_start = out.buffer().size();
  auto reject = [&](const std::string& error) {
    out.error(error);
    ++server_.stats.total_error_replies;
    return Outcome::kReplied;
  };

  // Lookup as Redis's lookupCommand: a container command with at least one argument names a
  // subcommand; the container alone is a command of its own (COMMAND, or an arity error).
  const CommandSpec* spec = lookup(args[0]);
  // Internal rows (REAPEXPIRED) are proposed by the node itself, never by clients.
  if (spec == nullptr || (spec->flags & kCmdInternal)) return reject(unknown_command_error(args));
  if (!spec->subcommands.empty() && args.size() >= 2) {
    const CommandSpec* sub = find_subcommand(*spec, args[1]);
    if (sub == nullptr) return reject(unknown_subcommand_error(spec->name, args[1]));
    spec = sub;
  }
  if (!CommandTable::check_arity(*spec, args.size())) return reject(wrong_arity_error(spec->name));

  ++server_.stats.total_commands_processed;
  client.info().last_command = spec->name;

  if (spec->flags & kCmdWrite) {
    // The write path: prepare on this node (syntax, relative -> absolute times), then the
    // command travels as a log entry stamped with this node's clock and is applied by the
    // state machine wherever the log is applied.
    // Refused before anything is copied, proposed or forwarded: a node copies, syncs and
    // replicates an entry whole, and its other clients wait meanwhile.
    std::size_t bytes = 0;
    for (std::string_view a : args) bytes += a.size();
    if (bytes > server_.config.max_entry_size) {
      return reject(
          fmt::format("ERR write too large to replicate: its arguments take {} bytes, more than "
                      "max-entry-size ({} bytes)",
                      bytes, server_.config.max_entry_size));
    }
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
