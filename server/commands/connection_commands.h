// Connection- and server-level commands (Redis 7 behaviour and texts): PING, ECHO, QUIT,
// HELLO, AUTH, SELECT, TIME, CLIENT ..., COMMAND ..., INFO, CONFIG ..., and DBSIZE when the
// data commands do not provide it.
#pragma once

#include "server/commands/command_table.h"

namespace raftd {

/// The Redis version whose behaviour raftd follows; reported as redis_version and by HELLO.
inline constexpr const char* kRedisCompatVersion = "7.0.0";

/// Adds the rows to `table`; call after the data commands are registered. Aborts on a name
/// clash (a programming error).
void register_connection_commands(CommandTable& table);

}  // namespace raftd
