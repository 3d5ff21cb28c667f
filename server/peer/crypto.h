// The peer protocol's cryptography, on OpenSSL's libcrypto (nothing hand-rolled):
//  - HMAC-SHA256 proves knowledge of the cluster secret in the handshake and derives each
//    connection's key from it and both sides' fresh nonces (handshake.h);
//  - AES-256-GCM seals every frame after the handshake: encrypted, authenticated, and bound to
//    its position in the stream (the nonce is the frame's sequence number), so a frame cannot
//    be forged, altered, dropped, reordered or replayed, and a recorded stream is useless on
//    another connection (other nonces, another key);
//  - X25519 lets the node that forms a cluster hand the generated secret to each founding
//    member, sealed for that member's key alone (server/node/membership.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct evp_cipher_ctx_st;

namespace raftd::peer {

inline constexpr std::size_t kKeyBytes = 32;
inline constexpr std::size_t kTagBytes = 16;

/// `n` bytes from the OS's CSPRNG (RAND_bytes); aborts if it cannot give them.
std::string random_bytes(std::size_t n);
std::string sha256(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view message);
/// A secret given by a person (--peer-secret) made into a 32-byte key with PBKDF2-HMAC-SHA256
/// (100,000 rounds): a proof an attacker records then costs that much per guess, and a secret of
/// any length fits the founding record.
std::string stretch_secret(std::string_view secret);
/// Compares without an early exit, so timing does not reveal how many leading bytes matched.
bool constant_time_equal(std::string_view a, std::string_view b);
std::string to_hex(std::string_view bytes);
/// nullopt unless `hex` is an even number of hex digits.
std::optional<std::string> from_hex(std::string_view hex);

/// AES-256-GCM for one direction of one connection. The n-th frame sealed (or opened) uses
/// nonce n: the two ends count frames the same way, so one lost, repeated or reordered frame
/// fails its tag, and the connection is dropped.
class FrameCipher {
 public:
  explicit FrameCipher(std::string_view key);
  ~FrameCipher();
  FrameCipher(const FrameCipher&) = delete;
  FrameCipher& operator=(const FrameCipher&) = delete;

  /// Encrypts `n` bytes of `plain` into `out` (which may be `plain`), authenticating `aad` as
  /// well, and writes the kTagBytes tag.
  void seal(std::string_view aad, const char* plain, std::size_t n, char* out, char* tag);
  /// Decrypts `n` bytes in place; false if the tag does not verify (the bytes are then junk).
  [[nodiscard]] bool open(std::string_view aad, char* data, std::size_t n, const char* tag);
  std::uint64_t frames() const { return seq_; }

 private:
  void start(bool encrypt);

  evp_cipher_ctx_st* ctx_;
  std::string key_;
  std::uint64_t seq_ = 0;
};

/// One-shot AES-256-GCM with a random nonce: nonce(12) | ciphertext | tag(16).
std::string aead_seal(std::string_view key, std::string_view aad, std::string_view plain);
std::optional<std::string> aead_open(std::string_view key, std::string_view aad,
                                     std::string_view sealed);

struct KeyPair {
  std::string private_key;  ///< 32 bytes
  std::string public_key;   ///< 32 bytes
};
KeyPair x25519_generate();
/// The public key of a stored private key; nullopt if it is not one.
std::optional<std::string> x25519_public(std::string_view private_key);
/// The shared secret of our private key and a peer's public key; nullopt for a bad key.
std::optional<std::string> x25519_shared(std::string_view private_key,
                                         std::string_view peer_public);

}  // namespace raftd::peer
