// Registers every connection/server command family (families.h) in one call.
#include "server/commands/connection_commands.h"

#include "server/commands/families.h"

namespace raftd {

void register_connection_commands(CommandTable& table) {
  register_connection_family(table);
  register_server_commands(table);
  register_info_commands(table);
  register_client_commands(table);
  register_command_commands(table);
  register_config_commands(table);
}

}  // namespace raftd
