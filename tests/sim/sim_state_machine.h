// The replicated "application" of the simulation: a tiny key-value map plus a running hash of
// every entry applied. Its serialized form is the snapshot body that hosts compact into and
// stream to lagging followers in InstallSnapshot chunks.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace raftsim {

class SimStateMachine {
 public:
  /// The state before any entry: membership `conf` (the cluster's bootstrap membership).
  explicit SimStateMachine(raft::ConfState conf = {});

  /// Applies the next entry. Normal entries "key=value" set a key (empty data is a leader no-op);
  /// conf-change entries set the membership they record (or apply their change, for the plain
  /// encoding). Returns false if a conf-change entry does not decode (the host cannot apply it).
  bool apply(const raft::Entry& e);

  /// The snapshot body: versioned, length-prefixed, with a trailing checksum.
  std::string serialize() const;
  /// Parses a body produced by serialize(); nullopt if it is truncated or corrupt.
  static std::optional<SimStateMachine> parse(std::string_view body);

  raft::Index applied() const { return applied_; }
  raft::Term applied_term() const { return applied_term_; }
  std::uint64_t hash() const { return hash_; }
  const raft::ConfState& conf() const { return conf_; }
  const std::map<std::string, std::string>& kv() const { return kv_; }

 private:
  raft::Index applied_ = 0;
  raft::Term applied_term_ = 0;
  std::uint64_t hash_;
  raft::ConfState conf_;
  std::map<std::string, std::string> kv_;
};

}  // namespace raftsim
