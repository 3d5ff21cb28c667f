// CONFIG GET/SET/RESETSTAT/REWRITE over the option table (server/config.h): every option is
// one row there, so these handlers know no option by name.

#include "server/config.h"

#include <fmt/core.h>

#include <algorithm>
#include <string>
#include <vector>

#include "server/client/client_context.h"
#include "server/commands/families.h"
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

void config_get(ClientContext& c, Args args, resp::Writer& out) {
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
}

void config_set(ClientContext& c, Args args, resp::Writer& out) {
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
      out.error(
          fmt::format("ERR Unknown option or number of arguments for CONFIG SET - '{}'", args[i]));
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
}

void config_resetstat(ClientContext& c, Args, resp::Writer& out) {
  c.server().stats = ServerStats{};
  out.ok();
}

void config_rewrite(ClientContext& c, Args, resp::Writer& out) {
  if (Status s = rewrite_config_file(c.server().config); !s) {
    out.error("ERR " + s.message());
    return;
  }
  log::info("CONFIG REWRITE wrote {}", c.server().config.config_file);
  out.ok();
}

void config_help(ClientContext&, Args, resp::Writer& out) {
  help_reply(out, "CONFIG",
             {
                 "GET <pattern>",
                 "    Return parameters matching the glob-like <pattern> and their values.",
                 "SET <directive> <value>",
                 "    Set the configuration <directive> to <value>.",
                 "RESETSTAT",
                 "    Reset statistics reported by the INFO command.",
                 "REWRITE",
                 "    Rewrite the configuration file.",
             });
}

}  // namespace

void register_config_commands(CommandTable& table) {
  table.add(
      CommandRow{.name = "config",
                 .arity = -2,
                 .group = CommandGroup::kServer,
                 .summary = "A container for server configuration commands",
                 .subcommands = {
                     {.name = "get",
                      .arity = -3,
                      .flags = "admin noscript loading stale",
                      .group = CommandGroup::kServer,
                      .summary = "Get the values of configuration parameters",
                      .connection = config_get},
                     {.name = "set",
                      .arity = -4,
                      .flags = "admin noscript loading stale",
                      .group = CommandGroup::kServer,
                      .summary = "Set configuration parameters to the given values",
                      .connection = config_set},
                     {.name = "resetstat",
                      .arity = 2,
                      .flags = "admin noscript loading stale",
                      .group = CommandGroup::kServer,
                      .summary = "Reset the stats returned by INFO",
                      .connection = config_resetstat},
                     {.name = "rewrite",
                      .arity = 2,
                      .flags = "admin noscript loading stale",
                      .group = CommandGroup::kServer,
                      .summary = "Rewrite the configuration file with the in memory configuration",
                      .connection = config_rewrite},
                     {.name = "help",
                      .arity = 2,
                      .flags = "loading stale",
                      .group = CommandGroup::kServer,
                      .summary = "Show helpful text about the different subcommands",
                      .connection = config_help},
                 }});
}

}  // namespace raftd
