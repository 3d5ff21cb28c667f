// The data commands: strings, generic key commands, expiry and hashes, with Redis 7.0's
// arity, flags, key positions, replies and error texts.
//
// Every write command's prepare step validates syntax and turns relative times into absolute
// ones (SET EX/PX, SETEX, PSETEX, GETEX EX/PX, EXPIRE, PEXPIRE, EXPIREAT all become a PXAT or
// PEXPIREAT form), so the entry means the same on every node at any time; errors that depend on
// the data (WRONGTYPE, a stored value that is not a number, "no such key") come from apply.
#pragma once

#include <string_view>

#include "server/commands/command_table.h"

namespace raftd {

/// Adds every command listed above plus REAPEXPIRED to `table`.
void register_kv_commands(CommandTable& table);

/// REAPEXPIRED key [key ...] (flags write + internal): removes each key that is expired as of
/// the entry's timestamp and leaves live keys alone; replies the number removed. This is how
/// the leader deletes expired keys (from Keyspace::drain_expired_candidates / sample_expired):
/// a plain DEL proposed for an expired key could land after a newer SET of that key and delete
/// fresh data; this cannot. Harmless if a client calls it, but the dispatcher should refuse
/// kCmdInternal rows from clients and COMMAND should hide them.
inline constexpr std::string_view kReapExpiredCommand = "reapexpired";

}  // namespace raftd
