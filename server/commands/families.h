// What the connection and server command families (client.cc, command.cc, config.cc,
// connection.cc, info.cc, server.cc in this folder) share, and the registration call of each.
// Each family is one file of named handlers and one table.add() of its rows.
#pragma once

#include <initializer_list>
#include <string_view>

#include "resp/writer.h"
#include "server/commands/command_table.h"

namespace raftd {

/// The reply of "<COMMAND> HELP": the usage line, `lines`, then HELP itself (Redis's
/// addReplyHelp).
void help_reply(resp::Writer& out, std::string_view command,
                std::initializer_list<std::string_view> lines);
/// Redis accepts client names (and library names) made of printable non-space ASCII only.
bool valid_client_name(std::string_view name);

void register_client_commands(CommandTable& table);    // CLIENT ...
void register_command_commands(CommandTable& table);   // COMMAND ...
void register_config_commands(CommandTable& table);    // CONFIG ...
void register_connection_family(CommandTable& table);  // PING ECHO QUIT HELLO AUTH SELECT
void register_info_commands(CommandTable& table);      // INFO
void register_server_commands(CommandTable& table);    // TIME CHECKPOINT (DBSIZE)

}  // namespace raftd
