#include "server/commands/command.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>

namespace raftd {

namespace {

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Redis formats these texts with printf "%s"/"%.*s", which stops at a NUL byte, and then maps
// CR/LF to spaces so the error stays one protocol line (addReplyErrorFormat).
std::string_view c_string_prefix(std::string_view s, std::size_t max) {
  s = s.substr(0, std::min(s.size(), max));
  const auto nul = s.find('\0');
  return nul == std::string_view::npos ? s : s.substr(0, nul);
}

std::string one_line(std::string s) {
  const auto first = s.find_first_not_of("\r\n");
  if (first == std::string::npos) return {};
  s.erase(0, first);
  s.erase(s.find_last_not_of("\r\n") + 1);
  std::replace(s.begin(), s.end(), '\r', ' ');
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

}  // namespace

bool CommandTable::add(CommandSpec spec) {
  std::string name = spec.name;
  std::transform(name.begin(), name.end(), name.begin(), lower);
  spec.name = name;
  return commands_.emplace(std::move(name), std::move(spec)).second;
}

const CommandSpec* CommandTable::find(std::string_view name) const {
  char small[32];
  std::string big;
  std::string_view key;
  if (name.size() <= sizeof(small)) {  // the hot path: no allocation
    std::transform(name.begin(), name.end(), small, lower);
    key = std::string_view(small, name.size());
  } else {
    big.assign(name);
    std::transform(big.begin(), big.end(), big.begin(), lower);
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
  std::string upper(c_string_prefix(parent, parent.size()));
  std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) {
    return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  });
  return "ERR " + one_line(fmt::format("unknown subcommand '{}'. Try {} HELP.",
                                       c_string_prefix(sub, 128), upper));
}

}  // namespace raftd
