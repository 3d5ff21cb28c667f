// The address book of the node host: each member's node id and client address (peers listen
// on the client port + 1), kept in step with the membership the node has applied, and with the
// transport (a member's peer link exists exactly while it has an address here).
//
// Addresses travel with the membership: a configuration change entry carries the new member's
// address in its context, and a snapshot header carries every member's ("id/host:port,...",
// encode()/adopt()). Node identity, the cluster id and admission of peers are Membership's
// (server/node/membership.h); this is only who is where.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace raftd {

/// Node id derived from a client address when -i is not given (never kNoNode).
raft::NodeId node_id_for(const std::string& address);

/// Splits "host:port" (host may be "[v6]"); false if it is not one.
bool split_address(const std::string& addr, std::string& host, std::uint16_t& port);

class MemberDirectory {
 public:
  struct Links {
    /// A peer link to `id` at its peer address (host, client port + 1) is needed.
    std::function<void(raft::NodeId id, const std::string& host, std::uint16_t peer_port)> add;
    /// The link to `id` is no longer needed.
    std::function<void(raft::NodeId id)> remove;
  };

  MemberDirectory(raft::NodeId self, Links links) : self_(self), links_(std::move(links)) {}

  /// Records `id` at `client_addr` and links to it (never to ourselves).
  void set(raft::NodeId id, const std::string& client_addr);
  /// Records `id` at `client_addr` without linking yet (see link_all).
  void record(raft::NodeId id, const std::string& client_addr) { addresses_[id] = client_addr; }
  /// Links to every member recorded (links already made are kept as they are).
  void link_all();
  /// Links to a node that is not a member yet, without recording it: before formation, the
  /// nodes of the -e list.
  void dial(raft::NodeId id, const std::string& client_addr);
  /// Forgets `id` and drops its link.
  void remove(raft::NodeId id);
  /// The client address of `id`, or "" if unknown.
  std::string_view address(raft::NodeId id) const;

  /// "id/host:port,..." for the members of `conf` (voters, then learners): a snapshot's header.
  std::string encode(const raft::ConfState& conf) const;
  /// Takes the addresses of `conf`'s members from a snapshot header's `context` (encode()'s
  /// format) and forgets every node that is not a member (except ourselves).
  void adopt(const raft::ConfState& conf, const std::string& context);

 private:
  raft::NodeId self_;
  Links links_;
  std::map<raft::NodeId, std::string> addresses_;
};

}  // namespace raftd
