// The one admission gate every command passes, whether a client of this node sent it or a
// follower forwarded it to the leader: the row it names (case-insensitively; a container's
// subcommand), internal rows refused, arity, and for a write the size of its arguments against
// max-entry-size. Access checks (AUTH/ACL) go here too, so they exist once. What happens after
// admission differs: the dispatcher runs connection and read handlers or hands a write to the
// proposer; the node host prepares and proposes a forwarded write.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "server/commands/command_table.h"
#include "server/status.h"

namespace raftd {

struct Config;

class AdmissionGate {
 public:
  /// `config` holds the live option values (ServerState::config); it must outlive the gate.
  AdmissionGate(const CommandTable& table, const Config& config) : table_(table), config_(config) {}

  /// The row `args` may run as, or the error reply in Redis's words (without the leading '-':
  /// "ERR unknown command 'x', with args beginning with: ").
  Result<const CommandSpec*> admit(Args args);
  /// True if admit() would take `args` as a client-callable write (the name alone decides).
  bool is_write(std::string_view name);

 private:
  /// CommandTable::find lower-cases and searches an ordered map; clients send the same few
  /// names over and over, so remember them by their exact bytes. Rows never move or vanish
  /// once the table is built, so an entry never goes stale.
  const CommandSpec* lookup(std::string_view name);

  struct CacheEntry {
    char name[16];
    std::uint8_t size = 0;  // 0: empty
    const CommandSpec* spec = nullptr;
  };

  const CommandTable& table_;
  const Config& config_;
  std::array<CacheEntry, 64> cache_{};
};

}  // namespace raftd
