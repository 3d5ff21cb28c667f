// Who may talk to this node, and how a cluster comes to exist: the node's identity on the peer
// port, the cluster's members as it knows them, and the formation of a new cluster.
//
// Identity. A node is (node id, data directory id). The directory id is random and made when the
// directory is created, so a node whose directory is new or was wiped has another one, and the
// members know it is not the node they formed the cluster with: it lost what it promised (votes,
// acknowledged entries; thesis 3.8) and is kept out - refused in every handshake, so it can
// neither vote nor acknowledge - until it is removed and joined again. The wiped node itself
// hears the refusal, logs it with the fix, and answers clients with it.
//
// Formation. A new node started with -e waits for every node of its list. The lowest id of the
// list (the founder) dials each of them; when all have answered as new nodes started with the
// same list, it makes up a random cluster id and (unless one was configured) a random cluster
// secret, and records them with every member's directory id and key in the founding record,
// the secret sealed for each member's key alone with the founder's own formation key
// (server/peer/handshake.h). Each member, dialing a member of its list, gets the record in that
// member's Welcome, opens its copy of the secret, and is formed: from the founder itself (trusted
// by its address), or through another member if the record carries the founder key the member
// saw on the founder's address. Every member keeps the record and hands it to a founding member
// that has not adopted it yet (same directory id, same key), so formation finishes even if the
// founder dies right after it. A directory from another incarnation of a cluster with the same
// list has another cluster id and is refused.
//
// Without a configured secret, formation trusts the member addresses the way SSH trusts a host
// key on first use: a process that can answer on a member's own peer port before that member
// starts (a user of that host, or someone on the network path) could take its place. Where that
// is possible, give every node --peer-secret-file: then formation is authenticated too.
//
// Secret. Every connection that carries frames has proven the cluster secret (handshake.h).
// Generated at formation and stored in DIR/SECRET, or given to every node with --peer-secret /
// --peer-secret-file (then formation itself is authenticated too).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "raft/types.h"
#include "server/peer/codec.h"
#include "server/peer/transport.h"
#include "server/status.h"

namespace storage {
class DataDir;
}

namespace raftd {

/// A member as the cluster knows it.
struct MemberInfo {
  std::string client_addr;
  std::uint64_t dir_id = 0;   ///< 0: unknown (a cluster formed by an older raftd)
  std::string formation_key;  ///< its key at formation (founding members only)
};

class Membership {
 public:
  struct Options {
    raft::NodeId self = raft::kNoNode;
    std::string client_addr;
    /// The member list the node was started with (-e), this node included: id -> client addr.
    std::map<raft::NodeId, std::string> ensemble;
    /// --peer-secret / --peer-secret-file; empty: generated at formation.
    std::string configured_secret;
  };

  Membership(storage::DataDir& dir, Options options);

  /// Done at start: forms a single-node cluster, or completes a directory written by an older
  /// raftd. An error means the node cannot take part (say why and exit).
  Status prepare();

  bool formed() const { return cluster_id_ != 0; }
  std::uint64_t cluster_id() const { return cluster_id_; }
  /// The secret the node proves in handshakes: the cluster's once formed, else the configured
  /// one (empty if none: a new node then only exchanges identities).
  const std::string& secret() const { return formed() ? secret_ : opts_.configured_secret; }
  /// The members (founding ones until membership changes land), by id.
  const std::map<raft::NodeId, MemberInfo>& members() const { return members_; }
  /// What the transport says about us.
  peer::PeerIdentity identity() const;

  /// Called once, when this node becomes formed (by forming or by adopting the founding record):
  /// the host sets the transport's identity and secret and starts Raft. Posted by the caller's
  /// loop, never from inside a transport callback.
  void set_on_formed(std::function<void()> fn) { on_formed_ = std::move(fn); }

  // The transport's admission callbacks (transport.h).
  peer::Admission admit_inbound(const peer::PeerIdentity& peer, bool authenticated);
  peer::Admission admit_outbound(raft::NodeId dialed, const peer::Welcome& welcome,
                                 bool authenticated);
  void on_refused(raft::NodeId node, const peer::Refusal& refusal);

  /// While not formed: why this node cannot serve, for clients (one line, no CRLF).
  std::string not_formed_reason() const;

 private:
  struct Seen {
    std::uint64_t dir_id = 0;
    std::string formation_key;
  };

  /// The founder's move, once every member of the list was seen as a new node.
  void maybe_form();
  /// The cluster secret sealed for us in a founding record handed over by `dialed`, or why the
  /// record is not one this node may adopt.
  Result<std::string> open_founding_record(raft::NodeId dialed,
                                           const peer::FormationRecord& r) const;
  /// Persists a founding record and secret and becomes formed.
  void become_formed(const peer::FormationRecord& record, const std::string& secret);
  void load_record(const peer::FormationRecord& record);
  bool is_founder() const;
  std::string member_name(raft::NodeId id) const;
  /// Logs at warn the first time and at powers of two after (peers redial every few seconds).
  void log_rarely(std::uint64_t& counter, const std::string& line);

  storage::DataDir& dir_;
  Options opts_;
  std::uint64_t ensemble_digest_ = 0;
  std::uint64_t dir_id_ = 0;
  std::uint64_t cluster_id_ = 0;
  std::string secret_;
  std::string record_bytes_;  // the founding record as stored and handed out
  std::optional<peer::FormationRecord> record_;
  std::map<raft::NodeId, MemberInfo> members_;
  std::string formation_private_;  // not formed: our X25519 key (kept in the data directory)
  std::string formation_public_;
  std::map<raft::NodeId, Seen> seen_;  // founder: the new nodes that answered
  std::string founder_key_;            // not formed: the founder's key, seen on its address
  std::string refused_because_;        // not formed: a formed member's refusal, for clients
  std::function<void()> on_formed_;
  std::uint64_t lost_data_logs_ = 0;
  std::uint64_t ensemble_logs_ = 0;
  std::uint64_t refusal_logs_ = 0;
};

}  // namespace raftd
