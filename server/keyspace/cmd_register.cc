// The command-table plumbing shared by the data commands, and register_kv_commands().
#include <fmt/core.h>

#include <cstdlib>

#include "server/keyspace/cmd_util.h"
#include "server/keyspace/kv_commands.h"

namespace raftd {

namespace kv {

std::string invalid_expire_error(std::string_view command) {
  return fmt::format("ERR invalid expire time in '{}' command", command);
}

void copy_args(Args args, std::vector<std::string>& log_args) {
  log_args.assign(args.begin(), args.end());
}

}  // namespace kv

void register_kv_commands(CommandTable& table) {
  kv::register_string_commands(table);
  kv::register_key_commands(table);
  kv::register_expire_commands(table);
  kv::register_hash_commands(table);
}

}  // namespace raftd
