// The rules of the peer handshake, apart from the sockets (transport.cc runs them):
//
//   acceptor -> dialer   Challenge{nonce Na}                        (nothing else: a stranger
//                                                                    learns nothing)
//   dialer -> acceptor   Hello{nonce Nd, identity, proof_D}
//   acceptor -> dialer   Welcome{identity, proof_A [, founding record]}   or   Refusal{reason}
//   dialer -> acceptor   sealed frames (AES-256-GCM, key derived from the secret, Na and Nd)
//
// proof_D = HMAC(secret, "raftd hello v2" | Na | Hello payload with an empty proof) and proof_A
// likewise over Na, Nd and the Welcome: each side shows it holds the cluster secret, bound to a
// nonce the other side just made up, so a recorded proof is worthless. A connection carries
// Raft messages and forwarded commands only when both proofs held and both identities were
// admitted (cluster id, membership, data directory id: see server/node/membership.h). A node that
// has no secret yet (a new data directory, before the cluster is formed) sends no proof; it can
// only exchange identities, and receive the founding record (formation below).
//
// Formation. The founding record carries the generated cluster secret sealed for each founding
// member: X25519 between the founder's key for this formation and the member's key (from its
// Welcome, which the founder got by dialing the member's own address), then AES-256-GCM bound to
// the cluster id and the member id. Anyone may be handed the record; only the member opens its
// copy. A member accepts the record only from a Welcome on a connection it dialed itself to a
// member of its own list.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "raft/types.h"
#include "server/peer/codec.h"

namespace raftd::peer {

inline constexpr std::size_t kHandshakeNonceBytes = 32;
inline constexpr std::size_t kClusterSecretBytes = 32;

std::string hello_proof(std::string_view secret, std::string_view challenge_nonce,
                        const Hello& hello);
std::string welcome_proof(std::string_view secret, std::string_view challenge_nonce,
                          std::string_view hello_nonce, const Welcome& welcome);
/// Key of the frames the dialer seals after the handshake.
std::string session_key(std::string_view secret, std::string_view challenge_nonce,
                        std::string_view hello_nonce);

/// Seals `secret` for founding member `member` (its X25519 public key `member_key`) with the
/// founder's private key for this formation; nullopt if `member_key` is not a usable key.
std::optional<std::string> seal_secret_for(std::string_view founder_private,
                                           std::string_view member_key, std::uint64_t cluster_id,
                                           raft::NodeId member, std::string_view secret);
/// The secret sealed for us (`our_private`), or nullopt if it was not sealed for this key, id
/// and cluster, or was altered.
std::optional<std::string> open_sealed_secret(std::string_view our_private,
                                              std::string_view founder_key,
                                              std::uint64_t cluster_id, raft::NodeId us,
                                              std::string_view sealed);

/// Digest of a member list (node id -> client address): equal lists, equal digests.
std::uint64_t ensemble_digest(const std::map<raft::NodeId, std::string>& members);

}  // namespace raftd::peer
