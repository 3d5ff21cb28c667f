// The command table: one row per command, built-ins and plugins alike (Redis's redisCommand).
// Arity is checked once, generically, before any handler runs (see CommandTable::check_arity).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "resp/writer.h"

namespace raftd {

class Keyspace;       // server/keyspace/keyspace.h: the in-memory map plus expiry
class ClientContext;  // server/client/client_context.h: what a connection-level handler may see and
                      // change

/// args[0] is the command name as the client sent it.
using Args = std::span<const std::string_view>;

enum CommandFlag : std::uint32_t {
  kCmdWrite = 1u << 0,     ///< changes the keyspace: goes through the log and runs in apply
  kCmdReadonly = 1u << 1,  ///< reads the keyspace on the serving node
  kCmdAdmin = 1u << 2,
  kCmdFast = 1u << 3,
  kCmdConnection = 1u << 4,  ///< touches only the connection/server (PING, CLIENT, INFO...)
  kCmdLoading = 1u << 5,
  kCmdStale = 1u << 6,
  kCmdDenyOom = 1u << 7,   ///< may grow memory (Redis "denyoom"); shown by COMMAND
  kCmdInternal = 1u << 8,  ///< proposed by the node itself (REAPEXPIRED): refuse from clients,
                           ///< hide from COMMAND
  kCmdDeferred = 1u << 9,  ///< a connection command that always answers later, through
                           ///< ClientContext::defer_reply() (CHECKPOINT)
};

/// Prepare step of a write, run on the node that receives it, before proposing:
/// validates syntax and rewrites relative times to absolute ones (EX 10 -> PXAT now+10000), as
/// Redis does before propagating to replicas. On success it fills `log_args` (what goes into the
/// log entry; usually args with the rewrite) and returns true; on error it writes the error reply
/// to `out` and returns false, and nothing is proposed. Leaving `log_args` empty on success means
/// "args unchanged" (no copy on the hot path). Use prepare_write() (state_machine.h), which
/// also encodes the entry.
using PrepareHandler = std::function<bool(Args args, std::int64_t now_ms,
                                          std::vector<std::string>& log_args, resp::Writer& out)>;
/// Runs inside apply on every node, deterministically: `now_ms` is the timestamp the proposer
/// stamped on the entry, never the local clock. The reply is only sent on the proposing node.
using WriteHandler =
    std::function<void(Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out)>;
/// Runs on the serving node against its applied state; hides keys expired as of `now_ms`.
using ReadHandler =
    std::function<void(const Keyspace& ks, Args args, std::int64_t now_ms, resp::Writer& out)>;
using ConnectionHandler = std::function<void(ClientContext& client, Args args, resp::Writer& out)>;

struct CommandSpec {
  std::string name;  ///< lower case
  int arity = 0;     ///< Redis convention: N exactly, -N at least N (name included)
  std::uint32_t flags = 0;
  int first_key = 0;  ///< key positions (Redis "first key, last key, step"); 0 = no keys
  int last_key = 0;   ///< -1 = last argument
  int key_step = 0;
  std::string summary;  ///< for COMMAND DOCS
  // Exactly one kind of handler is set, matching the flags: prepare+write for kCmdWrite,
  // read for kCmdReadonly, connection for kCmdConnection. A write's prepare may be empty
  // (then log_args = args unchanged).
  PrepareHandler prepare;
  WriteHandler write;
  ReadHandler read;
  ConnectionHandler connection;
  /// Subcommands (CLIENT SETNAME, CONFIG GET...) are rows of their own, looked up by lower-case
  /// name; their arity counts the parent too, as Redis 7 does.
  std::map<std::string, CommandSpec, std::less<>> subcommands;
};

class CommandTable {
 public:
  /// Adds a command; returns false if the name is taken (the caller reports the clash).
  bool add(CommandSpec spec);
  /// Case-insensitive lookup; nullptr if unknown.
  const CommandSpec* find(std::string_view name) const;
  /// True if args.size() satisfies spec.arity.
  static bool check_arity(const CommandSpec& spec, std::size_t argc);
  const std::map<std::string, CommandSpec, std::less<>>& all() const { return commands_; }

 private:
  std::map<std::string, CommandSpec, std::less<>> commands_;  // ordered: COMMAND output is stable
};

/// Redis 7's exact texts, used by the dispatcher.
std::string unknown_command_error(
    Args args);  // "ERR unknown command 'foo', with args beginning with: 'a' "
std::string wrong_arity_error(
    std::string_view name);  // "ERR wrong number of arguments for 'get' command"
std::string unknown_subcommand_error(std::string_view parent, std::string_view sub);

}  // namespace raftd
