// The admission gate (admission.h): command lookup with its cache, arity, entry size.
#include "server/client/admission.h"

#include <fmt/core.h>

#include "server/config.h"
#include "server/text.h"

namespace raftd {

const CommandSpec* AdmissionGate::lookup(std::string_view name) {
  if (name.empty() || name.size() > sizeof(CacheEntry::name)) return table_.find(name);
  const std::size_t slot = (name.size() * 31 + static_cast<unsigned char>(name.front()) * 7 +
                            static_cast<unsigned char>(name.back())) %
                           cache_.size();
  CacheEntry& e = cache_[slot];
  if (e.size == name.size() && std::memcmp(e.name, name.data(), name.size()) == 0) return e.spec;
  const CommandSpec* spec = table_.find(name);
  if (spec != nullptr) {
    std::memcpy(e.name, name.data(), name.size());
    e.size = static_cast<std::uint8_t>(name.size());
    e.spec = spec;
  }
  return spec;
}

bool AdmissionGate::is_write(std::string_view name) {
  const CommandSpec* spec = lookup(name);
  return spec != nullptr && (spec->flags & kCmdWrite) && !(spec->flags & kCmdInternal);
}

Result<const CommandSpec*> AdmissionGate::admit(Args args) {
  if (args.empty()) return Status::error("ERR empty command");
  // As Redis's lookupCommand: a container command with at least one argument names a
  // subcommand; the container alone is a command of its own (COMMAND, or an arity error).
  const CommandSpec* spec = lookup(args[0]);
  // Internal rows (REAPEXPIRED) are proposed by the node itself, never by clients.
  if (spec == nullptr || (spec->flags & kCmdInternal)) {
    return Status::error(unknown_command_error(args));
  }
  if (!spec->subcommands.empty() && args.size() >= 2) {
    auto it = spec->subcommands.find(ascii_lower(args[1]));
    if (it == spec->subcommands.end()) {
      return Status::error(unknown_subcommand_error(spec->name, args[1]));
    }
    spec = &it->second;
  }
  if (!CommandTable::check_arity(*spec, args.size())) {
    return Status::error(wrong_arity_error(spec->name));
  }
  if (spec->flags & kCmdWrite) {
    // Refused before anything is copied, proposed or forwarded: a node copies, syncs and
    // replicates an entry whole, and its other clients wait meanwhile.
    std::size_t bytes = 0;
    for (std::string_view a : args) bytes += a.size();
    if (bytes > config_.max_entry_size) {
      return Status::error(
          fmt::format("ERR write too large to replicate: its arguments take {} bytes, more than "
                      "max-entry-size ({} bytes)",
                      bytes, config_.max_entry_size));
    }
  }
  return spec;
}

}  // namespace raftd
