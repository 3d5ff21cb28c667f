// The connection family: PING, ECHO, QUIT, HELLO, AUTH and SELECT, with Redis 7's replies.
#include <fmt/core.h>

#include <algorithm>
#include <string>
#include <vector>

#include "server/client/client_context.h"
#include "server/commands/connection_commands.h"
#include "server/commands/families.h"
#include "server/config.h"
#include "server/keyspace/glob.h"
#include "server/keyspace/keyspace.h"
#include "server/keyspace/numbers.h"
#include "server/keyspace/state_machine.h"
#include "server/log.h"
#include "server/node/proposer.h"
#include "server/server_state.h"
#include "server/text.h"

namespace raftd {

namespace {

void ping(ClientContext&, Args args, resp::Writer& out) {
  if (args.size() > 2) {
    out.error(wrong_arity_error("ping"));
  } else if (args.size() == 2) {
    out.bulk(args[1]);
  } else {
    out.simple("PONG");
  }
}

void echo(ClientContext&, Args args, resp::Writer& out) {
  out.bulk(args[1]);
}

void quit(ClientContext& c, Args, resp::Writer& out) {
  out.ok();
  c.close_after_reply();
}

void hello(ClientContext& c, Args args, resp::Writer& out) {
  std::size_t next = 1;
  if (args.size() >= 2) {
    std::int64_t version = 0;
    if (!parse_int64(args[next++], version)) {
      out.error("ERR Protocol version is not an integer or out of range");
      return;
    }
    // Only RESP2 is spoken; RESP3 (or anything else) is refused as Redis refuses versions it
    // does not know, and clients fall back to RESP2.
    if (version != 2) {
      out.error("NOPROTO unsupported protocol version");
      return;
    }
  }
  std::string new_name;
  bool set_name = false;
  for (std::size_t j = next; j < args.size(); ++j) {
    const std::size_t more = args.size() - 1 - j;
    if (iequals(args[j], "auth") && more >= 2) {
      // No passwords are configured: the default user accepts any password, others do not
      // exist (Redis with the default "nopass" user behaves the same).
      if (args[j + 1] != "default") {
        out.error("WRONGPASS invalid username-password pair or user is disabled.");
        return;
      }
      j += 2;
    } else if (iequals(args[j], "setname") && more >= 1) {
      if (!valid_client_name(args[j + 1])) {
        out.error("ERR Client names cannot contain spaces, newlines or special characters.");
        return;
      }
      new_name.assign(args[j + 1]);
      set_name = true;
      ++j;
    } else {
      out.error(fmt::format("ERR Syntax error in HELLO option '{}'", args[j]));
      return;
    }
  }
  if (set_name) c.info().name = new_name;
  out.array(14);
  out.bulk("server");
  out.bulk("redis");
  out.bulk("version");
  out.bulk(kRedisCompatVersion);
  out.bulk("proto");
  out.integer(2);
  out.bulk("id");
  out.integer(static_cast<std::int64_t>(c.info().id));
  out.bulk("mode");
  out.bulk("standalone");
  out.bulk("role");
  out.bulk("master");
  out.bulk("modules");
  out.array(0);
}

void auth(ClientContext&, Args args, resp::Writer& out) {
  if (args.size() > 3) {
    out.error("ERR syntax error");
  } else if (args.size() == 2) {
    out.error(
        "ERR AUTH <password> called without any password configured for the default user. Are "
        "you sure your configuration is correct?");
  } else if (args[1] == "default") {
    out.ok();
  } else {
    out.error("WRONGPASS invalid username-password pair or user is disabled.");
  }
}

void select(ClientContext&, Args args, resp::Writer& out) {
  std::int64_t id = 0;
  if (!parse_int64(args[1], id)) {
    out.error("ERR value is not an integer or out of range");
  } else if (id < INT32_MIN || id > INT32_MAX) {
    out.error("ERR value is out of range, value must between -2147483648 and 2147483647");
  } else if (id != 0) {
    // One keyspace: it is what the Raft log replicates.
    out.error("ERR DB index is out of range");
  } else {
    out.ok();
  }
}

}  // namespace

bool valid_client_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) { return c >= '!' && c <= '~'; });
}

void help_reply(resp::Writer& out, std::string_view command,
                std::initializer_list<std::string_view> lines) {
  out.array(lines.size() + 3);
  out.simple(fmt::format("{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", command));
  for (std::string_view line : lines) out.simple(line);
  out.simple("HELP");
  out.simple("    Prints this help.");
}

void register_connection_family(CommandTable& table) {
  constexpr CommandGroup kGroup = CommandGroup::kConnection;
  table.add({
      {.name = "ping",
       .arity = -1,
       .flags = "fast",
       .group = kGroup,
       .summary = "Ping the server",
       .connection = ping},
      {.name = "echo",
       .arity = 2,
       .flags = "loading stale fast",
       .group = kGroup,
       .summary = "Echo the given string",
       .connection = echo},
      {.name = "quit",
       .arity = -1,
       .flags = "noscript loading stale fast no_auth allow_busy",
       .group = kGroup,
       .summary = "Close the connection",
       .connection = quit},
      {.name = "hello",
       .arity = -1,
       .flags = "noscript loading stale fast no_auth allow_busy",
       .group = kGroup,
       .summary = "Handshake with Redis",
       .connection = hello},
      {.name = "auth",
       .arity = -2,
       .flags = "noscript loading stale fast no_auth allow_busy",
       .group = kGroup,
       .summary = "Authenticate to the server",
       .connection = auth},
      {.name = "select",
       .arity = 2,
       .flags = "loading stale fast",
       .group = kGroup,
       .summary = "Change the selected database for the current connection",
       .connection = select},
  });
}

}  // namespace raftd
