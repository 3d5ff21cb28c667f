// Plain value types shared by the consensus core, its storage and its host.
// No behaviour lives here; names follow the Raft paper (Ongaro, 2014) and etcd/raft.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raft {

using NodeId = std::uint64_t;
using Term = std::uint64_t;
using Index = std::uint64_t;

/// NodeId 0 is never a member: it means "nobody" (no vote, no known leader).
inline constexpr NodeId kNoNode = 0;

/// Bounds on terms and indexes. No legitimate cluster reaches them (2^48 elections, one every
/// 100 ms, take 890,000 years; 2^62 entries at a million a second take 146,000 years), so a
/// message at or beyond them is forged or corrupt and is refused; and every `+ 1` on a term or
/// index the core holds stays far from wrapping (a term of 2^64-1 once made the next campaign wrap
/// to 0, which every peer discards: no leader ever again).
inline constexpr Term kMaxTerm = Term{1} << 48;
inline constexpr Index kMaxIndex = Index{1} << 62;

enum class EntryType : std::uint8_t {
  kNormal = 0,      ///< application data; empty data is the leader's no-op (thesis 6.4)
  kConfChange = 1,  ///< data is an encoded ConfChange (see encode_conf_change)
};

struct Entry {
  Term term = 0;
  Index index = 0;
  EntryType type = EntryType::kNormal;
  std::string data;

  bool operator==(const Entry&) const = default;
};

/// What must be on disk before any message that depends on it leaves (thesis 3.8).
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;

  bool operator==(const HardState&) const = default;
  bool empty() const { return term == 0 && vote == kNoNode && commit == 0; }
};

/// Cluster membership. Both lists are kept sorted and disjoint.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  bool operator==(const ConfState&) const = default;
};

/// Describes the state captured by a snapshot: everything up to and including `index`.
struct SnapshotMeta {
  Index index = 0;
  Term term = 0;
  ConfState conf;

  bool operator==(const SnapshotMeta&) const = default;
};

enum class ConfChangeType : std::uint8_t {
  kAddVoter = 0,    ///< add a voter, or promote a learner
  kAddLearner = 1,  ///< add a non-voting member, or demote a voter
  kRemoveNode = 2,
};

/// A single-server membership change (thesis 4.1). `context` is opaque to the core:
/// the host stores what it needs there (for raftd: the member's address).
struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddVoter;
  NodeId node = kNoNode;
  std::string context;

  bool operator==(const ConfChange&) const = default;
};

/// Stable binary encoding used as Entry::data for kConfChange entries.
std::string encode_conf_change(const ConfChange& cc);
/// Returns nullopt for bytes that are not a valid encoding.
std::optional<ConfChange> decode_conf_change(std::string_view data);

/// Encoding of a kConfChange entry as the core writes it: the change plus the membership it
/// results in and the one it replaces, so that every node (including one that joins with an
/// empty membership, or restarts with an uncommitted change in its log) knows the whole
/// configuration on both sides of the entry. decode_conf_change() reads both encodings.
std::string encode_conf_change_entry(const ConfChange& cc, const ConfState& result,
                                     const ConfState& previous);
/// The membership in effect after the entry, as recorded by encode_conf_change_entry();
/// nullopt for the plain encode_conf_change() form or invalid bytes. Hosts record this as their
/// applied membership.
std::optional<ConfState> decode_conf_state(std::string_view data);
/// The membership the entry replaced (same conditions as decode_conf_state()).
std::optional<ConfState> decode_previous_conf_state(std::string_view data);

/// Applies `cc` to `conf` (keeping the lists sorted and disjoint) and returns the result.
ConfState apply_conf_change(ConfState conf, const ConfChange& cc);

}  // namespace raft
