// The peer wire format: pure encoding and decoding, no sockets (the transport is transport.h).
//
// A frame is
//   [u32 big-endian body length][u8 format version][u8 frame type][payload][u32 big-endian CRC32C]
// where "body" is everything after the length field (version + type + payload + CRC, so the body
// length is at least 6) and the CRC covers version + type + payload. Only the handshake travels
// so (Challenge, Hello, Welcome, Refusal: handshake.h); every frame after it is sealed
// (seal_frames): the payload encrypted with AES-256-GCM and the CRC replaced by the 16-byte tag,
// which authenticates the length, version, type and payload and the frame's place in the stream.
// Integers in payloads are LEB128 varints; strings are a varint length then the bytes.
//
// The encoding is canonical: decoding accepts only what the encoder produces (minimal varints,
// optional fields present only when non-default), so encode(decode(bytes)) == bytes. Decoding
// never throws and never trusts a length before checking it against the bytes at hand and the
// configured maximum frame size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "raft/message.h"
#include "raft/types.h"

namespace raftd::peer {

/// Bumped when the framing or a payload layout changes incompatibly. 2: the authenticated
/// handshake (Challenge, Hello, Welcome, Refusal) and sealed frames after it.
inline constexpr std::uint8_t kFormatVersion = 2;
/// What a node speaks at the protocol level (sent in the handshake).
inline constexpr std::uint32_t kProtocolVersion = 2;

inline constexpr std::size_t kFrameHeaderBytes = 4;        ///< the length prefix
inline constexpr std::size_t kFrameOverheadBytes = 4 + 6;  ///< length + version + type + CRC
/// A sealed frame (after the handshake) carries a 16-byte AES-GCM tag instead of the CRC.
inline constexpr std::size_t kSealedOverheadBytes = 4 + 2 + 16;
/// Room for the largest AppendEntries batch we allow (64 MiB) plus one snapshot chunk (1 MiB) and
/// the message's own fields.
inline constexpr std::size_t kDefaultMaxFrameBytes = (64u << 20) + (1u << 20) + (64u << 10);
/// Before a connection has proven it knows the cluster secret, its frames are at most this big
/// (a Hello is well under 2 KB): a stranger cannot make us buffer more.
inline constexpr std::size_t kMaxUnauthenticatedFrameBytes = 4096;
/// A Welcome may carry the founding record (a few hundred bytes per member).
inline constexpr std::size_t kMaxWelcomeFrameBytes = 256 * 1024;

inline constexpr std::size_t kMaxNonceBytes = 64;
inline constexpr std::size_t kMaxAuthProofBytes = 64;
inline constexpr std::size_t kMaxAddressBytes = 1024;
inline constexpr std::size_t kMaxKeyBytes = 64;
inline constexpr std::size_t kMaxRefusalTextBytes = 1024;
inline constexpr std::size_t kMaxFoundingMembers = 255;

enum class FrameType : std::uint8_t {
  kChallenge = 1,
  kRaft = 2,
  kForward = 3,
  kForwardReply = 4,
  kHello = 5,
  kWelcome = 6,
  kRefusal = 7,
};

const char* to_string(FrameType t);

// The handshake (handshake.h has the rules): the accepting side sends a Challenge, nothing but a
// fresh nonce, so a caller learns nothing before it proves itself; the dialing side answers with
// a Hello (its own nonce, who it is, and a proof of the cluster secret over both nonces); the
// acceptor answers with a Welcome (who it is, its proof) or a Refusal, and only then, if both
// proofs held, frames flow, sealed (dialer to acceptor; the acceptor sends nothing after its
// Welcome).

struct Challenge {
  std::uint32_t protocol_version = kProtocolVersion;
  std::string nonce;

  bool operator==(const Challenge&) const = default;
};

/// What a node says about itself in its Hello or Welcome.
struct PeerIdentity {
  std::uint64_t cluster_id = 0;  ///< 0: not formed yet (a new data directory)
  raft::NodeId node_id = raft::kNoNode;
  std::uint64_t dir_id = 0;  ///< random, fixed when its data directory was created
  std::string client_addr;   ///< "host:port", for redirects and INFO
  /// Digest of the member list it was started with (-e plus itself): nodes form a cluster only
  /// with nodes started with the same list.
  std::uint64_t ensemble = 0;
  /// A node that is not formed yet: its X25519 public key, for the founding record.
  std::string formation_key;

  bool operator==(const PeerIdentity&) const = default;
};

struct Hello {
  std::uint32_t protocol_version = kProtocolVersion;
  std::string nonce;
  PeerIdentity id;
  std::string proof;  ///< empty when the dialer holds no cluster secret yet

  bool operator==(const Hello&) const = default;
};

/// One founding member, as the node that formed the cluster recorded it.
struct FoundingMember {
  raft::NodeId node_id = raft::kNoNode;
  std::string client_addr;
  std::uint64_t dir_id = 0;
  std::string formation_key;  ///< its X25519 public key at formation
  std::string
      sealed_secret;  ///< the cluster secret, sealed for that key (server/node/membership.h)

  bool operator==(const FoundingMember&) const = default;
};

/// How a cluster was formed: its id, its founding members, and the cluster secret sealed for
/// each of them. Every founding member stores it and hands it to a member that has not adopted
/// it yet; only that member's own private key opens its copy of the secret.
struct FormationRecord {
  std::uint64_t cluster_id = 0;
  raft::NodeId founder = raft::kNoNode;
  std::string founder_key;  ///< the founder's X25519 public key for this formation
  std::vector<FoundingMember> members;

  bool operator==(const FormationRecord&) const = default;
};

struct Welcome {
  PeerIdentity id;
  std::string proof;  ///< empty when the acceptor holds no cluster secret yet
  /// The acceptor admitted the dialer: frames may follow. Otherwise it closes after this.
  bool admitted = false;
  bool has_formation = false;
  FormationRecord formation;  ///< for a founding member that has not adopted it yet

  bool operator==(const Welcome&) const = default;
};

enum class RefusalReason : std::uint8_t {
  kAuthentication = 1,  ///< no proof, or a wrong one, of the cluster secret
  kNotMember = 2,       ///< not a member of this cluster
  kLostData = 3,        ///< a member id with a data directory other than the member's
  kOtherCluster = 4,    ///< a node of another cluster
  kEnsemble = 5,        ///< started with another member list
  kProtocol = 6,        ///< a version or a frame we do not take
  kBusy = 7,            ///< too many connections
};
const char* to_string(RefusalReason r);

/// The acceptor's "no", with a reason; then it closes. To a caller that has not proven itself
/// the text says no more than the reason.
struct Refusal {
  RefusalReason reason = RefusalReason::kAuthentication;
  std::string text;

  bool operator==(const Refusal&) const = default;
};

/// A client command a follower forwards to the leader.
struct Forward {
  std::uint64_t request_id = 0;
  std::vector<std::string> args;

  bool operator==(const Forward&) const = default;
};

/// The leader's answer to a Forward: the reply, already RESP-encoded.
struct ForwardReply {
  std::uint64_t request_id = 0;
  std::string reply;

  bool operator==(const ForwardReply&) const = default;
};

/// Alternatives in FrameType order (index + 1 == FrameType value).
using Frame =
    std::variant<Challenge, raft::Message, Forward, ForwardReply, Hello, Welcome, Refusal>;

FrameType frame_type(const Frame& f);

// --- Encoding --------------------------------------------------------------------------------

/// Appends one complete frame to `out`; returns the number of bytes appended.
std::size_t append_frame(std::string& out, const Challenge& c);
std::size_t append_frame(std::string& out, const Hello& h);
std::size_t append_frame(std::string& out, const Welcome& w);
std::size_t append_frame(std::string& out, const Refusal& r);
std::size_t append_frame(std::string& out, const raft::Message& m);
std::size_t append_frame(std::string& out, const Forward& f);
std::size_t append_frame(std::string& out, const ForwardReply& r);
std::size_t append_frame(std::string& out, const Frame& f);

std::string encode_frame(const Frame& f);

/// The same frames as append_frame(Forward/ForwardReply) without building the struct first
/// (saves copying a forwarded command's arguments).
std::size_t append_forward_frame(std::string& out, std::uint64_t request_id,
                                 const std::vector<std::string>& args);
std::size_t append_forward_reply_frame(std::string& out, std::uint64_t request_id,
                                       std::string_view reply);

/// Appends only the payload (no framing) of a frame; used by tests, the fuzz target and the
/// handshake proofs (which cover a Hello's or Welcome's payload with its proof left empty).
void append_payload(std::string& out, const Frame& f);
/// The payload of a founding record alone (stored in the data directory as it travels).
std::string encode_formation(const FormationRecord& r);
std::optional<FormationRecord> decode_formation(std::string_view bytes);

class FrameCipher;
/// Re-encodes the plaintext frames in `plain` (as append_frame wrote them) as sealed frames
/// appended to `out`: each payload encrypted and authenticated with `cipher`, together with
/// its length, version and type, the CRC replaced by the tag. Returns the frames sealed.
std::size_t seal_frames(FrameCipher& cipher, std::string_view plain, std::string& out);

// --- Decoding --------------------------------------------------------------------------------

enum class DecodeStatus : std::uint8_t { kOk, kNeedMore, kError };

enum class DecodeError : std::uint8_t {
  kNone = 0,
  kBadLength,         ///< body length below the 6-byte minimum
  kOversized,         ///< body length above the configured maximum
  kBadVersion,        ///< format version we do not speak
  kBadChecksum,       ///< CRC32C mismatch
  kUnknownType,       ///< frame type we do not know
  kMalformedPayload,  ///< payload does not parse (truncated field, bad enum, trailing bytes...)
};

const char* to_string(DecodeError e);

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  DecodeError error = DecodeError::kNone;
  std::string detail;        ///< human-readable, for logs (set on kError)
  std::size_t consumed = 0;  ///< bytes of the frame (set on kOk)
};

/// Decodes the frame at the front of `buf`. kNeedMore when `buf` holds only a prefix of a frame
/// (as soon as the length prefix is readable it is checked against `max_frame_bytes`, which bounds
/// the body, so an oversized frame is refused before its bytes arrive).
DecodeResult decode_frame(std::string_view buf, Frame& out,
                          std::size_t max_frame_bytes = kDefaultMaxFrameBytes);

/// Decodes a bare payload of the given type (no length, version or CRC). Returns kOk or kError.
DecodeResult decode_payload(FrameType type, std::string_view payload, Frame& out);

/// Incremental reader for a byte stream: feed() bytes as they arrive, then call next() until it
/// stops returning kOk. An error is sticky: the stream cannot be resynchronised, so the caller
/// drops the connection.
class FrameReader {
 public:
  explicit FrameReader(std::size_t max_frame_bytes = kDefaultMaxFrameBytes);
  ~FrameReader();

  /// From the next frame on, frames are sealed (seal_frames) and opened with `cipher`; one
  /// whose tag does not verify (forged, altered, replayed, reordered) is a kBadChecksum error.
  void set_cipher(std::unique_ptr<FrameCipher> cipher);
  void set_max_frame_bytes(std::size_t max) { max_frame_bytes_ = max; }

  void feed(std::string_view bytes);
  /// On kOk, `out` holds the next frame; on kError, error() describes the problem.
  DecodeStatus next(Frame& out);

  const DecodeResult& last_error() const { return error_; }
  /// Bytes received but not yet returned as frames.
  std::size_t buffered() const { return buf_.size() - pos_; }
  /// Frames returned so far.
  std::uint64_t frames() const { return frames_; }
  /// Encoded size of the frame the last successful next() returned.
  std::size_t last_frame_bytes() const { return last_frame_bytes_; }

 private:
  DecodeResult next_sealed(Frame& out);

  std::size_t max_frame_bytes_;
  std::unique_ptr<FrameCipher> cipher_;
  std::string buf_;
  std::size_t pos_ = 0;  // start of the first unread frame in buf_
  bool failed_ = false;
  DecodeResult error_;
  std::uint64_t frames_ = 0;
  std::size_t last_frame_bytes_ = 0;
};

// --- Varints (exposed for tests) -------------------------------------------------------------

void put_varint(std::string& out, std::uint64_t v);
/// Reads a minimal LEB128 varint at `*pos`; false (pos unchanged) if truncated, longer than 10
/// bytes, overflowing 64 bits or not minimal.
bool get_varint(std::string_view in, std::size_t* pos, std::uint64_t* v);

}  // namespace raftd::peer
