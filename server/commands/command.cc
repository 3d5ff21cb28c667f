// COMMAND: introspection of the command table, read from each row (arity, flags, key positions,
// group, ACL categories, summary), in Redis 7's layouts.

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

/// One row of COMMAND / COMMAND INFO, in Redis 7's ten-field layout.
void write_command_row(resp::Writer& out, const CommandSpec& spec) {
  out.array(10);
  out.bulk(spec.name);
  out.integer(spec.arity);
  const auto flags = flag_words(spec.flags);
  out.array(flags.size());
  for (std::string_view f : flags) out.simple(f);
  out.integer(spec.first_key);
  out.integer(spec.last_key);
  out.integer(spec.key_step);
  const auto cats = category_words(spec.acl_categories);
  out.array(cats.size());
  for (std::string_view cat : cats) out.simple(cat);
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
  out.bulk(group_name(spec.group));
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

void command_all(ClientContext& c, Args, resp::Writer& out) {
  const auto rows = public_commands(c.server().commands);
  out.array(rows.size());
  for (const CommandSpec* spec : rows) write_command_row(out, *spec);
}

void command_count(ClientContext& c, Args, resp::Writer& out) {
  out.integer(static_cast<std::int64_t>(public_commands(c.server().commands).size()));
}

void command_info(ClientContext& c, Args args, resp::Writer& out) {
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
}

void command_docs(ClientContext& c, Args args, resp::Writer& out) {
  const CommandTable& table = c.server().commands;
  std::vector<const CommandSpec*> found;
  if (args.size() == 2) {
    found = public_commands(table);
  } else {
    for (std::size_t i = 2; i < args.size(); ++i) {
      if (const CommandSpec* spec = find_full_name(table, args[i])) found.push_back(spec);
    }
  }
  out.array(found.size() * 2);
  for (const CommandSpec* spec : found) {
    out.bulk(spec->name);
    write_command_docs(out, *spec);
  }
}

void command_list(ClientContext& c, Args args, resp::Writer& out) {
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
      case Filter::kAclCat:
        keep = (spec.acl_categories & parse_category(value)) != 0 &&
               !(!value.empty() && value.front() == '@');
        break;
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
}

void command_getkeys(ClientContext& c, Args args, resp::Writer& out) {
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
  for (int i = spec->first_key; i <= last && i < argc; i += step) keys.push_back(cmd[i]);
  out.array(keys.size());
  for (std::string_view k : keys) out.bulk(k);
}

void command_help(ClientContext&, Args, resp::Writer& out) {
  help_reply(out, "COMMAND",
             {
                 "(no subcommand)",
                 "    Return details about all commands.",
                 "COUNT",
                 "    Return the total number of commands in this server.",
                 "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
                 "    Return a list of all commands in this server.",
                 "INFO [<command-name> ...]",
                 "    Return details about multiple commands.",
                 "    If no command names are given, documentation details for all",
                 "    commands are returned.",
                 "DOCS [<command-name> ...]",
                 "    Return documentation details about multiple commands.",
                 "    If no command names are given, documentation details for all",
                 "    commands are returned.",
                 "GETKEYS <full-command>",
                 "    Return the keys from a full command.",
             });
}

}  // namespace

void register_command_commands(CommandTable& table) {
  table.add(CommandRow{
      .name = "command",
      .arity = -1,
      .flags = "loading stale",
      .group = CommandGroup::kServer,
      .summary = "Get array of Redis command details",
      .acl = "@connection",
      .connection = command_all,
      .subcommands = {
          {.name = "count",
           .arity = 2,
           .flags = "loading stale",
           .group = CommandGroup::kServer,
           .summary = "Get total number of Redis commands",
           .acl = "@connection",
           .connection = command_count},
          {.name = "info",
           .arity = -2,
           .flags = "loading stale",
           .group = CommandGroup::kServer,
           .summary =
               "Get array of specific Redis command details, or all when no argument is given",
           .acl = "@connection",
           .connection = command_info},
          {.name = "docs",
           .arity = -2,
           .flags = "loading stale",
           .group = CommandGroup::kServer,
           .summary = "Get array of specific Redis command documentation",
           .acl = "@connection",
           .connection = command_docs},
          {.name = "list",
           .arity = -2,
           .flags = "loading stale",
           .group = CommandGroup::kServer,
           .summary = "Get an array of Redis command names",
           .acl = "@connection",
           .connection = command_list},
          {.name = "getkeys",
           .arity = -4,
           .flags = "loading stale",
           .group = CommandGroup::kServer,
           .summary = "Extract keys given a full Redis command",
           .acl = "@connection",
           .connection = command_getkeys},
          {.name = "help",
           .arity = 2,
           .flags = "loading stale",
           .group = CommandGroup::kServer,
           .summary = "Show helpful text about the different subcommands",
           .acl = "@connection",
           .connection = command_help},
      }});
}

}  // namespace raftd
