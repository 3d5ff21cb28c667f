// The replicated state machine: the keyspace plus the apply function that runs committed log
// entries through the command table. It knows nothing of Raft: the host feeds it committed
// entries in index order and sends the leader's apply result back to the client.
//
// The daemon's write path:   prepare_write() -> propose the entry -> (committed) apply()
// (single node: apply at once). The read path: read() against applied state, local clock.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "resp/writer.h"
#include "server/commands/command_table.h"
#include "server/keyspace/entry.h"
#include "server/keyspace/keyspace.h"
#include "server/status.h"

namespace raftd {

/// Runs `spec`'s prepare step (syntax checks, relative -> absolute times, with `now_ms` the
/// proposer's clock) and encodes the log entry stamped with `now_ms`. On success appends the
/// entry to `entry` and returns true. On a syntax error writes the error reply to `out` and
/// returns false: nothing is proposed. `spec` must be a kCmdWrite row and args must have passed
/// CommandTable::check_arity.
bool prepare_write(const CommandSpec& spec, Args args, std::int64_t now_ms, std::string& entry,
                   resp::Writer& out);

/// The entry the leader proposes to delete keys it found expired (REAPEXPIRED key...).
std::string make_reap_entry(std::int64_t now_ms, std::span<const std::string> keys);

class StateMachine {
 public:
  /// `table` must outlive the state machine (it holds built-ins and plugin commands).
  explicit StateMachine(const CommandTable& table);

  /// Ok if this node can apply `entry_data`; otherwise the reason: bytes that do not decode, a
  /// command this node does not know (e.g. a plugin missing here), a non-write command, or an
  /// arity mismatch (a plugin built differently here). A follower checks every entry before it
  /// acknowledges it, so it never holds one it could not apply.
  Status check(std::string_view entry_data);

  /// Applies one committed entry and replaces the content of `reply` with the RESP reply
  /// (meaningful on the proposing node only). An empty entry (the leader's no-op at the start of
  /// its term) changes nothing and leaves `reply` empty.
  ///
  /// An entry that check() refuses changes nothing and returns the reason: the other nodes
  /// applied it, so skipping it would make this replica differ from them, and the host stops.
  Status apply(std::string_view entry_data, std::string& reply);

  /// Runs a read command (a kCmdReadonly row) against applied state, hiding keys expired at
  /// `now_ms` (this node's clock).
  void read(const CommandSpec& spec, Args args, std::int64_t now_ms, resp::Writer& out) const;

  Keyspace& keyspace() { return keyspace_; }
  const Keyspace& keyspace() const { return keyspace_; }
  const CommandTable& table() const { return table_; }

 private:
  const CommandTable& table_;
  Keyspace keyspace_;
  /// Decodes `entry_data` into decoded_ and finds its row; the reason when it cannot apply.
  Status decode(std::string_view entry_data, const CommandSpec*& spec);

  DecodedEntry decoded_;  // reused: no allocation per apply once warm
};

}  // namespace raftd
