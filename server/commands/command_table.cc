#include "server/commands/command_table.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "server/text.h"

namespace raftd {

namespace {

// Redis formats these texts with printf "%s"/"%.*s", which stops at a NUL byte, and then maps
// CR/LF to spaces so the error stays one protocol line (addReplyErrorFormat).
std::string_view c_string_prefix(std::string_view s, std::size_t max) {
  s = s.substr(0, std::min(s.size(), max));
  const auto nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

struct Word {
  std::string_view word;
  std::uint32_t bit;
};

constexpr Word kFlagWords[] = {
    {"write", kCmdWrite},
    {"readonly", kCmdReadonly},
    {"denyoom", kCmdDenyOom},
    {"admin", kCmdAdmin},
    {"pubsub", kCmdPubsub},
    {"noscript", kCmdNoScript},
    {"blocking", kCmdBlocking},
    {"loading", kCmdLoading},
    {"stale", kCmdStale},
    {"skip_monitor", kCmdSkipMonitor},
    {"skip_slowlog", kCmdSkipSlowlog},
    {"fast", kCmdFast},
    {"no_auth", kCmdNoAuth},
    {"may_replicate", kCmdMayReplicate},
    {"no_mandatory_keys", kCmdNoMandatoryKeys},
    {"no_async_loading", kCmdNoAsyncLoading},
    {"no_multi", kCmdNoMulti},
    {"movablekeys", kCmdMovableKeys},
    {"allow_busy", kCmdAllowBusy},
    {"internal", kCmdInternal},
    {"deferred", kCmdDeferred},
};

constexpr Word kCategoryWords[] = {
    {"keyspace", kAclKeyspace},
    {"read", kAclRead},
    {"write", kAclWrite},
    {"set", kAclSet},
    {"sortedset", kAclSortedSet},
    {"list", kAclList},
    {"hash", kAclHash},
    {"string", kAclString},
    {"bitmap", kAclBitmap},
    {"hyperloglog", kAclHyperLogLog},
    {"geo", kAclGeo},
    {"stream", kAclStream},
    {"pubsub", kAclPubsub},
    {"admin", kAclAdmin},
    {"fast", kAclFast},
    {"slow", kAclSlow},
    {"blocking", kAclBlocking},
    {"dangerous", kAclDangerous},
    {"connection", kAclConnection},
    {"transaction", kAclTransaction},
    {"scripting", kAclScripting},
};

bool same_word(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return ascii_lower(x) == y; });
}

/// Calls f(word) for each space-separated word of `text`.
template <typename F>
void for_each_word(std::string_view text, F f) {
  while (!text.empty()) {
    const auto space = text.find(' ');
    if (space != 0) f(text.substr(0, space));
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
  }
}

/// The category a group implies (Redis's command JSON lists it for every command of the group).
std::uint32_t group_category(CommandGroup group) {
  switch (group) {
    case CommandGroup::kGeneric:
      return kAclKeyspace;
    case CommandGroup::kString:
      return kAclString;
    case CommandGroup::kList:
      return kAclList;
    case CommandGroup::kSet:
      return kAclSet;
    case CommandGroup::kSortedSet:
      return kAclSortedSet;
    case CommandGroup::kHash:
      return kAclHash;
    case CommandGroup::kPubsub:
      return kAclPubsub;
    case CommandGroup::kTransactions:
      return kAclTransaction;
    case CommandGroup::kConnection:
      return kAclConnection;
    case CommandGroup::kScripting:
      return kAclScripting;
    case CommandGroup::kHyperLogLog:
      return kAclHyperLogLog;
    case CommandGroup::kGeo:
      return kAclGeo;
    case CommandGroup::kStream:
      return kAclStream;
    case CommandGroup::kBitmap:
      return kAclBitmap;
    case CommandGroup::kServer:
    case CommandGroup::kCluster:
      return 0;
  }
  return 0;
}

/// Redis's setImplicitACLCategories.
std::uint32_t implied_categories(std::uint32_t flags) {
  std::uint32_t cats = 0;
  if (flags & kCmdWrite) cats |= kAclWrite;
  if (flags & kCmdReadonly) cats |= kAclRead;
  if (flags & kCmdAdmin) cats |= kAclAdmin | kAclDangerous;
  if (flags & kCmdPubsub) cats |= kAclPubsub;
  if (flags & kCmdFast) cats |= kAclFast;
  if (flags & kCmdBlocking) cats |= kAclBlocking;
  if (!(flags & kCmdFast)) cats |= kAclSlow;
  return cats;
}

/// Turns a row into the stored form; the error names the row.
Result<CommandSpec> build_spec(CommandRow&& row, const std::string& full_name) {
  CommandSpec spec;
  spec.name = full_name;
  if (spec.name.empty()) return Status::error("a command row without a name");
  for (char& c : spec.name) c = ascii_lower(c);
  const auto bad = [&](std::string_view why) {
    return Status::error(fmt::format("command '{}': {}", spec.name, why));
  };
  std::string unknown;
  for_each_word(row.flags, [&](std::string_view w) {
    for (const Word& f : kFlagWords) {
      if (same_word(w, f.word)) {
        spec.flags |= f.bit;
        return;
      }
    }
    unknown = std::string(w);
  });
  if (!unknown.empty()) return bad(fmt::format("unknown flag '{}'", unknown));
  for_each_word(row.acl, [&](std::string_view w) {
    const std::uint32_t cat = parse_category(w);
    if (cat == 0) unknown = std::string(w);
    spec.acl_categories |= cat;
  });
  if (!unknown.empty()) return bad(fmt::format("unknown ACL category '{}'", unknown));
  if (row.arity == 0) return bad("arity 0 (N exactly or -N at least, the name included)");

  const bool container = !row.subcommands.empty();
  const int handlers = (row.write ? 1 : 0) + (row.read ? 1 : 0) + (row.connection ? 1 : 0);
  if (container ? row.write || row.read || row.prepare : handlers != 1) {
    // A container may answer its bare form itself (COMMAND with no subcommand).
    return bad(container ? "a container's own handler can only be a connection handler"
                         : "needs exactly one handler");
  }
  if (container && !row.connection && row.arity > -2) {
    return bad("a container without a handler of its own needs a subcommand (arity -2 or less)");
  }
  if (row.connection) spec.flags |= kCmdConnection;
  if (!container) {
    if (bool(row.write) != bool(spec.flags & kCmdWrite) || (row.prepare && !row.write)) {
      return bad("a write handler goes with the 'write' flag, and only with it");
    }
    if (bool(row.read) != bool(spec.flags & kCmdReadonly)) {
      return bad("a read handler goes with the 'readonly' flag, and only with it");
    }
  }
  if ((spec.flags & kCmdDeferred) && !row.connection) {
    return bad("only connection commands answer later");
  }
  if (row.keys.first < 0 || (row.keys.first == 0) != (row.keys.step == 0)) {
    return bad("key positions need a first key and a step, or neither");
  }

  spec.arity = row.arity;
  spec.group = row.group;
  spec.acl_categories |=
      implied_categories(spec.flags) | (container ? 0 : group_category(row.group));
  spec.first_key = row.keys.first;
  spec.last_key = row.keys.last;
  spec.key_step = row.keys.step;
  spec.summary = std::string(row.summary);
  spec.prepare = std::move(row.prepare);
  spec.write = std::move(row.write);
  spec.read = std::move(row.read);
  spec.connection = std::move(row.connection);
  for (CommandRow& sub : row.subcommands) {
    std::string sub_name(sub.name);
    for (char& c : sub_name) c = ascii_lower(c);
    auto built = build_spec(std::move(sub), spec.name + "|" + sub_name);
    if (!built) return built.status();
    if (!spec.subcommands.emplace(sub_name, std::move(*built)).second) {
      return bad(fmt::format("subcommand '{}' declared twice", sub_name));
    }
  }
  return spec;
}

}  // namespace

std::string_view group_name(CommandGroup group) {
  switch (group) {
    case CommandGroup::kGeneric:
      return "generic";
    case CommandGroup::kString:
      return "string";
    case CommandGroup::kList:
      return "list";
    case CommandGroup::kSet:
      return "set";
    case CommandGroup::kSortedSet:
      return "sorted-set";
    case CommandGroup::kHash:
      return "hash";
    case CommandGroup::kPubsub:
      return "pubsub";
    case CommandGroup::kTransactions:
      return "transactions";
    case CommandGroup::kConnection:
      return "connection";
    case CommandGroup::kServer:
      return "server";
    case CommandGroup::kScripting:
      return "scripting";
    case CommandGroup::kHyperLogLog:
      return "hyperloglog";
    case CommandGroup::kCluster:
      return "cluster";
    case CommandGroup::kGeo:
      return "geo";
    case CommandGroup::kStream:
      return "stream";
    case CommandGroup::kBitmap:
      return "bitmap";
  }
  return "generic";
}

std::vector<std::string_view> flag_words(std::uint32_t flags) {
  std::vector<std::string_view> words;
  for (const Word& f : kFlagWords) {
    if ((flags & f.bit) && (f.bit & kCmdRedisFlags)) words.push_back(f.word);
  }
  return words;
}

std::vector<std::string_view> category_words(std::uint32_t categories) {
  static const auto kAt = [] {
    std::vector<std::string> at;
    for (const Word& c : kCategoryWords) at.push_back("@" + std::string(c.word));
    return at;
  }();
  std::vector<std::string_view> words;
  for (std::size_t i = 0; i < std::size(kCategoryWords); ++i) {
    if (categories & kCategoryWords[i].bit) words.push_back(kAt[i]);
  }
  return words;
}

std::uint32_t parse_category(std::string_view word) {
  if (!word.empty() && word.front() == '@') word.remove_prefix(1);
  for (const Word& c : kCategoryWords) {
    if (same_word(word, c.word)) return c.bit;
  }
  return 0;
}

Status CommandTable::try_add(CommandRow row) {
  const std::string name(row.name);
  auto spec = build_spec(std::move(row), name);
  if (!spec) return spec.status();
  const std::string key = spec->name;
  if (!commands_.emplace(key, std::move(*spec)).second) {
    return Status::error(fmt::format("command '{}' is registered twice", key));
  }
  return Status::ok();
}

void CommandTable::add(CommandRow row) {
  if (Status s = try_add(std::move(row)); !s) {
    fmt::print(stderr, "raftd: {}\n", s.message());
    std::abort();  // a built-in row is wrong: a bug, caught by every test run
  }
}

void CommandTable::add(std::vector<CommandRow> rows) {
  for (CommandRow& row : rows) add(std::move(row));
}

const CommandSpec* CommandTable::find(std::string_view name) const {
  char small[32];
  std::string big;
  std::string_view key;
  if (name.size() <= sizeof(small)) {  // the hot path: no allocation
    std::transform(name.begin(), name.end(), small, [](char c) { return ascii_lower(c); });
    key = std::string_view(small, name.size());
  } else {
    big = ascii_lower(name);
    key = big;
  }
  auto it = commands_.find(key);
  return it == commands_.end() ? nullptr : &it->second;
}

bool CommandTable::check_arity(const CommandSpec& spec, std::size_t argc) {
  const auto n = static_cast<long long>(argc);
  if (spec.arity > 0) return n == spec.arity;
  return n >= -static_cast<long long>(spec.arity);
}

std::string unknown_command_error(Args args) {
  // processCommand: the quoted args stop being added once 128 characters are collected, and
  // each one is cut to what still fits in 128.
  std::string quoted;
  for (std::size_t i = 1; i < args.size() && quoted.size() < 128; ++i) {
    const std::size_t room = 128 - quoted.size();
    quoted += '\'';
    quoted += c_string_prefix(args[i], room);
    quoted += "' ";
  }
  std::string_view name = args.empty() ? std::string_view() : args[0];
  return "ERR " + one_line(fmt::format("unknown command '{}', with args beginning with: {}",
                                       c_string_prefix(name, 128), quoted));
}

std::string wrong_arity_error(std::string_view name) {
  return fmt::format("ERR wrong number of arguments for '{}' command", name);
}

std::string unknown_subcommand_error(std::string_view parent, std::string_view sub) {
  const std::string upper = ascii_upper(c_string_prefix(parent, parent.size()));
  return "ERR " + one_line(fmt::format("unknown subcommand '{}'. Try {} HELP.",
                                       c_string_prefix(sub, 128), upper));
}

}  // namespace raftd
