#include "server/keyspace/state_machine.h"

#include <fmt/core.h>

#include <cstdlib>
#include <vector>

#include "server/keyspace/kv_commands.h"

namespace raftd {

namespace {

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  return out;
}

}  // namespace

bool prepare_write(const CommandSpec& spec, Args args, std::int64_t now_ms, std::string& entry,
                   resp::Writer& out) {
  if (!spec.prepare) {
    encode_entry(now_ms, args, entry);
    return true;
  }
  std::vector<std::string> log_args;
  if (!spec.prepare(args, now_ms, log_args, out)) return false;
  if (log_args.empty()) {
    encode_entry(now_ms, args, entry);
  } else {
    encode_entry(now_ms, std::span<const std::string>(log_args), entry);
  }
  return true;
}

std::string make_reap_entry(std::int64_t now_ms, std::span<const std::string> keys) {
  std::vector<std::string_view> args;
  args.reserve(keys.size() + 1);
  args.push_back(kReapExpiredCommand);
  for (const auto& k : keys) args.push_back(k);
  std::string entry;
  encode_entry(now_ms, args, entry);
  return entry;
}

StateMachine::StateMachine(const CommandTable& table) : table_(table) {}

Status StateMachine::decode(std::string_view entry_data, const CommandSpec*& spec) {
  const DecodeStatus status = decode_entry(entry_data, decoded_);
  if (status != DecodeStatus::kOk) {
    return Status::error(fmt::format("{} ({} bytes)", to_string(status), entry_data.size()));
  }
  const Args args(decoded_.args);
  spec = table_.find(args[0]);
  if (spec == nullptr) {
    return Status::error(
        fmt::format("unknown command '{}' (a plugin loaded on the leader but not on this node?)",
                    printable(args[0])));
  }
  if ((spec->flags & kCmdWrite) == 0 || !spec->write) {
    return Status::error(fmt::format("'{}' is not a write command here", spec->name));
  }
  if (!CommandTable::check_arity(*spec, args.size())) {
    return Status::error(fmt::format("'{}' with {} arguments does not fit its arity {} here",
                                     spec->name, args.size(), spec->arity));
  }
  return Status::ok();
}

Status StateMachine::check(std::string_view entry_data) {
  if (entry_data.empty()) return Status::ok();
  const CommandSpec* spec = nullptr;
  return decode(entry_data, spec);
}

Status StateMachine::apply(std::string_view entry_data, std::string& reply) {
  reply.clear();
  if (entry_data.empty()) return Status::ok();
  const CommandSpec* spec = nullptr;
  if (Status st = decode(entry_data, spec); !st) return st;
  resp::Writer out(reply);
  spec->write(keyspace_, Args(decoded_.args), decoded_.timestamp_ms, out);
  return Status::ok();
}

void StateMachine::read(const CommandSpec& spec, Args args, std::int64_t now_ms,
                        resp::Writer& out) const {
  spec.read(keyspace_, args, now_ms, out);
}

}  // namespace raftd
