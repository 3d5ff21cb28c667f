// Shared pieces of the data-command implementations (not part of the public interface).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/writer.h"
#include "server/commands/command_table.h"
#include "server/keyspace/keyspace.h"

namespace raftd::kv {

// Redis 7.0's shared error texts (server.c createSharedObjects), without the leading '-'.
inline constexpr std::string_view kErrWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kErrSyntax = "ERR syntax error";
inline constexpr std::string_view kErrNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kErrNotFloat = "ERR value is not a valid float";
inline constexpr std::string_view kErrNoSuchKey = "ERR no such key";
inline constexpr std::string_view kErrOverflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view kErrNanOrInf = "ERR increment would produce NaN or Infinity";
/// Redis proto-max-bulk-len default: the largest string SETRANGE/APPEND may build.
inline constexpr std::int64_t kMaxStringLength = 512ll * 1024 * 1024;

/// Whether argument `a` is the option name `b` (lower case): ASCII case-insensitive, and `a`
/// read up to its first NUL byte, exactly as Redis's strcasecmp on an option.
bool eq_nocase(std::string_view a, std::string_view b);
/// What addReplyErrorFormat does to a formatted message: CR/LF trimmed at both ends and mapped
/// to spaces inside, so the error stays one protocol line.
std::string one_line_error(std::string message);
/// "ERR invalid expire time in '<cmd>' command" (addReplyErrorExpireTime).
std::string invalid_expire_error(std::string_view command);

/// Copies args into log_args (for prepare steps that rewrite one or two of them).
void copy_args(Args args, std::vector<std::string>& log_args);

void register_string_commands(CommandTable& table);
void register_key_commands(CommandTable& table);
void register_expire_commands(CommandTable& table);
void register_hash_commands(CommandTable& table);

}  // namespace raftd::kv
