#include "server/commands/connection_commands.h"

#include <fmt/core.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "server/client/client_context.h"
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

// ------------------------------------------------------------------------------ small helpers

/// Redis's bytesToHuman.
std::string bytes_to_human(std::uint64_t n) {
  const double d = static_cast<double>(n);
  if (n < 1024) return fmt::format("{}B", n);
  if (n < 1024ull * 1024) return fmt::format("{:.2f}K", d / 1024);
  if (n < 1024ull * 1024 * 1024) return fmt::format("{:.2f}M", d / (1024.0 * 1024));
  if (n < 1024ull * 1024 * 1024 * 1024) return fmt::format("{:.2f}G", d / (1024.0 * 1024 * 1024));
  return fmt::format("{:.2f}T", d / (1024.0 * 1024 * 1024 * 1024));
}

/// Redis accepts client names (and library names) made of printable non-space ASCII only.
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

CommandSpec connection_row(std::string name, int arity, std::uint32_t extra_flags,
                           std::string summary, ConnectionHandler handler) {
  CommandSpec spec;
  spec.name = std::move(name);
  spec.arity = arity;
  spec.flags = kCmdConnection | extra_flags;
  spec.summary = std::move(summary);
  spec.connection = std::move(handler);
  return spec;
}

/// A container (CLIENT, CONFIG, COMMAND): its rows are keyed by the subcommand's name, while
/// their own name is Redis's full name ("client|setname"), used in arity errors and COMMAND.
void add_subcommand(CommandSpec& parent, std::string sub, int arity, std::uint32_t extra_flags,
                    std::string summary, ConnectionHandler handler) {
  CommandSpec row = connection_row(parent.name + "|" + sub, arity, extra_flags, std::move(summary),
                                   std::move(handler));
  parent.subcommands.emplace(std::move(sub), std::move(row));
}

// ------------------------------------------------------------------------------ client info

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

void client_command(CommandSpec& client) {
  client.summary = "A container for client connection commands";
  add_subcommand(client, "id", 2, kCmdLoading | kCmdStale,
                 "Returns the client ID for the current connection",
                 [](ClientContext& c, Args, resp::Writer& out) {
                   out.integer(static_cast<std::int64_t>(c.info().id));
                 });
  add_subcommand(client, "getname", 2, kCmdLoading | kCmdStale, "Get the current connection name",
                 [](ClientContext& c, Args, resp::Writer& out) {
                   if (c.info().name.empty()) {
                     out.null();
                   } else {
                     out.bulk(c.info().name);
                   }
                 });
  add_subcommand(
      client, "setname", 3, kCmdLoading | kCmdStale, "Set the current connection name",
      [](ClientContext& c, Args args, resp::Writer& out) {
        if (!valid_client_name(args[2])) {
          out.error("ERR Client names cannot contain spaces, newlines or special characters.");
          return;
        }
        c.info().name.assign(args[2]);
        out.ok();
      });
  add_subcommand(
      client, "setinfo", 4, kCmdLoading | kCmdStale, "Set client or connection specific info",
      [](ClientContext& c, Args args, resp::Writer& out) {
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
      });
  add_subcommand(client, "info", 2, kCmdLoading | kCmdStale,
                 "Returns information about the current client connection.",
                 [](ClientContext& c, Args, resp::Writer& out) {
                   out.bulk(client_info_line(c, ServerState::wall_ms()) + "\n");
                 });
  add_subcommand(client, "list", -2, kCmdAdmin | kCmdLoading | kCmdStale,
                 "Get the list of client connections",
                 [](ClientContext& c, Args args, resp::Writer& out) {
                   const std::int64_t now = ServerState::wall_ms();
                   std::string text;
                   auto& clients = c.server().clients;
                   if (args.size() == 4 && iequals(args[2], "type")) {
                     if (!known_client_type(args[3])) {
                       out.error(fmt::format("ERR Unknown client type '{}'", args[3]));
                       return;
                     }
                     if (iequals(args[3], "normal")) {
                       for (auto& [id, other] : clients)
                         text += client_info_line(*other, now) + "\n";
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
                 });
  add_subcommand(client, "kill", -3, kCmdAdmin | kCmdLoading | kCmdStale,
                 "Kill the connection of a client",
                 [](ClientContext& c, Args args, resp::Writer& out) {
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
                 });
  add_subcommand(client, "no-evict", 3, kCmdAdmin | kCmdLoading | kCmdStale,
                 "Set client eviction mode for the current connection",
                 [](ClientContext&, Args args, resp::Writer& out) {
                   if (iequals(args[2], "on") || iequals(args[2], "off")) {
                     out.ok();  // raftd never evicts clients; the mode is accepted
                   } else {
                     out.error("ERR syntax error");
                   }
                 });
  add_subcommand(client, "help", 2, kCmdLoading | kCmdStale,
                 "Show helpful text about the different subcommands",
                 [](ClientContext&, Args, resp::Writer& out) {
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
                 });
}

// ------------------------------------------------------------------------------ COMMAND

/// COMMAND DOCS wants a group; the table has none, so it is derived from Redis's grouping.
std::string_view command_group(const CommandSpec& spec) {
  static const std::set<std::string_view> kServer = {"command", "config", "dbsize", "flushall",
                                                     "flushdb", "info",   "time",   "lastsave"};
  static const std::set<std::string_view> kString = {
      "append", "decr",   "decrby",      "get",      "getdel", "getex", "getrange", "getset",
      "incr",   "incrby", "incrbyfloat", "lcs",      "mget",   "mset",  "msetnx",   "psetex",
      "set",    "setex",  "setnx",       "setrange", "strlen", "substr"};
  const std::string_view base = std::string_view(spec.name).substr(0, spec.name.find('|'));
  if (kServer.count(base)) return "server";
  if (kString.count(base)) return "string";
  if (spec.flags & kCmdConnection) return "connection";
  if (!base.empty() && base[0] == 'h') return "hash";
  return "generic";
}

std::vector<std::string_view> command_flags(const CommandSpec& spec) {
  std::vector<std::string_view> flags;
  if (spec.flags & kCmdWrite) flags.push_back("write");
  if (spec.flags & kCmdReadonly) flags.push_back("readonly");
  if (spec.flags & kCmdDenyOom) flags.push_back("denyoom");
  if (spec.flags & kCmdAdmin) flags.push_back("admin");
  if (spec.flags & kCmdLoading) flags.push_back("loading");
  if (spec.flags & kCmdStale) flags.push_back("stale");
  if (spec.flags & kCmdFast) flags.push_back("fast");
  return flags;
}

std::vector<std::string> command_categories(const CommandSpec& spec) {
  std::vector<std::string> cats;
  if (spec.flags & kCmdReadonly) cats.push_back("@read");
  if (spec.flags & kCmdWrite) cats.push_back("@write");
  const std::string_view group = command_group(spec);
  if (group == "string" || group == "hash") cats.push_back(fmt::format("@{}", group));
  if (spec.flags & kCmdAdmin) cats.push_back("@admin");
  cats.push_back(spec.flags & kCmdFast ? "@fast" : "@slow");
  if (spec.flags & kCmdAdmin) cats.push_back("@dangerous");
  if (group == "connection") cats.push_back("@connection");
  return cats;
}

/// One row of COMMAND / COMMAND INFO, in Redis 7's ten-field layout.
void write_command_row(resp::Writer& out, const CommandSpec& spec) {
  out.array(10);
  out.bulk(spec.name);
  out.integer(spec.arity);
  const auto flags = command_flags(spec);
  out.array(flags.size());
  for (std::string_view f : flags) out.simple(f);
  out.integer(spec.first_key);
  out.integer(spec.last_key);
  out.integer(spec.key_step);
  const auto cats = command_categories(spec);
  out.array(cats.size());
  for (const std::string& cat : cats) out.simple(cat);
  out.array(0);  // tips
  if (spec.first_key > 0) {
    // One range key spec equivalent to (first, last, step); lastkey is relative to the first
    // key when non-negative, as in Redis's legacy range spec.
    out.array(1);
    out.array(6);
    out.bulk("flags");
    out.array(2);
    out.simple(spec.flags & kCmdWrite ? "RW" : "RO");
    out.simple(spec.flags & kCmdWrite ? "update" : "access");
    out.bulk("begin_search");
    out.array(4);
    out.bulk("type");
    out.bulk("index");
    out.bulk("spec");
    out.array(2);
    out.bulk("index");
    out.integer(spec.first_key);
    out.bulk("find_keys");
    out.array(4);
    out.bulk("type");
    out.bulk("range");
    out.bulk("spec");
    out.array(6);
    out.bulk("lastkey");
    out.integer(spec.last_key < 0 ? spec.last_key : spec.last_key - spec.first_key);
    out.bulk("keystep");
    out.integer(spec.key_step);
    out.bulk("limit");
    out.integer(0);
  } else {
    out.array(0);
  }
  out.array(spec.subcommands.size());
  for (const auto& [name, sub] : spec.subcommands) write_command_row(out, sub);
}

/// One COMMAND DOCS value (a map, flattened for RESP2). redis-cli builds its help from it.
void write_command_docs(resp::Writer& out, const CommandSpec& spec) {
  out.array(spec.subcommands.empty() ? 6 : 8);
  out.bulk("summary");
  out.bulk(spec.summary);
  out.bulk("since");
  out.bulk(version_string());
  out.bulk("group");
  out.bulk(command_group(spec));
  if (!spec.subcommands.empty()) {
    out.bulk("subcommands");
    out.array(spec.subcommands.size() * 2);
    for (const auto& [name, sub] : spec.subcommands) {
      out.bulk(sub.name);
      write_command_docs(out, sub);
    }
  }
}

/// Rows clients may call; internal ones (REAPEXPIRED) stay hidden from COMMAND.
std::vector<const CommandSpec*> public_commands(const CommandTable& table) {
  std::vector<const CommandSpec*> rows;
  for (const auto& [name, spec] : table.all()) {
    if (!(spec.flags & kCmdInternal)) rows.push_back(&spec);
  }
  return rows;
}

/// "get" or "client|setname" (what COMMAND INFO/DOCS accept); nullptr if unknown.
const CommandSpec* find_full_name(const CommandTable& table, std::string_view name) {
  const auto bar = name.find('|');
  const CommandSpec* spec = table.find(name.substr(0, bar));
  if (spec != nullptr && (spec->flags & kCmdInternal)) return nullptr;
  if (spec == nullptr || bar == std::string_view::npos) return spec;
  auto it = spec->subcommands.find(ascii_lower(name.substr(bar + 1)));
  return it == spec->subcommands.end() ? nullptr : &it->second;
}

void command_command(CommandSpec& command) {
  command.summary = "Get array of Redis command details";
  command.connection = [](ClientContext& c, Args, resp::Writer& out) {
    const auto rows = public_commands(c.server().commands);
    out.array(rows.size());
    for (const CommandSpec* spec : rows) write_command_row(out, *spec);
  };
  add_subcommand(
      command, "count", 2, kCmdLoading | kCmdStale, "Get total number of Redis commands",
      [](ClientContext& c, Args, resp::Writer& out) {
        out.integer(static_cast<std::int64_t>(public_commands(c.server().commands).size()));
      });
  add_subcommand(command, "info", -2, kCmdLoading | kCmdStale,
                 "Get array of specific Redis command details, or all when no argument is given",
                 [](ClientContext& c, Args args, resp::Writer& out) {
                   const CommandTable& table = c.server().commands;
                   if (args.size() == 2) {
                     const auto rows = public_commands(table);
                     out.array(rows.size());
                     for (const CommandSpec* spec : rows) write_command_row(out, *spec);
                     return;
                   }
                   out.array(args.size() - 2);
                   for (std::size_t i = 2; i < args.size(); ++i) {
                     const CommandSpec* spec = find_full_name(table, args[i]);
                     if (spec == nullptr) {
                       out.null();
                     } else {
                       write_command_row(out, *spec);
                     }
                   }
                 });
  add_subcommand(command, "docs", -2, kCmdLoading | kCmdStale,
                 "Get array of specific Redis command documentation",
                 [](ClientContext& c, Args args, resp::Writer& out) {
                   const CommandTable& table = c.server().commands;
                   std::vector<const CommandSpec*> found;
                   if (args.size() == 2) {
                     found = public_commands(table);
                   } else {
                     for (std::size_t i = 2; i < args.size(); ++i) {
                       if (const CommandSpec* spec = find_full_name(table, args[i]))
                         found.push_back(spec);
                     }
                   }
                   out.array(found.size() * 2);
                   for (const CommandSpec* spec : found) {
                     out.bulk(spec->name);
                     write_command_docs(out, *spec);
                   }
                 });
  add_subcommand(command, "list", -2, kCmdLoading | kCmdStale,
                 "Get an array of Redis command names",
                 [](ClientContext& c, Args args, resp::Writer& out) {
                   enum class Filter { kNone, kModule, kAclCat, kPattern } filter = Filter::kNone;
                   std::string_view value;
                   if (args.size() == 5 && iequals(args[2], "filterby")) {
                     value = args[4];
                     if (iequals(args[3], "module")) {
                       filter = Filter::kModule;
                     } else if (iequals(args[3], "aclcat")) {
                       filter = Filter::kAclCat;
                     } else if (iequals(args[3], "pattern")) {
                       filter = Filter::kPattern;
                     } else {
                       out.error("ERR syntax error");
                       return;
                     }
                   } else if (args.size() != 2) {
                     out.error("ERR syntax error");
                     return;
                   }
                   std::vector<std::string_view> names;
                   auto consider = [&](const CommandSpec& spec) {
                     bool keep = true;
                     switch (filter) {
                       case Filter::kNone:
                         break;
                       case Filter::kModule:
                         keep = false;  // raftd has no modules
                         break;
                       case Filter::kAclCat: {
                         const auto cats = command_categories(spec);
                         keep = std::any_of(cats.begin(), cats.end(), [&](const std::string& cat) {
                           return iequals(std::string_view(cat).substr(1), value);
                         });
                         break;
                       }
                       case Filter::kPattern:
                         keep = glob_match(value, spec.name, true);
                         break;
                     }
                     if (keep) names.push_back(spec.name);
                   };
                   for (const CommandSpec* spec : public_commands(c.server().commands)) {
                     consider(*spec);
                     for (const auto& [sub_name, sub] : spec->subcommands) consider(sub);
                   }
                   out.array(names.size());
                   for (std::string_view name : names) out.bulk(name);
                 });
  add_subcommand(command, "getkeys", -3, kCmdLoading | kCmdStale,
                 "Extract keys given a full Redis command",
                 [](ClientContext& c, Args args, resp::Writer& out) {
                   const Args cmd = args.subspan(2);
                   const CommandSpec* spec = c.server().commands.find(cmd[0]);
                   if (spec != nullptr && (spec->flags & kCmdInternal)) spec = nullptr;
                   if (spec != nullptr && !spec->subcommands.empty() && cmd.size() >= 2) {
                     auto it = spec->subcommands.find(ascii_lower(cmd[1]));
                     spec = it == spec->subcommands.end() ? nullptr : &it->second;
                   }
                   if (spec == nullptr) {
                     out.error("ERR Invalid command specified");
                     return;
                   }
                   if (!CommandTable::check_arity(*spec, cmd.size())) {
                     out.error("ERR wrong number of arguments for 'command|getkeys' command");
                     return;
                   }
                   if (spec->first_key <= 0) {
                     out.error("ERR The command has no key arguments");
                     return;
                   }
                   const auto argc = static_cast<int>(cmd.size());
                   const int last = spec->last_key < 0 ? argc + spec->last_key : spec->last_key;
                   const int step = std::max(spec->key_step, 1);
                   std::vector<std::string_view> keys;
                   for (int i = spec->first_key; i <= last && i < argc; i += step)
                     keys.push_back(cmd[i]);
                   out.array(keys.size());
                   for (std::string_view k : keys) out.bulk(k);
                 });
  add_subcommand(command, "help", 2, kCmdLoading | kCmdStale,
                 "Show helpful text about the different subcommands",
                 [](ClientContext&, Args, resp::Writer& out) {
                   help_reply(out, "COMMAND",
                              {
                                  "(no subcommand)",
                                  "    Return details about all commands.",
                                  "COUNT",
                                  "    Return the total number of commands in this server.",
                                  "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN "
                                  "<pattern>)]",
                                  "    Return a list of all commands in this server.",
                                  "INFO [<command-name> ...]",
                                  "    Return details about multiple commands.",
                                  "    If no command names are given, documentation details for "
                                  "all",
                                  "    commands are returned.",
                                  "DOCS [<command-name> ...]",
                                  "    Return documentation details about multiple commands.",
                                  "    If no command names are given, documentation details for "
                                  "all",
                                  "    commands are returned.",
                                  "GETKEYS <full-command>",
                                  "    Return the keys from a full command.",
                              });
                 });
}

// ------------------------------------------------------------------------------ INFO

std::uint64_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

std::string executable_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::string section_server(const ServerState& s) {
  struct utsname name {};
  uname(&name);
  struct timeval tv {};
  gettimeofday(&tv, nullptr);
  const std::int64_t uptime = s.uptime_seconds();
  return fmt::format(
      "# Server\r\n"
      "redis_version:{}\r\n"
      "raftd_version:{}\r\n"
      "redis_git_sha1:00000000\r\n"
      "redis_git_dirty:0\r\n"
      "redis_build_id:0\r\n"
      "redis_mode:standalone\r\n"
      "os:{} {} {}\r\n"
      "arch_bits:{}\r\n"
      "multiplexing_api:epoll\r\n"
      "gcc_version:{}.{}.{}\r\n"
      "process_id:{}\r\n"
      "run_id:{}\r\n"
      "tcp_port:{}\r\n"
      "server_time_usec:{}\r\n"
      "uptime_in_seconds:{}\r\n"
      "uptime_in_days:{}\r\n"
      "hz:10\r\n"
      "executable:{}\r\n"
      "config_file:{}\r\n"
      "raftd_node_id:{}\r\n"
      "raftd_data_dir:{}\r\n",
      kRedisCompatVersion, version_string(), name.sysname, name.release, name.machine,
      sizeof(void*) * 8, __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__, getpid(), s.run_id,
      s.bound_port, static_cast<std::int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec, uptime,
      uptime / 86400, executable_path(), s.config.config_file, s.config.id, s.config.data_dir);
}

std::string section_clients(const ServerState& s) {
  std::size_t max_in = 0, max_out = 0;
  for (const auto& [id, client] : s.clients) {
    max_in = std::max(max_in, client->query_buffer_used() + client->query_buffer_free());
    max_out = std::max(max_out, client->output_buffer_used());
  }
  return fmt::format(
      "# Clients\r\n"
      "connected_clients:{}\r\n"
      "cluster_connections:0\r\n"
      "maxclients:{}\r\n"
      "client_recent_max_input_buffer:{}\r\n"
      "client_recent_max_output_buffer:{}\r\n"
      "blocked_clients:0\r\n"
      "tracking_clients:0\r\n"
      "clients_in_timeout_table:0\r\n",
      s.clients.size(), s.config.max_clients, max_in, max_out);
}

std::string section_memory(const ServerState& s) {
  const std::uint64_t used = heap_in_use();
  const std::uint64_t rss = resident_bytes();
  const KeyspaceStats ks = s.state_machine.keyspace().stats();
  return fmt::format(
      "# Memory\r\n"
      "used_memory:{}\r\n"
      "used_memory_human:{}\r\n"
      "used_memory_rss:{}\r\n"
      "used_memory_rss_human:{}\r\n"
      "used_memory_dataset:{}\r\n"
      "used_memory_dataset_human:{}\r\n"
      "maxmemory:0\r\n"
      "maxmemory_human:0B\r\n"
      "maxmemory_policy:noeviction\r\n"
      "mem_allocator:libc\r\n",
      used, bytes_to_human(used), rss, bytes_to_human(rss), ks.used_bytes,
      bytes_to_human(ks.used_bytes));
}

std::string section_persistence(const ServerState&) {
  // The Raft log (next issues) is the persistence; there is no RDB or AOF.
  return "# Persistence\r\n"
         "loading:0\r\n"
         "rdb_bgsave_in_progress:0\r\n"
         "aof_enabled:0\r\n"
         "aof_rewrite_in_progress:0\r\n";
}

std::string section_stats(const ServerState& s) {
  const KeyspaceStats ks = s.state_machine.keyspace().stats();
  const ServerStats& st = s.stats;
  return fmt::format(
      "# Stats\r\n"
      "total_connections_received:{}\r\n"
      "total_commands_processed:{}\r\n"
      "instantaneous_ops_per_sec:{}\r\n"
      "total_net_input_bytes:{}\r\n"
      "total_net_output_bytes:{}\r\n"
      "rejected_connections:{}\r\n"
      "expired_keys:{}\r\n"
      "evicted_keys:0\r\n"
      "keyspace_hits:{}\r\n"
      "keyspace_misses:{}\r\n"
      "total_error_replies:{}\r\n"
      "total_reads_processed:{}\r\n"
      "total_writes_processed:{}\r\n"
      "client_query_buffer_limit_disconnections:{}\r\n",
      st.total_connections_received, st.total_commands_processed, s.ops_per_sec.per_second(),
      st.total_net_input_bytes, st.total_net_output_bytes, st.rejected_connections, ks.expired_keys,
      ks.hits, ks.misses, st.total_error_replies, st.total_reads_processed,
      st.total_writes_processed, st.client_query_buffer_limit_disconnections);
}

std::string section_replication(const ServerState&) {
  return "# Replication\r\n"
         "role:master\r\n"
         "connected_slaves:0\r\n";
}

std::string section_cpu(const ServerState&) {
  struct rusage self {};
  getrusage(RUSAGE_SELF, &self);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return fmt::format(
      "# CPU\r\n"
      "used_cpu_sys:{:.6f}\r\n"
      "used_cpu_user:{:.6f}\r\n",
      secs(self.ru_stime), secs(self.ru_utime));
}

std::string section_keyspace(const ServerState& s) {
  const KeyspaceStats ks = s.state_machine.keyspace().stats();
  std::string text = "# Keyspace\r\n";
  if (ks.keys > 0) text += fmt::format("db0:keys={},expires={},avg_ttl=0\r\n", ks.keys, ks.expires);
  return text;
}

std::string section_raft(const ServerState& s) {
  std::string text;
  if (s.proposer != nullptr) s.proposer->info(text);
  return text;
}

struct InfoSection {
  std::string_view name;
  std::string (*render)(const ServerState&);
  bool in_default;
};

constexpr InfoSection kInfoSections[] = {
    {"server", section_server, true},     {"clients", section_clients, true},
    {"memory", section_memory, true},     {"persistence", section_persistence, true},
    {"stats", section_stats, true},       {"replication", section_replication, true},
    {"cpu", section_cpu, true},           {"raft", section_raft, true},
    {"keyspace", section_keyspace, true},
};

void info_command(ClientContext& c, Args args, resp::Writer& out) {
  std::set<std::string_view> wanted;
  bool all = false;
  if (args.size() == 1) {
    for (const InfoSection& s : kInfoSections) {
      if (s.in_default) wanted.insert(s.name);
    }
  }
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (iequals(args[i], "all") || iequals(args[i], "everything")) {
      all = true;
    } else if (iequals(args[i], "default")) {
      for (const InfoSection& s : kInfoSections) {
        if (s.in_default) wanted.insert(s.name);
      }
    } else {
      for (const InfoSection& s : kInfoSections) {
        if (iequals(args[i], s.name)) wanted.insert(s.name);
      }
    }
  }
  std::string text;
  for (const InfoSection& s : kInfoSections) {
    if (!all && !wanted.count(s.name)) continue;
    std::string section = s.render(c.server());
    if (section.empty()) continue;
    if (!text.empty()) text += "\r\n";
    text += section;
  }
  out.bulk(text);
}

// ------------------------------------------------------------------------------ CONFIG

void config_command(CommandSpec& config) {
  config.summary = "A container for server configuration commands";
  add_subcommand(config, "get", -3, kCmdAdmin | kCmdLoading | kCmdStale,
                 "Get the values of configuration parameters",
                 [](ClientContext& c, Args args, resp::Writer& out) {
                   std::vector<const Option*> matched;
                   for (std::size_t i = 2; i < args.size(); ++i) {
                     for (const Option& o : options()) {
                       if (!(o.where & Option::kConfigCommand)) continue;
                       if (!glob_match(args[i], o.name, true)) continue;
                       if (std::find(matched.begin(), matched.end(), &o) == matched.end()) {
                         matched.push_back(&o);
                       }
                     }
                   }
                   out.array(matched.size() * 2);
                   for (const Option* o : matched) {
                     out.bulk(o->name);
                     out.bulk(o->get(c.server().config));
                   }
                 });
  add_subcommand(
      config, "set", -4, kCmdAdmin | kCmdLoading | kCmdStale,
      "Set configuration parameters to the given values",
      [](ClientContext& c, Args args, resp::Writer& out) {
        if (args.size() % 2 != 0) {
          out.error(wrong_arity_error("config|set"));
          return;
        }
        // All or nothing, as Redis: validate every pair on a copy, then swap it in and let
        // each changed option take effect.
        Config updated = c.server().config;
        std::vector<const Option*> changed;
        for (std::size_t i = 2; i < args.size(); i += 2) {
          const Option* o = find_option(args[i]);
          if (o == nullptr || !(o->where & Option::kConfigCommand)) {
            out.error(fmt::format("ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                                  args[i]));
            return;
          }
          Status status;
          if (std::find(changed.begin(), changed.end(), o) != changed.end()) {
            status = Status::error("duplicate parameter");
          } else if (!o->live || o->set == nullptr) {
            status = Status::error("can't set immutable config");
          } else {
            status = o->set(updated, args[i + 1]);
          }
          if (status) status = check_config(updated);
          if (!status) {
            out.error(fmt::format("ERR CONFIG SET failed (possibly related to argument '{}') - {}",
                                  args[i], status.message()));
            return;
          }
          changed.push_back(o);
        }
        c.server().config = std::move(updated);
        for (const Option* o : changed) {
          if (o->on_change != nullptr) o->on_change(c.server());
        }
        out.ok();
      });
  add_subcommand(config, "resetstat", 2, kCmdAdmin | kCmdLoading | kCmdStale,
                 "Reset the stats returned by INFO", [](ClientContext& c, Args, resp::Writer& out) {
                   c.server().stats = ServerStats{};
                   out.ok();
                 });
  add_subcommand(config, "rewrite", 2, kCmdAdmin | kCmdLoading | kCmdStale,
                 "Rewrite the configuration file with the in memory configuration",
                 [](ClientContext& c, Args, resp::Writer& out) {
                   if (Status s = rewrite_config_file(c.server().config); !s) {
                     out.error("ERR " + s.message());
                     return;
                   }
                   log::info("CONFIG REWRITE wrote {}", c.server().config.config_file);
                   out.ok();
                 });
  add_subcommand(config, "help", 2, kCmdLoading | kCmdStale,
                 "Show helpful text about the different subcommands",
                 [](ClientContext&, Args, resp::Writer& out) {
                   help_reply(out, "CONFIG",
                              {
                                  "GET <pattern>",
                                  "    Return parameters matching the glob-like <pattern> and "
                                  "their values.",
                                  "SET <directive> <value>",
                                  "    Set the configuration <directive> to <value>.",
                                  "RESETSTAT",
                                  "    Reset statistics reported by the INFO command.",
                                  "REWRITE",
                                  "    Rewrite the configuration file.",
                              });
                 });
}

// ------------------------------------------------------------------------------ the rest

void hello_command(ClientContext& c, Args args, resp::Writer& out) {
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

void add_or_die(CommandTable& table, CommandSpec spec) {
  const std::string name = spec.name;
  if (!table.add(std::move(spec))) {
    log::error("command '{}' is registered twice", name);
    std::abort();
  }
}

}  // namespace

void register_connection_commands(CommandTable& table) {
  add_or_die(table, connection_row("ping", -1, kCmdFast | kCmdStale, "Ping the server",
                                   [](ClientContext&, Args args, resp::Writer& out) {
                                     if (args.size() > 2) {
                                       out.error(wrong_arity_error("ping"));
                                     } else if (args.size() == 2) {
                                       out.bulk(args[1]);
                                     } else {
                                       out.simple("PONG");
                                     }
                                   }));
  add_or_die(table, connection_row(
                        "echo", 2, kCmdFast | kCmdStale, "Echo the given string",
                        [](ClientContext&, Args args, resp::Writer& out) { out.bulk(args[1]); }));
  add_or_die(table,
             connection_row("quit", -1, kCmdFast | kCmdLoading | kCmdStale, "Close the connection",
                            [](ClientContext& c, Args, resp::Writer& out) {
                              out.ok();
                              c.close_after_reply();
                            }));
  add_or_die(table, connection_row("hello", -1, kCmdFast | kCmdLoading | kCmdStale,
                                   "Handshake with Redis", hello_command));
  add_or_die(
      table,
      connection_row("auth", -2, kCmdFast | kCmdLoading | kCmdStale, "Authenticate to the server",
                     [](ClientContext&, Args args, resp::Writer& out) {
                       if (args.size() > 3) {
                         out.error("ERR syntax error");
                       } else if (args.size() == 2) {
                         out.error(
                             "ERR AUTH <password> called without any password configured for "
                             "the default user. Are you sure your configuration is correct?");
                       } else if (args[1] == "default") {
                         out.ok();
                       } else {
                         out.error("WRONGPASS invalid username-password pair or user is disabled.");
                       }
                     }));
  add_or_die(table,
             connection_row("select", 2, kCmdFast | kCmdLoading | kCmdStale,
                            "Change the selected database for the current connection",
                            [](ClientContext&, Args args, resp::Writer& out) {
                              std::int64_t id = 0;
                              if (!parse_int64(args[1], id)) {
                                out.error("ERR value is not an integer or out of range");
                              } else if (id < INT32_MIN || id > INT32_MAX) {
                                out.error(
                                    "ERR value is out of range, value must between -2147483648 and "
                                    "2147483647");
                              } else if (id != 0) {
                                // One keyspace: it is what the Raft log replicates.
                                out.error("ERR DB index is out of range");
                              } else {
                                out.ok();
                              }
                            }));
  add_or_die(table, connection_row("time", 1, kCmdFast | kCmdLoading | kCmdStale,
                                   "Return the current server time",
                                   [](ClientContext&, Args, resp::Writer& out) {
                                     struct timeval tv {};
                                     gettimeofday(&tv, nullptr);
                                     out.array(2);
                                     out.bulk(std::to_string(tv.tv_sec));
                                     out.bulk(std::to_string(tv.tv_usec));
                                   }));
  add_or_die(table,
             connection_row("info", -1, kCmdLoading | kCmdStale,
                            "Get information and statistics about the server", info_command));
  add_or_die(table, connection_row("checkpoint", 1, kCmdAdmin | kCmdDeferred,
                                   "Snapshot the state machine now and compact the log up to it "
                                   "(replies once the snapshot is on disk)",
                                   [](ClientContext& c, Args, resp::Writer&) {
                                     Proposer::Completion done = c.defer_reply();
                                     if (c.server().proposer == nullptr) {
                                       done("-ERR this node has no log to checkpoint\r\n");
                                       return;
                                     }
                                     c.server().proposer->checkpoint(std::move(done));
                                   }));
  if (table.find("dbsize") == nullptr) {
    add_or_die(table, connection_row("dbsize", 1, kCmdFast,
                                     "Return the number of keys in the selected database",
                                     [](ClientContext& c, Args, resp::Writer& out) {
                                       out.integer(static_cast<std::int64_t>(
                                           c.server().state_machine.keyspace().size()));
                                     }));
  }

  CommandSpec client = connection_row("client", -2, 0, "", nullptr);
  client_command(client);
  add_or_die(table, std::move(client));

  CommandSpec command = connection_row("command", -1, kCmdLoading | kCmdStale, "", nullptr);
  command_command(command);
  add_or_die(table, std::move(command));

  CommandSpec config = connection_row("config", -2, 0, "", nullptr);
  config_command(config);
  add_or_die(table, std::move(config));
}

}  // namespace raftd
