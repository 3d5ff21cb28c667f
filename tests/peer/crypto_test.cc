// The peer protocol's cryptography (server/peer/crypto.h, handshake.h): known-answer vectors for
// the primitives, and the properties the handshake relies on: proofs bind every input, sealed
// frames refuse forgery, alteration, replay and reordering, a sealed secret opens only for its
// member.
#include "server/peer/crypto.h"

#include <catch2/catch.hpp>
#include <string>

#include "server/peer/codec.h"
#include "server/peer/handshake.h"

using namespace raftd::peer;

TEST_CASE("sha256 matches FIPS 180-4 examples", "[peer][crypto]") {
  CHECK(to_hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(to_hex(sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha256(std::string(1000000, 'a'))) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("hmac_sha256 matches RFC 4231", "[peer][crypto]") {
  CHECK(to_hex(hmac_sha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(to_hex(hmac_sha256(std::string(131, '\xaa'),
                           "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST_CASE("hex and constant-time compare", "[peer][crypto]") {
  CHECK(to_hex(std::string("\x00\xff\x10", 3)) == "00ff10");
  CHECK(from_hex("00ff10") == std::string("\x00\xff\x10", 3));
  CHECK_FALSE(from_hex("0"));
  CHECK_FALSE(from_hex("zz"));
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "ab"));
  CHECK(random_bytes(32).size() == 32);
  CHECK(random_bytes(32) != random_bytes(32));
}

TEST_CASE("sealed frames refuse forgery, alteration, replay and reordering", "[peer][crypto]") {
  const std::string key = random_bytes(kKeyBytes);
  std::string plain;
  append_frame(plain, ForwardReply{1, "+OK\r\n"});
  append_frame(plain, ForwardReply{2, std::string(100000, 'v')});
  append_frame(plain, ForwardReply{3, ""});
  FrameCipher sealer(key);
  std::string sealed;
  REQUIRE(seal_frames(sealer, plain, sealed) == 3);
  REQUIRE(sealed.size() == plain.size() + 3 * (kTagBytes - 4));
  // The payload is not readable on the wire.
  CHECK(sealed.find(std::string(1000, 'v')) == std::string::npos);

  auto read_all = [&](std::string_view bytes, std::vector<Frame>& got) {
    FrameReader reader;
    reader.set_cipher(std::make_unique<FrameCipher>(key));
    reader.feed(bytes);
    Frame f;
    DecodeStatus st;
    while ((st = reader.next(f)) == DecodeStatus::kOk) got.push_back(f);
    return st;
  };
  std::vector<Frame> got;
  CHECK(read_all(sealed, got) == DecodeStatus::kNeedMore);
  REQUIRE(got.size() == 3);
  CHECK(std::get<ForwardReply>(got[1]).reply.size() == 100000);

  // One flipped bit anywhere in the first frame's body fails its tag.
  const std::size_t first =
      4 + ((std::uint32_t(std::uint8_t(sealed[2])) << 8) | std::uint8_t(sealed[3]));
  for (std::size_t i = 4; i < first; ++i) {
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    got.clear();
    INFO("byte " << i);
    REQUIRE(read_all(bad, got) == DecodeStatus::kError);
    REQUIRE(got.empty());
  }
  // A frame repeated (replayed) or two swapped fail: each is bound to its position.
  got.clear();
  CHECK(read_all(sealed.substr(0, first) + sealed.substr(0, first), got) == DecodeStatus::kError);
  CHECK(got.size() == 1);
  got.clear();
  CHECK(read_all(sealed.substr(first), got) == DecodeStatus::kError);
  CHECK(got.empty());
  // Another connection's key opens nothing.
  FrameReader other;
  other.set_cipher(std::make_unique<FrameCipher>(random_bytes(kKeyBytes)));
  other.feed(sealed);
  Frame f;
  CHECK(other.next(f) == DecodeStatus::kError);
}

TEST_CASE("aead seals and opens, and refuses what was altered", "[peer][crypto]") {
  const std::string key = random_bytes(kKeyBytes);
  const std::string sealed = aead_seal(key, "aad", "the secret");
  CHECK(aead_open(key, "aad", sealed) == std::string("the secret"));
  CHECK_FALSE(aead_open(key, "other aad", sealed));
  CHECK_FALSE(aead_open(random_bytes(kKeyBytes), "aad", sealed));
  std::string bad = sealed;
  bad[14] = static_cast<char>(bad[14] ^ 1);
  CHECK_FALSE(aead_open(key, "aad", bad));
}

TEST_CASE("RFC 7748 X25519 test vector and agreement", "[peer][crypto]") {
  const auto alice = *from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const auto bob = *from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  CHECK(to_hex(*x25519_public(alice)) ==
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  CHECK(to_hex(*x25519_public(bob)) ==
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  CHECK(to_hex(*x25519_shared(alice, *x25519_public(bob))) ==
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  CHECK(x25519_shared(bob, *x25519_public(alice)) == x25519_shared(alice, *x25519_public(bob)));
  const KeyPair a = x25519_generate();
  const KeyPair b = x25519_generate();
  CHECK(x25519_shared(a.private_key, b.public_key) == x25519_shared(b.private_key, a.public_key));
  CHECK_FALSE(x25519_shared(a.private_key, std::string(32, '\0')));  // low-order point
  CHECK_FALSE(x25519_public("short"));
}

TEST_CASE("a sealed cluster secret opens only for its member, id and cluster", "[peer][crypto]") {
  const KeyPair founder = x25519_generate();
  const KeyPair member = x25519_generate();
  const KeyPair stranger = x25519_generate();
  const std::string secret = random_bytes(kClusterSecretBytes);
  const auto sealed = seal_secret_for(founder.private_key, member.public_key, 77, 2, secret);
  REQUIRE(sealed);
  CHECK(open_sealed_secret(member.private_key, founder.public_key, 77, 2, *sealed) == secret);
  CHECK_FALSE(open_sealed_secret(stranger.private_key, founder.public_key, 77, 2, *sealed));
  CHECK_FALSE(open_sealed_secret(member.private_key, founder.public_key, 78, 2, *sealed));
  CHECK_FALSE(open_sealed_secret(member.private_key, founder.public_key, 77, 3, *sealed));
  CHECK_FALSE(open_sealed_secret(member.private_key, stranger.public_key, 77, 2, *sealed));
  // A member key that is not one (a low-order point) seals nothing.
  CHECK_FALSE(seal_secret_for(founder.private_key, std::string(32, '\0'), 77, 2, secret));
}

TEST_CASE("handshake proofs bind the secret, both nonces and every field", "[peer][crypto]") {
  Hello h;
  h.nonce = std::string(32, 'd');
  h.id.cluster_id = 7;
  h.id.node_id = 1;
  h.id.dir_id = 99;
  h.id.client_addr = "127.0.0.1:7001";
  const std::string na(32, 'a');
  const std::string base = hello_proof("s3cret", na, h);
  CHECK(base.size() == 32);
  h.proof = "ignored";
  CHECK(hello_proof("s3cret", na, h) == base);
  CHECK(hello_proof("s3cret!", na, h) != base);
  CHECK(hello_proof("s3cret", std::string(32, 'b'), h) != base);
  Hello other = h;
  other.id.node_id = 2;
  CHECK(hello_proof("s3cret", na, other) != base);
  other = h;
  other.id.dir_id = 98;
  CHECK(hello_proof("s3cret", na, other) != base);
  other = h;
  other.nonce = std::string(32, 'e');
  CHECK(hello_proof("s3cret", na, other) != base);

  Welcome w;
  w.id = h.id;
  const std::string wp = welcome_proof("s3cret", na, h.nonce, w);
  CHECK(wp != base);  // a hello proof is never a welcome proof
  CHECK(welcome_proof("s3cret", na, std::string(32, 'x'), w) != wp);
  CHECK(session_key("s3cret", na, h.nonce) != session_key("s3cret", h.nonce, na));
}

TEST_CASE("ensemble digests tell member lists apart", "[peer][crypto]") {
  const std::map<raft::NodeId, std::string> a = {{1, "h:1"}, {2, "h:2"}};
  std::map<raft::NodeId, std::string> b = a;
  CHECK(ensemble_digest(a) == ensemble_digest(b));
  b[3] = "h:3";
  CHECK(ensemble_digest(a) != ensemble_digest(b));
  b = a;
  b[2] = "h:22";
  CHECK(ensemble_digest(a) != ensemble_digest(b));
}
