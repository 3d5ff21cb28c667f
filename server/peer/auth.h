// Shared-secret proof for the peer handshake: the accepting side sends a fresh random nonce, the
// dialing side answers with HMAC-SHA256(secret, label || ids || nonce), so a node without the
// secret cannot open a connection that we read Raft messages from, and a recorded answer is useless
// against another nonce. This authenticates the connection's start only: frames after the
// handshake carry no MAC (the threat model is a misconfigured or stray process, not an on-path
// attacker; use a private network or a tunnel for that).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace raftd::peer {

using Sha256Digest = std::array<std::uint8_t, 32>;

/// SHA-256 (FIPS 180-4).
Sha256Digest sha256(std::string_view data);
/// HMAC-SHA256 (RFC 2104).
Sha256Digest hmac_sha256(std::string_view key, std::string_view message);

/// Who computes a proof: the two roles MAC different labels, so one can never be replayed as
/// the other.
enum class ProofRole : std::uint8_t { kDialer, kAcceptor };

/// The proof carried in a handshake (32 bytes). The dialer's answers the acceptor's nonce and
/// binds the cluster and both node ids (receiver_id = the acceptor); it is what admits a
/// connection. The acceptor's covers its own nonce (receiver_id = 0: it does not know the dialer
/// yet); it is replayable, and serves only to let a dialer see a secret mismatch before sending
/// anything, instead of connecting and being dropped.
std::string handshake_proof(std::string_view secret, ProofRole role, std::uint64_t cluster_id,
                            std::uint64_t sender_id, std::uint64_t receiver_id,
                            std::string_view nonce);

/// Compares without an early exit, so timing does not reveal how many leading bytes matched.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace raftd::peer
