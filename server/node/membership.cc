#include "server/node/membership.h"

#include <fmt/format.h>

#include <charconv>

#include "server/log.h"
#include "server/peer/crypto.h"
#include "server/peer/handshake.h"
#include "storage/data_dir.h"

namespace raftd {

namespace {

using peer::Admission;
using peer::RefusalReason;

constexpr std::string_view kLostDataFix =
    "A node that lost its data directory must not vote or acknowledge with a new one: it may "
    "have lost votes and entries it promised (Raft thesis 3.8). Remove it from the cluster and "
    "join it again (README: \"A node lost its data directory\").";

std::uint64_t parse_cluster_id(const std::string& text) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
  return ec == std::errc() && p == text.data() + text.size() ? v : 0;
}

std::map<raft::NodeId, std::string> addresses_of(const peer::FormationRecord& r) {
  std::map<raft::NodeId, std::string> out;
  for (const auto& m : r.members) out[m.node_id] = m.client_addr;
  return out;
}

/// How raftd before formation derived a cluster id from the member ids (FNV-1a).
std::uint64_t legacy_cluster_id(const std::map<raft::NodeId, std::string>& ensemble) {
  auto fnv = [](std::string_view bytes, std::uint64_t h) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ull;
    }
    return h;
  };
  std::uint64_t h = fnv("raftd-cluster", 1469598103934665603ull);
  for (const auto& [id, addr] : ensemble) h = fnv(std::to_string(id) + ",", h);
  return h == 0 ? 1 : h;
}

}  // namespace

Membership::Membership(storage::DataDir& dir, Options options)
    : dir_(dir), opts_(std::move(options)) {
  if (!opts_.configured_secret.empty()) {
    opts_.configured_secret = peer::stretch_secret(opts_.configured_secret);
  }
  opts_.ensemble[opts_.self] = opts_.client_addr;
  ensemble_digest_ = peer::ensemble_digest(opts_.ensemble);
  dir_id_ = dir_.identity().dir_id;
}

Status Membership::prepare() {
  if (dir_.formed()) {
    cluster_id_ = parse_cluster_id(dir_.identity().cluster_id);
    if (cluster_id_ == 0) {
      return Status::error(
          fmt::format("data directory {}: cluster id \"{}\" is not one this raftd made",
                      dir_.path(), dir_.identity().cluster_id));
    }
    secret_ = !opts_.configured_secret.empty() ? opts_.configured_secret : dir_.secret();
    if (!opts_.configured_secret.empty() && !dir_.secret().empty() &&
        dir_.secret() != opts_.configured_secret) {
      log::warn(
          "--peer-secret differs from the secret this node stored at formation ({}/SECRET);"
          " using --peer-secret",
          dir_.path());
    }
    if (dir_.legacy()) {
      // A cluster formed by an older raftd: its members are the -e list (its id was derived
      // from it, so the list must still be the same), the other members' directory ids are not
      // known (0: any), and nodes had no secret: one must be given to all of them.
      if (cluster_id_ != legacy_cluster_id(opts_.ensemble)) {
        return Status::error(fmt::format(
            "data directory {} was written by an older raftd for another member list than this "
            "-e (its cluster id {} does not match); start it with the list it was formed with",
            dir_.path(), dir_.identity().cluster_id));
      }
      if (secret_.empty()) {
        if (opts_.ensemble.size() > 1) {
          return Status::error(fmt::format(
              "data directory {} was written by an older raftd, whose peers did not "
              "authenticate; peers now must. Give every member the same secret "
              "(--peer-secret-file FILE, e.g. made with `head -c 32 /dev/urandom | base64 > "
              "FILE`) and restart them",
              dir_.path()));
        }
        secret_ = peer::random_bytes(peer::kClusterSecretBytes);
      }
      peer::FormationRecord r;
      r.cluster_id = cluster_id_;
      r.founder = opts_.self;
      for (const auto& [id, addr] : opts_.ensemble) {
        r.members.push_back({id, addr, id == opts_.self ? dir_id_ : 0, {}, {}});
      }
      if (auto s = dir_.complete_legacy(peer::encode_formation(r),
                                        opts_.configured_secret.empty() ? secret_ : "");
          !s) {
        return s;
      }
      record_bytes_ = dir_.cluster_record();
      load_record(r);
      return Status::ok();
    }
    if (dir_.cluster_record().empty()) {
      return Status::error(
          fmt::format("data directory {}: node {} is a member of cluster {:016x} but its "
                      "founding record {}/CLUSTER is missing",
                      dir_.path(), opts_.self, cluster_id_, dir_.path()));
    }
    auto record = peer::decode_formation(dir_.cluster_record());
    if (!record || record->cluster_id != cluster_id_) {
      return Status::error(
          fmt::format("data directory {}: the founding record {}/CLUSTER does not belong to "
                      "cluster {:016x}",
                      dir_.path(), dir_.path(), cluster_id_));
    }
    if (secret_.empty()) {
      return Status::error(fmt::format(
          "data directory {}: the cluster secret ({}/SECRET) is missing and no --peer-secret "
          "was given: this node cannot prove it is a member",
          dir_.path(), dir_.path()));
    }
    record_bytes_ = dir_.cluster_record();
    load_record(*record);
    return Status::ok();
  }
  // Not formed: the key our copy of the secret will be sealed for, kept across restarts so that
  // a founder who sealed for it before we restarted still reaches us.
  formation_private_ = dir_.formation_key();
  auto pub = peer::x25519_public(formation_private_);
  if (!pub) {
    const peer::KeyPair kp = peer::x25519_generate();
    dir_.save_formation_key(kp.private_key);
    formation_private_ = kp.private_key;
    pub = kp.public_key;
  }
  formation_public_ = *pub;
  if (opts_.ensemble.size() == 1) {
    maybe_form();  // a cluster of one: nobody to wait for
  } else {
    log::info(
        "the cluster is not formed yet: waiting for {} (the lowest id, {}, forms it)",
        [this] {
          std::string list;
          for (const auto& [id, addr] : opts_.ensemble) {
            if (id == opts_.self) continue;
            list += (list.empty() ? "" : ", ") + member_name(id);
          }
          return list;
        }(),
        member_name(opts_.ensemble.begin()->first));
  }
  return Status::ok();
}

peer::PeerIdentity Membership::identity() const {
  peer::PeerIdentity id;
  id.cluster_id = cluster_id_;
  id.node_id = opts_.self;
  id.dir_id = dir_id_;
  id.client_addr = opts_.client_addr;
  id.ensemble = ensemble_digest_;
  if (!formed()) id.formation_key = formation_public_;
  return id;
}

bool Membership::is_founder() const {
  return opts_.ensemble.begin()->first == opts_.self;
}

std::string Membership::member_name(raft::NodeId id) const {
  auto it = opts_.ensemble.find(id);
  if (it == opts_.ensemble.end()) {
    auto m = members_.find(id);
    return m == members_.end() ? fmt::format("node {}", id)
                               : fmt::format("node {} ({})", id, m->second.client_addr);
  }
  return fmt::format("node {} ({})", id, it->second);
}

void Membership::log_rarely(std::uint64_t& counter, const std::string& line) {
  const std::uint64_t n = ++counter;
  log::log((n & (n - 1)) == 0 ? log::Level::kWarn : log::Level::kDebug, "{}", line);
}

void Membership::load_record(const peer::FormationRecord& record) {
  record_ = record;
  members_.clear();
  for (const auto& m : record.members) {
    members_[m.node_id] = MemberInfo{m.client_addr, m.dir_id, m.formation_key};
  }
}

// --- Formed ------------------------------------------------------------------------------------

Admission Membership::admit_inbound(const peer::PeerIdentity& peer, bool authenticated) {
  if (!formed()) {
    if (opts_.ensemble.count(peer.node_id) == 0) {
      return Admission::refuse(RefusalReason::kNotMember, "not in this node's member list (-e)");
    }
    if (!opts_.configured_secret.empty() && !authenticated) {
      return Admission::refuse(RefusalReason::kAuthentication, "authentication required");
    }
    if (peer.cluster_id == 0 && peer.ensemble != ensemble_digest_) {
      log_rarely(ensemble_logs_, fmt::format("{} was started with another member list (-e); "
                                             "every node of a new cluster needs the same one",
                                             member_name(peer.node_id)));
      return Admission::refuse(RefusalReason::kEnsemble,
                               "this node was started with another member list (-e)");
    }
    // Our Welcome says who we are (a new node, its key): the founder collects it, and a formed
    // member learns we are new.
    return Admission::tell();
  }
  auto m = members_.find(peer.node_id);
  if (m == members_.end()) {
    return Admission::refuse(
        authenticated ? RefusalReason::kNotMember : RefusalReason::kAuthentication,
        authenticated ? "not a member of this cluster" : "authentication required");
  }
  const MemberInfo& info = m->second;
  const bool same_dir = info.dir_id == 0 || info.dir_id == peer.dir_id;
  if (peer.cluster_id == 0) {
    if (same_dir && info.dir_id != 0 && !info.formation_key.empty() &&
        info.formation_key == peer.formation_key && record_) {
      // A founding member that has not adopted the record yet (it missed the founder, or
      // crashed before writing it): hand it over; only its own key opens its copy of the secret.
      log::info("handing the founding record to {}", member_name(peer.node_id));
      return Admission::tell(*record_);
    }
    log_rarely(lost_data_logs_,
               fmt::format("{} came back with a new data directory (id {:016x}; the cluster "
                           "knows {:016x}): it is kept out of every quorum. {}",
                           member_name(peer.node_id), peer.dir_id, info.dir_id, kLostDataFix));
    return Admission::refuse(
        authenticated ? RefusalReason::kLostData : RefusalReason::kAuthentication,
        authenticated ? fmt::format("node {} is a member of this cluster with another data "
                                    "directory; this one is new. {}",
                                    peer.node_id, kLostDataFix)
                      : std::string("authentication required"));
  }
  if (!authenticated) {
    return Admission::refuse(RefusalReason::kAuthentication, "authentication required");
  }
  if (peer.cluster_id != cluster_id_) {
    return Admission::refuse(RefusalReason::kOtherCluster, "a node of another cluster");
  }
  if (!same_dir) {
    log_rarely(lost_data_logs_,
               fmt::format("{} answered with data directory {:016x}, not the "
                           "{:016x} the cluster knows: kept out. {}",
                           member_name(peer.node_id), peer.dir_id, info.dir_id, kLostDataFix));
    return Admission::refuse(RefusalReason::kLostData,
                             "not the data directory this member formed the cluster with");
  }
  return Admission::accept();
}

Admission Membership::admit_outbound(raft::NodeId dialed, const peer::Welcome& w,
                                     bool authenticated) {
  const peer::PeerIdentity& peer = w.id;
  if (formed()) {
    auto m = members_.find(dialed);
    if (m == members_.end()) return Admission::refuse(RefusalReason::kNotMember, "not a member");
    const MemberInfo& info = m->second;
    if (peer.cluster_id == 0) {
      if (info.dir_id != 0 && peer.dir_id == info.dir_id) {
        // It will come for the founding record itself, on a connection of its own.
        return Admission::refuse(RefusalReason::kNotMember,
                                 "has not adopted the founding record yet");
      }
      log_rarely(lost_data_logs_,
                 fmt::format("{} answers with a new data directory (id {:016x}; the cluster "
                             "knows {:016x}): it is kept out of every quorum. {}",
                             member_name(dialed), peer.dir_id, info.dir_id, kLostDataFix));
      return Admission::refuse(RefusalReason::kLostData, "lost its data directory");
    }
    if (!authenticated) {
      return Admission::refuse(RefusalReason::kAuthentication, "no proof of the cluster secret");
    }
    if (peer.cluster_id != cluster_id_) {
      log_rarely(refusal_logs_,
                 fmt::format("{} belongs to cluster {:016x}, not to ours ({:016x}): not talking "
                             "to it",
                             member_name(dialed), peer.cluster_id, cluster_id_));
      return Admission::refuse(RefusalReason::kOtherCluster, "another cluster");
    }
    if (info.dir_id != 0 && peer.dir_id != info.dir_id) {
      log_rarely(lost_data_logs_,
                 fmt::format("{} answers with data directory {:016x}, not "
                             "{:016x}: kept out. {}",
                             member_name(dialed), peer.dir_id, info.dir_id, kLostDataFix));
      return Admission::refuse(RefusalReason::kLostData, "another data directory");
    }
    return Admission::accept();
  }

  // Not formed yet.
  if (!opts_.configured_secret.empty() && !authenticated) {
    return Admission::refuse(RefusalReason::kAuthentication, "no proof of the cluster secret");
  }
  if (w.has_formation) {
    const peer::FormationRecord& r = w.formation;
    Result<std::string> secret = open_founding_record(dialed, r);
    if (!secret) {
      log_rarely(refusal_logs_, fmt::format("ignoring the founding record from {}: {}",
                                            member_name(dialed), secret.message()));
      return Admission::refuse(RefusalReason::kProtocol, "bad founding record");
    }
    log::info("adopting the founding record of cluster {:016x} from {} (formed by {})",
              r.cluster_id, member_name(dialed), member_name(r.founder));
    become_formed(r, *secret);
    return Admission::refuse(RefusalReason::kProtocol, "formed: reconnecting with the secret");
  }
  if (peer.cluster_id != 0) {
    // A formed node that did not hand us the record: it refuses us (see on_refused).
    return Admission::refuse(RefusalReason::kNotMember, "a formed node");
  }
  if (peer.ensemble != ensemble_digest_) {
    log_rarely(ensemble_logs_, fmt::format("{} was started with another member list (-e); every "
                                           "node of a new cluster needs the same one",
                                           member_name(dialed)));
    return Admission::refuse(RefusalReason::kEnsemble, "another member list");
  }
  if (dialed == opts_.ensemble.begin()->first && !peer.formation_key.empty()) {
    // The founder's key, from a connection we dialed to its own address: a founding record that
    // reaches us through another member must carry this key.
    founder_key_ = peer.formation_key;
  }
  if (is_founder()) {
    Seen& s = seen_[dialed];
    s.dir_id = peer.dir_id;
    s.formation_key = peer.formation_key;
    maybe_form();
  }
  return Admission::refuse(RefusalReason::kNotMember, "not formed yet");
}

Result<std::string> Membership::open_founding_record(raft::NodeId dialed,
                                                     const peer::FormationRecord& r) const {
  const peer::FoundingMember* ours = nullptr;
  for (const auto& m : r.members) {
    if (m.node_id == opts_.self) ours = &m;
  }
  const raft::NodeId founder = opts_.ensemble.begin()->first;
  if (r.cluster_id == 0) return Status::error("it has no cluster id");
  if (is_founder()) return Status::error("this node is the one that forms the cluster");
  if (r.founder != founder) {
    return Status::error(
        fmt::format("it names node {} as the founder, not {}", r.founder, founder));
  }
  if (dialed != founder && (founder_key_.empty() || founder_key_ != r.founder_key)) {
    // Through another member: only with the founder key we saw on the founder's own address;
    // the founder's own answer is trusted by its address.
    return Status::error(
        "it did not come from the founder, and its key is not the one the founder showed");
  }
  if (r.members.size() != opts_.ensemble.size() || addresses_of(r) != opts_.ensemble) {
    return Status::error("it lists other members than this node's -e");
  }
  if (ours == nullptr || ours->dir_id != dir_id_ || ours->formation_key != formation_public_) {
    return Status::error("it names another data directory for this node");
  }
  std::optional<std::string> secret = peer::open_sealed_secret(
      formation_private_, r.founder_key, r.cluster_id, opts_.self, ours->sealed_secret);
  if (!secret) return Status::error("this node's copy of the cluster secret does not open");
  if (!opts_.configured_secret.empty() && *secret != opts_.configured_secret) {
    return Status::error("its secret is not this node's --peer-secret");
  }
  return std::move(*secret);
}

void Membership::on_refused(raft::NodeId node, const peer::Refusal& r) {
  if (formed()) {
    log_rarely(refusal_logs_, fmt::format("{} refused this node ({}): {}", member_name(node),
                                          peer::to_string(r.reason), r.text));
    return;
  }
  if (r.reason == RefusalReason::kAuthentication && !opts_.configured_secret.empty()) {
    refused_because_ = fmt::format(
        "{} refused this node's proof of the cluster secret: the two "
        "were given different secrets",
        member_name(node));
    log_rarely(refusal_logs_, refused_because_);
    return;
  }
  switch (r.reason) {
    case RefusalReason::kAuthentication:
    case RefusalReason::kLostData:
    case RefusalReason::kNotMember:
    case RefusalReason::kOtherCluster: {
      const bool first = refused_because_.empty();
      refused_because_ = fmt::format("{} belongs to a formed cluster and refused this node ({})",
                                     member_name(node), peer::to_string(r.reason));
      if (first) {
        log::error(
            "{}. This node's data directory {} is new (or was wiped), but its cluster already "
            "exists: it cannot take part as node {} with it. {}",
            refused_because_, dir_.path(), opts_.self, kLostDataFix);
      } else {
        log_rarely(refusal_logs_, refused_because_);
      }
      return;
    }
    default:
      log_rarely(refusal_logs_, fmt::format("{} refused this node ({}): {}", member_name(node),
                                            peer::to_string(r.reason), r.text));
  }
}

std::string Membership::not_formed_reason() const {
  if (!refused_because_.empty() && !opts_.configured_secret.empty() &&
      refused_because_.find("different secrets") != std::string::npos) {
    return "the cluster is not formed: " + refused_because_;
  }
  if (!refused_because_.empty()) {
    return fmt::format(
        "this node's data directory is new but its cluster exists: {}; remove "
        "node {} and join it again (README: A node lost its data directory)",
        refused_because_, opts_.self);
  }
  std::string waiting;
  for (const auto& [id, addr] : opts_.ensemble) {
    if (id == opts_.self || (is_founder() && seen_.count(id))) continue;
    waiting += (waiting.empty() ? "" : ", ") + member_name(id);
  }
  return fmt::format("the cluster is not formed yet: waiting for {}", waiting);
}

// --- Formation ---------------------------------------------------------------------------------

void Membership::maybe_form() {
  if (formed() || !is_founder()) return;
  for (const auto& [id, addr] : opts_.ensemble) {
    if (id != opts_.self && seen_.count(id) == 0) return;
  }
  std::uint64_t cluster_id = 0;
  while (cluster_id == 0) {
    const std::string r = peer::random_bytes(8);
    for (unsigned char c : r) cluster_id = (cluster_id << 8) | c;
  }
  const std::string secret = opts_.configured_secret.empty()
                                 ? peer::random_bytes(peer::kClusterSecretBytes)
                                 : opts_.configured_secret;
  // Sealed with the founder's own formation key: the one it showed the members, so they can tell
  // its record from one made up by whoever answers at another member's address.
  peer::FormationRecord r;
  r.cluster_id = cluster_id;
  r.founder = opts_.self;
  r.founder_key = formation_public_;
  for (const auto& [id, addr] : opts_.ensemble) {
    peer::FoundingMember m;
    m.node_id = id;
    m.client_addr = addr;
    if (id == opts_.self) {
      m.dir_id = dir_id_;
      m.formation_key = formation_public_;
    } else {
      const Seen& s = seen_.at(id);
      m.dir_id = s.dir_id;
      m.formation_key = s.formation_key;
      auto sealed =
          peer::seal_secret_for(formation_private_, s.formation_key, cluster_id, id, secret);
      if (!sealed) {
        log::warn("{} sent a formation key that is not one; asking it again", member_name(id));
        seen_.erase(id);
        return;
      }
      m.sealed_secret = std::move(*sealed);
    }
    r.members.push_back(std::move(m));
  }
  log::info("forming cluster {:016x} with {} member(s)", cluster_id, r.members.size());
  become_formed(r, secret);
}

void Membership::become_formed(const peer::FormationRecord& record, const std::string& secret) {
  record_bytes_ = peer::encode_formation(record);
  if (auto s = dir_.form(fmt::format("{:016x}", record.cluster_id), record_bytes_,
                         opts_.configured_secret.empty() ? secret : "");
      !s) {
    log::error("cannot record the formation: {}", s.message());
    return;
  }
  cluster_id_ = record.cluster_id;
  secret_ = secret;
  load_record(record);
  formation_private_.clear();
  seen_.clear();
  refused_because_.clear();
  log::info("formed: node {} is a member of cluster {:016x} ({} founding member(s))", opts_.self,
            cluster_id_, members_.size());
  if (on_formed_) on_formed_();
}

}  // namespace raftd
