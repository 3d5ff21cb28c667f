#include "server/peer/handshake.h"

#include "server/peer/crypto.h"

namespace raftd::peer {

namespace {

void put_u64_be(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}

// Each MAC starts with its own label (and a NUL), so no MAC made for one purpose is ever
// valid for another.
std::string labelled(std::string_view label) {
  std::string m(label);
  m.push_back('\0');
  return m;
}

std::string formation_key(std::string_view shared, std::uint64_t cluster_id, raft::NodeId member) {
  std::string info = labelled("raftd formation v2");
  put_u64_be(info, cluster_id);
  put_u64_be(info, member);
  return hmac_sha256(shared, info);
}

}  // namespace

std::string hello_proof(std::string_view secret, std::string_view challenge_nonce,
                        const Hello& hello) {
  Hello bare = hello;
  bare.proof.clear();
  std::string m = labelled("raftd hello v2");
  m.append(challenge_nonce);
  append_payload(m, Frame(std::move(bare)));
  return hmac_sha256(secret, m);
}

std::string welcome_proof(std::string_view secret, std::string_view challenge_nonce,
                          std::string_view hello_nonce, const Welcome& welcome) {
  Welcome bare = welcome;
  bare.proof.clear();
  std::string m = labelled("raftd welcome v2");
  m.append(challenge_nonce);
  m.append(hello_nonce);
  append_payload(m, Frame(std::move(bare)));
  return hmac_sha256(secret, m);
}

std::string session_key(std::string_view secret, std::string_view challenge_nonce,
                        std::string_view hello_nonce) {
  std::string m = labelled("raftd session v2");
  m.append(challenge_nonce);
  m.append(hello_nonce);
  return hmac_sha256(secret, m);
}

std::optional<std::string> seal_secret_for(std::string_view founder_private,
                                           std::string_view member_key, std::uint64_t cluster_id,
                                           raft::NodeId member, std::string_view secret) {
  const auto shared = x25519_shared(founder_private, member_key);
  if (!shared) return std::nullopt;
  std::string aad;
  put_u64_be(aad, cluster_id);
  put_u64_be(aad, member);
  return aead_seal(formation_key(*shared, cluster_id, member), aad, secret);
}

std::optional<std::string> open_sealed_secret(std::string_view our_private,
                                              std::string_view founder_key,
                                              std::uint64_t cluster_id, raft::NodeId us,
                                              std::string_view sealed) {
  const auto shared = x25519_shared(our_private, founder_key);
  if (!shared) return std::nullopt;
  std::string aad;
  put_u64_be(aad, cluster_id);
  put_u64_be(aad, us);
  return aead_open(formation_key(*shared, cluster_id, us), aad, sealed);
}

std::uint64_t ensemble_digest(const std::map<raft::NodeId, std::string>& members) {
  std::string text = labelled("raftd ensemble v2");
  for (const auto& [id, addr] : members) {
    put_u64_be(text, id);
    text.append(addr);
    text.push_back('\0');
  }
  const std::string d = sha256(text);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(d[i]);
  return v == 0 ? 1 : v;
}

}  // namespace raftd::peer
