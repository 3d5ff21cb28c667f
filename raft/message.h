// Messages exchanged between Raft peers. The core produces and consumes them; the host
// serialises them (server/ owns the wire format) and never interprets their fields.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "raft/types.h"

namespace raft {

enum class MessageType : std::uint8_t {
  kPreVote = 0,  ///< thesis 9.6: would you vote for me? (does not change anyone's term)
  kPreVoteResp = 1,
  kVote = 2,  ///< RequestVote; index/log_term = candidate's last log index/term
  kVoteResp = 3,
  kAppend = 4,      ///< AppendEntries; index/log_term = prev log index/term
  kAppendResp = 5,  ///< index = last index matched (accept) or the rejected prev index (reject)
  kHeartbeat = 6,   ///< empty append carrying commit (min(match, commit)) and read context
  kHeartbeatResp = 7,
  kSnapshot = 8,  ///< one InstallSnapshot chunk
  kSnapshotResp =
      9,  ///< acknowledges a chunk (index = snapshot index, snapshot_offset = next wanted)
  kTimeoutNow = 10,  ///< thesis 3.10: leadership transfer, start an election now
  kReadIndex = 11,   ///< follower -> leader: give me a confirmed read index for `context`
  kReadIndexResp = 12,
};

const char* to_string(MessageType t);

struct Message {
  MessageType type = MessageType::kAppend;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;

  Term log_term = 0;  ///< see MessageType for the meaning per type
  Index index = 0;
  std::vector<Entry> entries;
  Index commit = 0;

  bool reject = false;
  /// AppendResp reject: the follower's largest index <= min(prev index, its last index) whose
  /// term is <= log_term of the rejected Append (etcd findConflictByTerm); the leader resumes
  /// from its own last entry of term <= hint_term at or below it.
  Index reject_hint = 0;
  Term hint_term = 0;  ///< AppendResp reject: the term of the entry at reject_hint (0 if unknown)

  /// ReadIndex / heartbeat request context; for kVote/kPreVote "transfer" marks a
  /// leadership-transfer campaign, which may bypass leader stickiness.
  std::string context;

  // InstallSnapshot chunk (kSnapshot) and its ack (kSnapshotResp).
  SnapshotMeta snapshot;
  std::uint64_t snapshot_offset = 0;
  std::uint64_t snapshot_size = 0;  ///< total body size
  std::string snapshot_data;
  bool snapshot_done = false;  ///< last chunk

  bool operator==(const Message&) const = default;
};

/// Why `m` cannot be a message a correct peer sent, or nullptr: a term or index beyond
/// kMaxTerm / kMaxIndex, entries that are not consecutive from index + 1 or whose terms
/// decrease, fall below the previous entry's term or exceed the message's term, a log term
/// above the message's term, a snapshot chunk that runs past the snapshot's size. The core
/// ignores such messages (logging why) before any arithmetic on their numbers.
const char* message_problem(const Message& m);

}  // namespace raft
