// Drives commands exactly as the daemon does: table lookup, arity check, then for a write
// prepare -> encode -> apply (single node: apply at once), for a read the read handler. The
// clock is explicit: `now` is both the proposer's clock stamped on entries and the reader's.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "resp/writer.h"
#include "server/commands/command_table.h"
#include "server/keyspace/keyspace.h"
#include "server/keyspace/kv_commands.h"
#include "server/keyspace/state_machine.h"

namespace raftd::test {

inline constexpr std::int64_t kT0 = 1'700'000'000'000;  // 2023-11-14, an arbitrary fixed "now"

class Harness {
 public:
  Harness() : sm_(table_) { register_kv_commands(table_); }

  std::string run(const std::vector<std::string>& args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    return run_views(views);
  }
  std::string run(std::initializer_list<std::string_view> args) {
    std::vector<std::string_view> views(args);
    return run_views(views);
  }

  std::string run_views(const std::vector<std::string_view>& args) {
    std::string reply;
    resp::Writer out(reply);
    const CommandSpec* spec = table_.find(args[0]);
    if (spec == nullptr) {
      out.error(unknown_command_error(args));
      return reply;
    }
    if (!CommandTable::check_arity(*spec, args.size())) {
      out.error(wrong_arity_error(spec->name));
      return reply;
    }
    if (spec->flags & kCmdWrite) {
      std::string entry;
      if (!prepare_write(*spec, args, now, entry, out)) return reply;
      entries.push_back(entry);
      const Status applied = sm_.apply(entry, reply);
      INFO(applied.message());
      REQUIRE(applied);
      return reply;
    }
    sm_.read(*spec, args, now, out);
    return reply;
  }

  Keyspace& keyspace() { return sm_.keyspace(); }
  StateMachine& state_machine() { return sm_; }
  const CommandTable& table() const { return table_; }

  std::int64_t now = kT0;
  std::vector<std::string> entries;  ///< every entry proposed, in order (for replay)

 private:
  CommandTable table_;
  StateMachine sm_;
};

/// Everything observable about a keyspace, in its deterministic order: type, expiry, value.
inline std::string dump(const Keyspace& ks) {
  std::string out;
  ks.for_each([&](std::string_view key, const Value& v) {
    out += key;
    out += v.has_expire() ? " @" + std::to_string(v.expire_at()) : std::string(" @-");
    if (v.is_string()) {
      out += " string=";
      out += v.str();
    } else {
      out += " hash={";
      v.hash().for_each([&](std::string_view f, std::string_view val) {
        out += f;
        out += ':';
        out += val;
        out += ',';
      });
      out += '}';
    }
    out += '\n';
  });
  return out;
}

}  // namespace raftd::test
