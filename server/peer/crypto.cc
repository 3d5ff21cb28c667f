#include "server/peer/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace raftd::peer {

namespace {

constexpr std::size_t kNonceBytes = 12;

[[noreturn]] void crypto_failure(const char* what) {
  std::fprintf(stderr, "raftd: OpenSSL %s failed\n", what);
  std::abort();
}

const unsigned char* u8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};

}  // namespace

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    crypto_failure("RAND_bytes");
  }
  return out;
}

std::string sha256(std::string_view data) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(u8(data), data.size(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  std::string out(32, '\0');
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), u8(message), message.size(),
           reinterpret_cast<unsigned char*>(out.data()), &len) == nullptr ||
      len != 32) {
    crypto_failure("HMAC");
  }
  return out;
}

std::string stretch_secret(std::string_view secret) {
  static constexpr std::string_view kSalt = "raftd peer secret v2";
  std::string out(kKeyBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()), u8(kSalt),
                        static_cast<int>(kSalt.size()), 100000, EVP_sha256(),
                        static_cast<int>(out.size()),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    crypto_failure("PBKDF2");
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

FrameCipher::FrameCipher(std::string_view key) : ctx_(EVP_CIPHER_CTX_new()), key_(key) {
  if (ctx_ == nullptr || key_.size() != kKeyBytes) crypto_failure("cipher setup");
}

FrameCipher::~FrameCipher() {
  EVP_CIPHER_CTX_free(ctx_);
}

void FrameCipher::start(bool encrypt) {
  unsigned char iv[kNonceBytes] = {};
  for (int i = 0; i < 8; ++i) iv[4 + i] = static_cast<unsigned char>(seq_ >> (56 - 8 * i));
  ++seq_;
  // The key schedule is set up on the first frame only; later frames change just the nonce.
  const bool first = seq_ == 1;
  const int ok = encrypt ? EVP_EncryptInit_ex(ctx_, first ? EVP_aes_256_gcm() : nullptr, nullptr,
                                              first ? u8(key_) : nullptr, iv)
                         : EVP_DecryptInit_ex(ctx_, first ? EVP_aes_256_gcm() : nullptr, nullptr,
                                              first ? u8(key_) : nullptr, iv);
  if (ok != 1) crypto_failure("GCM init");
}

void FrameCipher::seal(std::string_view aad, const char* plain, std::size_t n, char* out,
                       char* tag) {
  start(true);
  int len = 0;
  if (EVP_EncryptUpdate(ctx_, nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx_, reinterpret_cast<unsigned char*>(out), &len,
                        reinterpret_cast<const unsigned char*>(plain), static_cast<int>(n)) != 1 ||
      EVP_EncryptFinal_ex(ctx_, reinterpret_cast<unsigned char*>(out) + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), tag) != 1) {
    crypto_failure("GCM seal");
  }
}

bool FrameCipher::open(std::string_view aad, char* data, std::size_t n, const char* tag) {
  start(false);
  int len = 0;
  unsigned char* p = reinterpret_cast<unsigned char*>(data);
  if (EVP_DecryptUpdate(ctx_, nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx_, p, &len, p, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                          const_cast<char*>(tag)) != 1) {
    return false;
  }
  return EVP_DecryptFinal_ex(ctx_, p + len, &len) == 1;
}

std::string aead_seal(std::string_view key, std::string_view aad, std::string_view plain) {
  if (key.size() != kKeyBytes) crypto_failure("aead key");
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  std::string out = random_bytes(kNonceBytes);
  out.resize(kNonceBytes + plain.size() + kTagBytes);
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u8(key), o) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), o + kNonceBytes, &len, u8(plain),
                        static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), o + kNonceBytes + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          o + kNonceBytes + plain.size()) != 1) {
    crypto_failure("aead seal");
  }
  return out;
}

std::optional<std::string> aead_open(std::string_view key, std::string_view aad,
                                     std::string_view sealed) {
  if (key.size() != kKeyBytes || sealed.size() < kNonceBytes + kTagBytes) return std::nullopt;
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  const std::size_t n = sealed.size() - kNonceBytes - kTagBytes;
  std::string out(n, '\0');
  std::string tag(sealed.substr(kNonceBytes + n));
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u8(key), u8(sealed)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, u8(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                        u8(sealed) + kNonceBytes, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                          tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len, &len) !=
          1) {
    return std::nullopt;
  }
  return out;
}

KeyPair x25519_generate() {
  KeyPair kp;
  kp.private_key = random_bytes(32);
  auto pub = x25519_public(kp.private_key);
  if (!pub) crypto_failure("X25519 keygen");
  kp.public_key = std::move(*pub);
  return kp;
}

std::optional<std::string> x25519_public(std::string_view private_key) {
  if (private_key.size() != 32) return std::nullopt;
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, u8(private_key), 32));
  if (!key) return std::nullopt;
  std::string pub(32, '\0');
  std::size_t len = 32;
  if (EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(pub.data()), &len) !=
          1 ||
      len != 32) {
    return std::nullopt;
  }
  return pub;
}

std::optional<std::string> x25519_shared(std::string_view private_key,
                                         std::string_view peer_public) {
  if (private_key.size() != 32 || peer_public.size() != 32) return std::nullopt;
  std::unique_ptr<EVP_PKEY, PkeyFree> ours(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, u8(private_key), 32));
  std::unique_ptr<EVP_PKEY, PkeyFree> theirs(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, u8(peer_public), 32));
  if (!ours || !theirs) return std::nullopt;
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(ours.get(), nullptr));
  std::string shared(32, '\0');
  std::size_t len = 32;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), theirs.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(shared.data()), &len) != 1 ||
      len != 32) {
    return std::nullopt;  // e.g. a low-order public key: the shared value would be all zero
  }
  return shared;
}

}  // namespace raftd::peer
