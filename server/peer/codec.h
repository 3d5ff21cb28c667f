// The peer wire format: pure encoding and decoding, no sockets (the transport is transport.h).
//
// A frame is
//   [u32 big-endian body length][u8 format version][u8 frame type][payload][u32 big-endian CRC32C]
// where "body" is everything after the length field (version + type + payload + CRC, so the body
// length is at least 6) and the CRC covers version + type + payload. Integers in payloads are
// LEB128 varints; strings are a varint length then the bytes.
//
// The encoding is canonical: decoding accepts only what the encoder produces (minimal varints,
// optional fields present only when non-default), so encode(decode(bytes)) == bytes. Decoding
// never throws and never trusts a length before checking it against the bytes at hand and the
// configured maximum frame size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "raft/message.h"
#include "raft/types.h"

namespace raftd::peer {

/// Bumped when the framing or a payload layout changes incompatibly.
inline constexpr std::uint8_t kFormatVersion = 1;
/// What a node speaks at the protocol level (sent in the handshake).
inline constexpr std::uint32_t kProtocolVersion = 1;

inline constexpr std::size_t kFrameHeaderBytes = 4;        ///< the length prefix
inline constexpr std::size_t kFrameOverheadBytes = 4 + 6;  ///< length + version + type + CRC
/// Room for the largest AppendEntries batch we allow (64 MiB) plus one snapshot chunk (1 MiB) and
/// the message's own fields.
inline constexpr std::size_t kDefaultMaxFrameBytes = (64u << 20) + (1u << 20) + (64u << 10);

inline constexpr std::size_t kMaxNonceBytes = 64;
inline constexpr std::size_t kMaxAuthProofBytes = 64;
inline constexpr std::size_t kMaxAddressBytes = 1024;

enum class FrameType : std::uint8_t {
  kHandshake = 1,
  kRaft = 2,
  kForward = 3,
  kForwardReply = 4,
};

const char* to_string(FrameType t);

/// The first frame in each direction of every peer connection. The accepting side sends its
/// handshake first, carrying a fresh `nonce`; the dialing side answers with its own, carrying
/// `auth_proof` computed over that nonce when a shared secret is configured (see auth.h).
struct Handshake {
  std::uint64_t cluster_id = 0;  ///< 0: the sender does not know its cluster yet
  raft::NodeId node_id = raft::kNoNode;
  std::string client_addr;  ///< the sender's client address "host:port" (for redirects)
  std::uint32_t protocol_version = kProtocolVersion;
  std::string nonce;       ///< challenge (acceptor -> dialer); at most kMaxNonceBytes
  std::string auth_proof;  ///< answer to the challenge (dialer -> acceptor); may be empty

  bool operator==(const Handshake&) const = default;
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
using Frame = std::variant<Handshake, raft::Message, Forward, ForwardReply>;

FrameType frame_type(const Frame& f);

// --- Encoding --------------------------------------------------------------------------------

/// Appends one complete frame to `out`; returns the number of bytes appended.
std::size_t append_frame(std::string& out, const Handshake& h);
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

/// Appends only the payload (no framing) of a frame; used by tests and the fuzz target.
void append_payload(std::string& out, const Frame& f);

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
  explicit FrameReader(std::size_t max_frame_bytes = kDefaultMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

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
  std::size_t max_frame_bytes_;
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
