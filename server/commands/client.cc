// CLIENT: the connection's own id, name and library info, and the list of connections
// (Redis 7's subcommands, replies and errors).

#include <fmt/core.h>

#include <algorithm>
#include <string>
#include <vector>

#include "server/client/client_context.h"
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

std::string client_info_line(const ClientContext& client, std::int64_t now_ms) {
  const ClientInfo& ci = client.info();
  const std::size_t qbuf = client.query_buffer_used();
  const std::size_t qfree = client.query_buffer_free();
  const std::size_t omem = client.output_buffer_used();
  return fmt::format(
      "id={} addr={} laddr={} fd={} name={} age={} idle={} flags=N db={} sub=0 psub=0 ssub=0 "
      "multi=-1 qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp={} obl=0 oll=0 omem={} "
      "tot-mem={} events={} cmd={} user=default redir=-1 resp={}",
      ci.id, ci.addr, ci.laddr, ci.fd, ci.name, (now_ms - ci.created_ms) / 1000,
      (now_ms - ci.last_interaction_ms) / 1000, ci.db, qbuf, qfree, qbuf + qfree, qbuf + qfree,
      omem, qbuf + qfree + omem, client.events(), ci.last_command, ci.resp);
}

/// Redis client types: every raftd client is a normal one.
bool known_client_type(std::string_view type) {
  return iequals(type, "normal") || iequals(type, "master") || iequals(type, "replica") ||
         iequals(type, "slave") || iequals(type, "pubsub");
}

void client_id(ClientContext& c, Args, resp::Writer& out) {
  out.integer(static_cast<std::int64_t>(c.info().id));
}

void client_getname(ClientContext& c, Args, resp::Writer& out) {
  if (c.info().name.empty()) {
    out.null();
  } else {
    out.bulk(c.info().name);
  }
}

void client_setname(ClientContext& c, Args args, resp::Writer& out) {
  if (!valid_client_name(args[2])) {
    out.error("ERR Client names cannot contain spaces, newlines or special characters.");
    return;
  }
  c.info().name.assign(args[2]);
  out.ok();
}

void client_setinfo(ClientContext& c, Args args, resp::Writer& out) {
  const bool lib_name = iequals(args[2], "lib-name");
  if (!lib_name && !iequals(args[2], "lib-ver")) {
    out.error(fmt::format("ERR Unrecognized option '{}'", args[2]));
    return;
  }
  if (!valid_client_name(args[3])) {
    out.error(fmt::format("ERR {} cannot contain spaces, newlines or special characters.",
                          lib_name ? "lib-name" : "lib-ver"));
    return;
  }
  (lib_name ? c.info().lib_name : c.info().lib_ver).assign(args[3]);
  out.ok();
}

void client_info(ClientContext& c, Args, resp::Writer& out) {
  out.bulk(client_info_line(c, ServerState::wall_ms()) + "\n");
}

void client_list(ClientContext& c, Args args, resp::Writer& out) {
  const std::int64_t now = ServerState::wall_ms();
  std::string text;
  auto& clients = c.server().clients;
  if (args.size() == 4 && iequals(args[2], "type")) {
    if (!known_client_type(args[3])) {
      out.error(fmt::format("ERR Unknown client type '{}'", args[3]));
      return;
    }
    if (iequals(args[3], "normal")) {
      for (auto& [id, other] : clients) text += client_info_line(*other, now) + "\n";
    }
  } else if (args.size() > 3 && iequals(args[2], "id")) {
    for (std::size_t i = 3; i < args.size(); ++i) {
      std::int64_t id = 0;
      if (!parse_int64(args[i], id)) {
        out.error("ERR Invalid client ID");
        return;
      }
      auto it = clients.find(static_cast<std::uint64_t>(id));
      if (it != clients.end()) text += client_info_line(*it->second, now) + "\n";
    }
  } else if (args.size() != 2) {
    out.error("ERR syntax error");
    return;
  } else {
    for (auto& [id, other] : clients) text += client_info_line(*other, now) + "\n";
  }
  out.bulk(text);
}

void client_kill(ClientContext& c, Args args, resp::Writer& out) {
  std::string addr, laddr;
  std::uint64_t id = 0;
  bool type_matches_none = false;
  bool skipme = true;
  const bool old_form = args.size() == 3;
  if (old_form) {
    addr.assign(args[2]);
    skipme = false;  // the old form can kill the caller, as in Redis
  } else {
    for (std::size_t i = 2; i < args.size(); i += 2) {
      const bool more = i + 1 < args.size();
      if (iequals(args[i], "id") && more) {
        std::int64_t v = 0;
        if (!parse_int64(args[i + 1], v) || v < 1) {
          out.error("ERR client-id should be greater than 0");
          return;
        }
        id = static_cast<std::uint64_t>(v);
      } else if (iequals(args[i], "type") && more) {
        if (!known_client_type(args[i + 1])) {
          out.error(fmt::format("ERR Unknown client type '{}'", args[i + 1]));
          return;
        }
        type_matches_none = !iequals(args[i + 1], "normal");
      } else if (iequals(args[i], "addr") && more) {
        addr.assign(args[i + 1]);
      } else if (iequals(args[i], "laddr") && more) {
        laddr.assign(args[i + 1]);
      } else if (iequals(args[i], "user") && more) {
        if (args[i + 1] != "default") {
          out.error(fmt::format("ERR No such user '{}'", args[i + 1]));
          return;
        }
      } else if (iequals(args[i], "skipme") && more) {
        if (iequals(args[i + 1], "yes")) {
          skipme = true;
        } else if (iequals(args[i + 1], "no")) {
          skipme = false;
        } else {
          out.error("ERR syntax error");
          return;
        }
      } else {
        out.error("ERR syntax error");
        return;
      }
    }
  }
  std::vector<ClientContext*> victims;
  if (!type_matches_none) {
    for (auto& [cid, other] : c.server().clients) {
      if (!addr.empty() && other->info().addr != addr) continue;
      if (!laddr.empty() && other->info().laddr != laddr) continue;
      if (id != 0 && cid != id) continue;
      if (skipme && other == &c) continue;
      victims.push_back(other);
    }
  }
  for (ClientContext* victim : victims) {
    // Killing oneself still sends this reply first (Redis: close after the
    // command).
    if (victim == &c) {
      c.close_after_reply();
    } else {
      victim->kill();
    }
  }
  if (old_form) {
    if (victims.empty()) {
      out.error("ERR No such client");
    } else {
      out.ok();
    }
  } else {
    out.integer(static_cast<std::int64_t>(victims.size()));
  }
}

void client_no_evict(ClientContext&, Args args, resp::Writer& out) {
  if (iequals(args[2], "on") || iequals(args[2], "off")) {
    out.ok();  // raftd never evicts clients; the mode is accepted
  } else {
    out.error("ERR syntax error");
  }
}

void client_help(ClientContext&, Args, resp::Writer& out) {
  help_reply(out, "CLIENT",
             {
                 "GETNAME",
                 "    Return the name of the current connection.",
                 "ID",
                 "    Return the ID of the current connection.",
                 "INFO",
                 "    Return information about the current client connection.",
                 "KILL <ip:port>",
                 "    Kill connection made from <ip:port>.",
                 "KILL <option> <value> [<option> <value> [...]]",
                 "    Kill connections. Options are:",
                 "    * ADDR (<ip:port>|<unixsocket>:0)",
                 "      Kill connections made from the specified address",
                 "    * LADDR (<ip:port>|<unixsocket>:0)",
                 "      Kill connections made to specified local address",
                 "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                 "      Kill connections by type.",
                 "    * USER <username>",
                 "      Kill connections authenticated by <username>.",
                 "    * SKIPME (YES|NO)",
                 "      Skip killing current connection (default: yes).",
                 "LIST [options ...]",
                 "    Return information about client connections. Options:",
                 "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                 "      Return clients of specified type.",
                 "    * ID <client-id> [<client-id> ...]",
                 "      Return clients with the given ids.",
                 "NO-EVICT (ON|OFF)",
                 "    Accepted for compatibility; raftd never evicts clients.",
                 "SETINFO (LIB-NAME|LIB-VER) <value>",
                 "    Record the client library's name or version.",
                 "SETNAME <name>",
                 "    Assign the name <name> to the current connection.",
             });
}

}  // namespace

void register_client_commands(CommandTable& table) {
  table.add(CommandRow{.name = "client",
                       .arity = -2,
                       .group = CommandGroup::kConnection,
                       .summary = "A container for client connection commands",
                       .subcommands = {
                           {.name = "id",
                            .arity = 2,
                            .flags = "noscript loading stale",
                            .group = CommandGroup::kConnection,
                            .summary = "Returns the client ID for the current connection",
                            .connection = client_id},
                           {.name = "getname",
                            .arity = 2,
                            .flags = "noscript loading stale",
                            .group = CommandGroup::kConnection,
                            .summary = "Get the current connection name",
                            .connection = client_getname},
                           {.name = "setname",
                            .arity = 3,
                            .flags = "noscript loading stale",
                            .group = CommandGroup::kConnection,
                            .summary = "Set the current connection name",
                            .connection = client_setname},
                           {.name = "setinfo",
                            .arity = 4,
                            .flags = "loading stale",
                            .group = CommandGroup::kConnection,
                            .summary = "Set client or connection specific info",
                            .connection = client_setinfo},
                           {.name = "info",
                            .arity = 2,
                            .flags = "noscript loading stale",
                            .group = CommandGroup::kConnection,
                            .summary = "Returns information about the current client connection.",
                            .connection = client_info},
                           {.name = "list",
                            .arity = -2,
                            .flags = "admin noscript loading stale",
                            .group = CommandGroup::kConnection,
                            .summary = "Get the list of client connections",
                            .connection = client_list},
                           {.name = "kill",
                            .arity = -3,
                            .flags = "admin noscript loading stale",
                            .group = CommandGroup::kConnection,
                            .summary = "Kill the connection of a client",
                            .connection = client_kill},
                           {.name = "no-evict",
                            .arity = 3,
                            .flags = "admin noscript loading stale",
                            .group = CommandGroup::kConnection,
                            .summary = "Set client eviction mode for the current connection",
                            .connection = client_no_evict},
                           {.name = "help",
                            .arity = 2,
                            .flags = "loading stale",
                            .group = CommandGroup::kConnection,
                            .summary = "Show helpful text about the different subcommands",
                            .connection = client_help},
                       }});
}

}  // namespace raftd
