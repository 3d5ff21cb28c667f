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
#include "server/status.h"

namespace raftd {

class Keyspace;       // server/keyspace/keyspace.h: the in-memory map plus expiry
class ClientContext;  // server/client/client_context.h: what a connection-level handler may see and
                      // change

/// args[0] is the command name as the client sent it.
using Args = std::span<const std::string_view>;

/// Command flags. Redis's come first, in the order Redis's COMMAND lists them, and are written in
/// rows as Redis's words ("write denyoom fast"); raftd's own follow and are never shown.
enum CommandFlag : std::uint32_t {
  kCmdWrite = 1u << 0,     ///< changes the keyspace: goes through the log and runs in apply
  kCmdReadonly = 1u << 1,  ///< reads the keyspace on the serving node
  kCmdDenyOom = 1u << 2,   ///< may grow memory
  kCmdAdmin = 1u << 3,
  kCmdPubsub = 1u << 4,
  kCmdNoScript = 1u << 5,
  kCmdBlocking = 1u << 6,
  kCmdLoading = 1u << 7,
  kCmdStale = 1u << 8,
  kCmdSkipMonitor = 1u << 9,
  kCmdSkipSlowlog = 1u << 10,
  kCmdFast = 1u << 11,
  kCmdNoAuth = 1u << 12,
  kCmdMayReplicate = 1u << 13,
  kCmdNoMandatoryKeys = 1u << 14,
  kCmdNoAsyncLoading = 1u << 15,
  kCmdNoMulti = 1u << 16,
  kCmdMovableKeys = 1u << 17,
  kCmdAllowBusy = 1u << 18,
  kCmdRedisFlags = (1u << 19) - 1,
  // raftd's own.
  kCmdConnection = 1u << 24,  ///< set for rows with a connection handler (PING, CLIENT, INFO...)
  kCmdInternal = 1u << 25,    ///< proposed by the node itself (REAPEXPIRED): refused from clients,
                              ///< hidden from COMMAND
  kCmdDeferred = 1u << 26,    ///< a connection command that always answers later, through
                              ///< ClientContext::defer_reply() (CHECKPOINT)
};

/// Redis's ACL categories, in the order COMMAND lists them.
enum AclCategory : std::uint32_t {
  kAclKeyspace = 1u << 0,
  kAclRead = 1u << 1,
  kAclWrite = 1u << 2,
  kAclSet = 1u << 3,
  kAclSortedSet = 1u << 4,
  kAclList = 1u << 5,
  kAclHash = 1u << 6,
  kAclString = 1u << 7,
  kAclBitmap = 1u << 8,
  kAclHyperLogLog = 1u << 9,
  kAclGeo = 1u << 10,
  kAclStream = 1u << 11,
  kAclPubsub = 1u << 12,
  kAclAdmin = 1u << 13,
  kAclFast = 1u << 14,
  kAclSlow = 1u << 15,
  kAclBlocking = 1u << 16,
  kAclDangerous = 1u << 17,
  kAclConnection = 1u << 18,
  kAclTransaction = 1u << 19,
  kAclScripting = 1u << 20,
};

/// Redis 7's command groups (COMMAND DOCS "group").
enum class CommandGroup {
  kGeneric,
  kString,
  kList,
  kSet,
  kSortedSet,
  kHash,
  kPubsub,
  kTransactions,
  kConnection,
  kServer,
  kScripting,
  kHyperLogLog,
  kCluster,
  kGeo,
  kStream,
  kBitmap,
};

std::string_view group_name(CommandGroup group);
/// Redis's words for the flags COMMAND shows ("write", "denyoom", ...), in its order.
std::vector<std::string_view> flag_words(std::uint32_t flags);
/// "@read", "@string", ... in Redis's order.
std::vector<std::string_view> category_words(std::uint32_t categories);
/// The category named by `word` ("@read" or "read", any case); 0 if none.
std::uint32_t parse_category(std::string_view word);

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

/// Key positions, as Redis's legacy (first key, last key, step); all 0: no keys. last -1 is the
/// last argument.
struct KeyRange {
  int first = 0;
  int last = 0;
  int step = 0;
};

/// One command as a family declares it, with named fields:
///
///   {.name = "get", .arity = 2, .flags = "readonly fast", .keys = {1, 1, 1},
///    .group = CommandGroup::kString, .summary = "Get the value of a key", .read = get_read},
///
/// Exactly one kind of handler is set and the flags agree with it: prepare (optional) + write
/// for "write", read for "readonly", connection for anything else; a container (CLIENT,
/// CONFIG) has subcommands and no handler. ACL categories are those Redis implies from the
/// flags (write: @write, readonly: @read, admin: @admin @dangerous, fast: @fast, else @slow,
/// ...) plus the group's (generic: @keyspace, string: @string, connection: @connection, ...;
/// not for containers) plus `acl`, as Redis's command JSON lists them.
struct CommandRow {
  std::string_view name;
  int arity = 0;           ///< Redis convention: N exactly, -N at least N (name included)
  std::string_view flags;  ///< Redis's flag words, space separated, plus raftd's "internal"
  KeyRange keys;           ///< and "deferred"
  CommandGroup group = CommandGroup::kGeneric;
  std::string_view summary;  ///< for COMMAND DOCS (and redis-cli's help)
  std::string_view acl;      ///< further ACL categories, "@dangerous @keyspace"
  PrepareHandler prepare;
  WriteHandler write;
  ReadHandler read;
  ConnectionHandler connection;
  /// Subcommands (CLIENT SETNAME): rows of their own, named without the parent ("setname");
  /// their arity counts the parent too, as Redis 7 does.
  std::vector<CommandRow> subcommands;
};

/// A row as the table keeps it.
struct CommandSpec {
  std::string name;  ///< lower case; a subcommand's is Redis's full name, "client|setname"
  int arity = 0;
  std::uint32_t flags = 0;           ///< CommandFlag bits
  std::uint32_t acl_categories = 0;  ///< AclCategory bits
  CommandGroup group = CommandGroup::kGeneric;
  int first_key = 0;
  int last_key = 0;
  int key_step = 0;
  std::string summary;
  PrepareHandler prepare;
  WriteHandler write;
  ReadHandler read;
  ConnectionHandler connection;
  /// Subcommands by lower-case name.
  std::map<std::string, CommandSpec, std::less<>> subcommands;
};

class CommandTable {
 public:
  /// Adds a built-in command. A clash or a row whose flags disagree with its handler is a bug:
  /// it aborts, naming the command.
  void add(CommandRow row);
  /// The same for every row of a family.
  void add(std::vector<CommandRow> rows);
  /// Adds a row that comes from outside (a plugin): a clash or a bad row is an error naming it.
  Status try_add(CommandRow row);
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
