// Encoding and pure helpers for the value types in types.h, message.h and raft.h.
#include "raft/types.h"

#include <algorithm>

#include "raft/message.h"
#include "raft/raft.h"

namespace raft {

namespace {

// Version byte of the conf-change encoding, so the format can grow without ambiguity.
// Version 1: the change alone. Version 2: the change, the resulting membership, then the
// membership it replaced.
constexpr std::uint8_t kConfChangeVersion = 1;
constexpr std::uint8_t kConfChangeEntryVersion = 2;
constexpr std::size_t kConfChangeHeader = 1 + 1 + 8 + 4;

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le(std::string_view data, std::size_t pos, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(data[pos + i])) << (8 * i);
  }
  return v;
}

void erase_sorted(std::vector<NodeId>& v, NodeId id) {
  auto it = std::lower_bound(v.begin(), v.end(), id);
  if (it != v.end() && *it == id) v.erase(it);
}

void insert_sorted(std::vector<NodeId>& v, NodeId id) {
  auto it = std::lower_bound(v.begin(), v.end(), id);
  if (it == v.end() || *it != id) v.insert(it, id);
}

}  // namespace

namespace {

std::string encode_with_version(const ConfChange& cc, std::uint8_t version) {
  std::string out;
  out.reserve(kConfChangeHeader + cc.context.size());
  out.push_back(static_cast<char>(version));
  out.push_back(static_cast<char>(cc.type));
  put_u64(out, cc.node);
  put_u32(out, static_cast<std::uint32_t>(cc.context.size()));
  out.append(cc.context);
  return out;
}

void put_ids(std::string& out, const std::vector<NodeId>& ids) {
  put_u32(out, static_cast<std::uint32_t>(ids.size()));
  for (NodeId id : ids) put_u64(out, id);
}

bool get_ids(std::string_view data, std::size_t& pos, std::vector<NodeId>& out) {
  if (data.size() - pos < 4) return false;
  const std::uint64_t n = get_le(data, pos, 4);
  pos += 4;
  if ((data.size() - pos) / 8 < n) return false;
  for (std::uint64_t k = 0; k < n; ++k, pos += 8) out.push_back(get_le(data, pos, 8));
  return std::is_sorted(out.begin(), out.end());
}

// Parses the change; `end` receives the offset just past it.
std::optional<ConfChange> parse_change(std::string_view data, std::size_t& end) {
  if (data.size() < kConfChangeHeader) return std::nullopt;
  const auto version = static_cast<std::uint8_t>(data[0]);
  if (version != kConfChangeVersion && version != kConfChangeEntryVersion) return std::nullopt;
  const auto type = static_cast<std::uint8_t>(data[1]);
  if (type > static_cast<std::uint8_t>(ConfChangeType::kRemoveNode)) return std::nullopt;
  ConfChange cc;
  cc.type = static_cast<ConfChangeType>(type);
  cc.node = get_le(data, 2, 8);
  const std::uint64_t len = get_le(data, 10, 4);
  if (data.size() - kConfChangeHeader < len) return std::nullopt;
  cc.context.assign(data.substr(kConfChangeHeader, len));
  end = kConfChangeHeader + len;
  if (version == kConfChangeVersion && end != data.size()) return std::nullopt;
  return cc;
}

bool parse_one_state(std::string_view data, std::size_t& pos, ConfState& conf) {
  return get_ids(data, pos, conf.voters) && get_ids(data, pos, conf.learners);
}

// Parses the two memberships after the change: result, then previous.
std::optional<std::pair<ConfState, ConfState>> parse_state(std::string_view data, std::size_t pos) {
  std::pair<ConfState, ConfState> both;
  if (!parse_one_state(data, pos, both.first) || !parse_one_state(data, pos, both.second)) {
    return std::nullopt;
  }
  if (pos != data.size()) return std::nullopt;
  return both;
}

std::optional<std::pair<ConfState, ConfState>> parse_entry_states(std::string_view data) {
  std::size_t end = 0;
  if (!parse_change(data, end) || static_cast<std::uint8_t>(data[0]) != kConfChangeEntryVersion) {
    return std::nullopt;
  }
  return parse_state(data, end);
}

}  // namespace

std::string encode_conf_change(const ConfChange& cc) {
  return encode_with_version(cc, kConfChangeVersion);
}

std::string encode_conf_change_entry(const ConfChange& cc, const ConfState& result,
                                     const ConfState& previous) {
  std::string out = encode_with_version(cc, kConfChangeEntryVersion);
  put_ids(out, result.voters);
  put_ids(out, result.learners);
  put_ids(out, previous.voters);
  put_ids(out, previous.learners);
  return out;
}

std::optional<ConfChange> decode_conf_change(std::string_view data) {
  std::size_t end = 0;
  std::optional<ConfChange> cc = parse_change(data, end);
  if (!cc) return std::nullopt;
  if (static_cast<std::uint8_t>(data[0]) == kConfChangeEntryVersion && !parse_state(data, end)) {
    return std::nullopt;
  }
  return cc;
}

std::optional<ConfState> decode_conf_state(std::string_view data) {
  auto both = parse_entry_states(data);
  if (!both) return std::nullopt;
  return std::move(both->first);
}

std::optional<ConfState> decode_previous_conf_state(std::string_view data) {
  auto both = parse_entry_states(data);
  if (!both) return std::nullopt;
  return std::move(both->second);
}

ConfState apply_conf_change(ConfState conf, const ConfChange& cc) {
  if (cc.node == kNoNode) return conf;
  erase_sorted(conf.voters, cc.node);
  erase_sorted(conf.learners, cc.node);
  switch (cc.type) {
    case ConfChangeType::kAddVoter:
      insert_sorted(conf.voters, cc.node);
      break;
    case ConfChangeType::kAddLearner:
      insert_sorted(conf.learners, cc.node);
      break;
    case ConfChangeType::kRemoveNode:
      break;
  }
  return conf;
}

const char* to_string(MessageType t) {
  switch (t) {
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResp:
      return "PreVoteResp";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResp:
      return "VoteResp";
    case MessageType::kAppend:
      return "Append";
    case MessageType::kAppendResp:
      return "AppendResp";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResp:
      return "HeartbeatResp";
    case MessageType::kSnapshot:
      return "Snapshot";
    case MessageType::kSnapshotResp:
      return "SnapshotResp";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
    case MessageType::kReadIndex:
      return "ReadIndex";
    case MessageType::kReadIndexResp:
      return "ReadIndexResp";
  }
  return "Unknown";
}

const char* to_string(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

bool Ready::empty() const {
  return !soft_state && !hard_state && entries.empty() && !snapshot_chunk && !snapshot &&
         committed.empty() && messages.empty() && messages_after_persist.empty() &&
         read_states.empty();
}

}  // namespace raft

namespace raft {

const char* message_problem(const Message& m) {
  if (m.term >= kMaxTerm) return "term at or beyond the maximum";
  if (m.log_term > m.term) return "log term above the message's term";
  if (m.hint_term > m.term) return "hint term above the message's term";
  if (m.index > kMaxIndex || m.commit > kMaxIndex || m.reject_hint > kMaxIndex) {
    return "index beyond the maximum";
  }
  Index expect = m.index;
  Term prev_term = m.log_term;
  for (const Entry& e : m.entries) {
    if (e.index != expect + 1) return "entries not consecutive from the previous index";
    if (e.term < prev_term) return "entry terms decrease";
    if (e.term > m.term) return "entry term above the message's term";
    expect = e.index;
    prev_term = e.term;
  }
  if (expect > kMaxIndex) return "entry index beyond the maximum";
  if (m.snapshot.index > kMaxIndex) return "snapshot index beyond the maximum";
  if (m.snapshot.term > m.term) return "snapshot term above the message's term";
  if (m.type == MessageType::kSnapshot &&
      (m.snapshot_offset > m.snapshot_size ||
       m.snapshot_data.size() > m.snapshot_size - m.snapshot_offset)) {
    return "snapshot chunk beyond the snapshot's size";
  }
  return nullptr;
}

}  // namespace raft
