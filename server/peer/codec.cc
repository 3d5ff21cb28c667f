#include "server/peer/codec.h"

#include <limits>
#include <utility>

#include "server/peer/crypto.h"
#include "storage/crc32c.h"

namespace raftd::peer {
namespace {

// Presence bits of a Raft message's optional fields, in payload order. Only non-default fields
// are written, which keeps heartbeats and acks to a dozen bytes.
enum MessageField : std::uint32_t {
  kLogTerm = 1u << 0,
  kIndex = 1u << 1,
  kEntries = 1u << 2,
  kCommit = 1u << 3,
  kReject = 1u << 4,  // no value: the bit is the bool
  kRejectHint = 1u << 5,
  kHintTerm = 1u << 6,
  kContext = 1u << 7,
  kSnapIndex = 1u << 8,
  kSnapTerm = 1u << 9,
  kSnapVoters = 1u << 10,
  kSnapLearners = 1u << 11,
  kSnapOffset = 1u << 12,
  kSnapSize = 1u << 13,
  kSnapData = 1u << 14,
  kSnapDone = 1u << 15,  // no value: the bit is the bool
  kAllFields = (1u << 16) - 1,
};

constexpr std::uint8_t kMaxMessageType =
    static_cast<std::uint8_t>(raft::MessageType::kReadIndexResp);
constexpr std::uint8_t kMaxEntryType = static_cast<std::uint8_t>(raft::EntryType::kConfChange);

void put_u32_be(std::string& out, std::uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 4);
}

std::uint32_t get_u32_be(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         std::uint32_t{u[3]};
}

void put_bytes(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

void put_ids(std::string& out, const std::vector<raft::NodeId>& ids) {
  put_varint(out, ids.size());
  for (raft::NodeId id : ids) put_varint(out, id);
}

void put_message(std::string& out, const raft::Message& m) {
  out.push_back(static_cast<char>(m.type));
  put_varint(out, m.from);
  put_varint(out, m.to);
  put_varint(out, m.term);

  std::uint32_t mask = 0;
  if (m.log_term != 0) mask |= kLogTerm;
  if (m.index != 0) mask |= kIndex;
  if (!m.entries.empty()) mask |= kEntries;
  if (m.commit != 0) mask |= kCommit;
  if (m.reject) mask |= kReject;
  if (m.reject_hint != 0) mask |= kRejectHint;
  if (m.hint_term != 0) mask |= kHintTerm;
  if (!m.context.empty()) mask |= kContext;
  if (m.snapshot.index != 0) mask |= kSnapIndex;
  if (m.snapshot.term != 0) mask |= kSnapTerm;
  if (!m.snapshot.conf.voters.empty()) mask |= kSnapVoters;
  if (!m.snapshot.conf.learners.empty()) mask |= kSnapLearners;
  if (m.snapshot_offset != 0) mask |= kSnapOffset;
  if (m.snapshot_size != 0) mask |= kSnapSize;
  if (!m.snapshot_data.empty()) mask |= kSnapData;
  if (m.snapshot_done) mask |= kSnapDone;
  put_varint(out, mask);

  if (mask & kLogTerm) put_varint(out, m.log_term);
  if (mask & kIndex) put_varint(out, m.index);
  if (mask & kEntries) {
    put_varint(out, m.entries.size());
    // Consecutive entries have consecutive indexes and mostly equal terms, so deltas (mod 2^64,
    // which keeps any value exact) are usually one byte each.
    raft::Index prev_index = m.index;
    raft::Term prev_term = 0;
    for (const raft::Entry& e : m.entries) {
      put_varint(out, e.term - prev_term);
      put_varint(out, e.index - prev_index - 1);
      out.push_back(static_cast<char>(e.type));
      put_bytes(out, e.data);
      prev_index = e.index;
      prev_term = e.term;
    }
  }
  if (mask & kCommit) put_varint(out, m.commit);
  if (mask & kRejectHint) put_varint(out, m.reject_hint);
  if (mask & kHintTerm) put_varint(out, m.hint_term);
  if (mask & kContext) put_bytes(out, m.context);
  if (mask & kSnapIndex) put_varint(out, m.snapshot.index);
  if (mask & kSnapTerm) put_varint(out, m.snapshot.term);
  if (mask & kSnapVoters) put_ids(out, m.snapshot.conf.voters);
  if (mask & kSnapLearners) put_ids(out, m.snapshot.conf.learners);
  if (mask & kSnapOffset) put_varint(out, m.snapshot_offset);
  if (mask & kSnapSize) put_varint(out, m.snapshot_size);
  if (mask & kSnapData) put_bytes(out, m.snapshot_data);
}

void put_payload(std::string& out, const Challenge& c) {
  put_varint(out, c.protocol_version);
  put_bytes(out, c.nonce);
}

void put_identity(std::string& out, const PeerIdentity& id) {
  put_varint(out, id.cluster_id);
  put_varint(out, id.node_id);
  put_varint(out, id.dir_id);
  put_bytes(out, id.client_addr);
  put_varint(out, id.ensemble);
  put_bytes(out, id.formation_key);
}

void put_payload(std::string& out, const Hello& h) {
  put_varint(out, h.protocol_version);
  put_bytes(out, h.nonce);
  put_identity(out, h.id);
  put_bytes(out, h.proof);
}

void put_formation(std::string& out, const FormationRecord& r) {
  put_varint(out, r.cluster_id);
  put_varint(out, r.founder);
  put_bytes(out, r.founder_key);
  put_varint(out, r.members.size());
  for (const FoundingMember& m : r.members) {
    put_varint(out, m.node_id);
    put_bytes(out, m.client_addr);
    put_varint(out, m.dir_id);
    put_bytes(out, m.formation_key);
    put_bytes(out, m.sealed_secret);
  }
}

void put_payload(std::string& out, const Welcome& w) {
  put_identity(out, w.id);
  put_bytes(out, w.proof);
  out.push_back(static_cast<char>((w.has_formation ? 1 : 0) | (w.admitted ? 2 : 0)));
  if (w.has_formation) put_formation(out, w.formation);
}

void put_payload(std::string& out, const Refusal& r) {
  out.push_back(static_cast<char>(r.reason));
  put_bytes(out, r.text);
}

void put_payload(std::string& out, const raft::Message& m) {
  put_message(out, m);
}

// Views of Forward / ForwardReply, so the transport can encode without copying the strings.
struct ForwardRef {
  std::uint64_t request_id;
  const std::vector<std::string>& args;
};
struct ForwardReplyRef {
  std::uint64_t request_id;
  std::string_view reply;
};

void put_payload(std::string& out, const ForwardRef& f) {
  put_varint(out, f.request_id);
  put_varint(out, f.args.size());
  for (const std::string& a : f.args) put_bytes(out, a);
}

void put_payload(std::string& out, const ForwardReplyRef& r) {
  put_varint(out, r.request_id);
  put_bytes(out, r.reply);
}

void put_payload(std::string& out, const Forward& f) {
  put_payload(out, ForwardRef{f.request_id, f.args});
}

void put_payload(std::string& out, const ForwardReply& r) {
  put_payload(out, ForwardReplyRef{r.request_id, r.reply});
}

template <typename T>
std::size_t append_typed(std::string& out, FrameType type, const T& value) {
  const std::size_t start = out.size();
  put_u32_be(out, 0);  // body length, patched below once the payload size is known
  out.push_back(static_cast<char>(kFormatVersion));
  out.push_back(static_cast<char>(type));
  put_payload(out, value);
  const std::size_t covered = out.size() - start - kFrameHeaderBytes;
  put_u32_be(out,
             storage::crc32c(std::string_view(out).substr(start + kFrameHeaderBytes, covered)));
  const std::size_t body = out.size() - start - kFrameHeaderBytes;
  const auto b = static_cast<std::uint32_t>(body);
  out[start] = static_cast<char>(b >> 24);
  out[start + 1] = static_cast<char>(b >> 16);
  out[start + 2] = static_cast<char>(b >> 8);
  out[start + 3] = static_cast<char>(b);
  return out.size() - start;
}

// Reads the fields of a payload, remembering the first failure for the error message.
class Cursor {
 public:
  explicit Cursor(std::string_view in) : in_(in) {}

  bool varint(std::uint64_t* v, const char* field) {
    if (!get_varint(in_, &pos_, v)) return fail(field, "bad or truncated varint");
    return true;
  }
  bool nonzero_varint(std::uint64_t* v, const char* field) {
    if (!varint(v, field)) return false;
    if (*v == 0) return fail(field, "marked present but zero");
    return true;
  }
  bool u8(std::uint8_t* v, const char* field) {
    if (pos_ >= in_.size()) return fail(field, "truncated");
    *v = static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }
  bool bytes(std::string* s, std::size_t max, const char* field) {
    std::uint64_t n = 0;
    if (!varint(&n, field)) return false;
    if (n > in_.size() - pos_) return fail(field, "length exceeds the payload");
    if (n > max) return fail(field, "too long");
    s->assign(in_.data() + pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return true;
  }
  /// A count of elements that each take at least one byte: bounded by the bytes left, so a
  /// forged count cannot make us reserve memory the frame does not back.
  bool count(std::uint64_t* n, const char* field) {
    if (!varint(n, field)) return false;
    if (*n > in_.size() - pos_) return fail(field, "count exceeds the payload");
    return true;
  }
  bool ids(std::vector<raft::NodeId>* out, const char* field) {
    std::uint64_t n = 0;
    if (!count(&n, field)) return false;
    if (n == 0) return fail(field, "marked present but empty");
    out->resize(static_cast<std::size_t>(n));
    for (auto& id : *out) {
      if (!varint(&id, field)) return false;
    }
    return true;
  }
  bool finish() {
    if (pos_ != in_.size()) return fail("payload", "trailing bytes");
    return true;
  }
  bool fail(const char* field, const char* what) {
    if (error_.empty()) error_ = std::string(field) + ": " + what;
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
  std::string error_;
};

bool get_u32(Cursor& c, std::uint32_t* v, const char* field) {
  std::uint64_t wide = 0;
  if (!c.varint(&wide, field)) return false;
  if (wide > std::numeric_limits<std::uint32_t>::max()) return c.fail(field, "out of range");
  *v = static_cast<std::uint32_t>(wide);
  return true;
}

bool get_payload(Cursor& c, Challenge& ch) {
  return get_u32(c, &ch.protocol_version, "challenge.protocol_version") &&
         c.bytes(&ch.nonce, kMaxNonceBytes, "challenge.nonce") && c.finish();
}

bool get_identity(Cursor& c, PeerIdentity& id) {
  return c.varint(&id.cluster_id, "identity.cluster_id") &&
         c.varint(&id.node_id, "identity.node_id") && c.varint(&id.dir_id, "identity.dir_id") &&
         c.bytes(&id.client_addr, kMaxAddressBytes, "identity.client_addr") &&
         c.varint(&id.ensemble, "identity.ensemble") &&
         c.bytes(&id.formation_key, kMaxKeyBytes, "identity.formation_key");
}

bool get_payload(Cursor& c, Hello& h) {
  return get_u32(c, &h.protocol_version, "hello.protocol_version") &&
         c.bytes(&h.nonce, kMaxNonceBytes, "hello.nonce") && get_identity(c, h.id) &&
         c.bytes(&h.proof, kMaxAuthProofBytes, "hello.proof") && c.finish();
}

bool get_formation(Cursor& c, FormationRecord& r) {
  std::uint64_t n = 0;
  if (!c.varint(&r.cluster_id, "formation.cluster_id") ||
      !c.varint(&r.founder, "formation.founder") ||
      !c.bytes(&r.founder_key, kMaxKeyBytes, "formation.founder_key") ||
      !c.count(&n, "formation.members")) {
    return false;
  }
  if (n > kMaxFoundingMembers) return c.fail("formation.members", "too many");
  r.members.resize(static_cast<std::size_t>(n));
  for (FoundingMember& m : r.members) {
    if (!c.varint(&m.node_id, "member.node_id") ||
        !c.bytes(&m.client_addr, kMaxAddressBytes, "member.client_addr") ||
        !c.varint(&m.dir_id, "member.dir_id") ||
        !c.bytes(&m.formation_key, kMaxKeyBytes, "member.formation_key") ||
        !c.bytes(&m.sealed_secret, 4 * kMaxKeyBytes, "member.sealed_secret")) {
      return false;
    }
  }
  return true;
}

bool get_payload(Cursor& c, Welcome& w) {
  std::uint8_t flag = 0;
  if (!get_identity(c, w.id) || !c.bytes(&w.proof, kMaxAuthProofBytes, "welcome.proof") ||
      !c.u8(&flag, "welcome.flags")) {
    return false;
  }
  if (flag > 3) return c.fail("welcome.flags", "unknown flag bits");
  w.has_formation = (flag & 1) != 0;
  w.admitted = (flag & 2) != 0;
  if (w.has_formation && !get_formation(c, w.formation)) return false;
  return c.finish();
}

bool get_payload(Cursor& c, Refusal& r) {
  std::uint8_t reason = 0;
  if (!c.u8(&reason, "refusal.reason")) return false;
  if (reason < 1 || reason > static_cast<std::uint8_t>(RefusalReason::kBusy)) {
    return c.fail("refusal.reason", "unknown reason");
  }
  r.reason = static_cast<RefusalReason>(reason);
  return c.bytes(&r.text, kMaxRefusalTextBytes, "refusal.text") && c.finish();
}

bool get_payload(Cursor& c, raft::Message& m) {
  std::uint8_t type = 0;
  if (!c.u8(&type, "message.type")) return false;
  if (type > kMaxMessageType) return c.fail("message.type", "unknown message type");
  m.type = static_cast<raft::MessageType>(type);
  std::uint64_t mask = 0;
  if (!c.varint(&m.from, "message.from") || !c.varint(&m.to, "message.to") ||
      !c.varint(&m.term, "message.term") || !c.varint(&mask, "message.fields")) {
    return false;
  }
  if (mask & ~std::uint64_t{kAllFields}) return c.fail("message.fields", "unknown field bits");

  if ((mask & kLogTerm) && !c.nonzero_varint(&m.log_term, "message.log_term")) return false;
  if ((mask & kIndex) && !c.nonzero_varint(&m.index, "message.index")) return false;
  if (mask & kEntries) {
    std::uint64_t n = 0;
    if (!c.count(&n, "message.entries")) return false;
    if (n == 0) return c.fail("message.entries", "marked present but empty");
    m.entries.resize(static_cast<std::size_t>(n));
    raft::Index prev_index = m.index;
    raft::Term prev_term = 0;
    for (raft::Entry& e : m.entries) {
      std::uint64_t dterm = 0;
      std::uint64_t dindex = 0;
      std::uint8_t etype = 0;
      if (!c.varint(&dterm, "entry.term") || !c.varint(&dindex, "entry.index") ||
          !c.u8(&etype, "entry.type")) {
        return false;
      }
      if (etype > kMaxEntryType) return c.fail("entry.type", "unknown entry type");
      if (!c.bytes(&e.data, std::numeric_limits<std::size_t>::max(), "entry.data")) return false;
      e.term = prev_term + dterm;
      e.index = prev_index + dindex + 1;
      e.type = static_cast<raft::EntryType>(etype);
      prev_index = e.index;
      prev_term = e.term;
    }
  }
  if ((mask & kCommit) && !c.nonzero_varint(&m.commit, "message.commit")) return false;
  m.reject = (mask & kReject) != 0;
  if ((mask & kRejectHint) && !c.nonzero_varint(&m.reject_hint, "message.reject_hint")) {
    return false;
  }
  if ((mask & kHintTerm) && !c.nonzero_varint(&m.hint_term, "message.hint_term")) return false;
  if (mask & kContext) {
    if (!c.bytes(&m.context, std::numeric_limits<std::size_t>::max(), "message.context")) {
      return false;
    }
    if (m.context.empty()) return c.fail("message.context", "marked present but empty");
  }
  if ((mask & kSnapIndex) && !c.nonzero_varint(&m.snapshot.index, "snapshot.index")) return false;
  if ((mask & kSnapTerm) && !c.nonzero_varint(&m.snapshot.term, "snapshot.term")) return false;
  if ((mask & kSnapVoters) && !c.ids(&m.snapshot.conf.voters, "snapshot.voters")) return false;
  if ((mask & kSnapLearners) && !c.ids(&m.snapshot.conf.learners, "snapshot.learners")) {
    return false;
  }
  if ((mask & kSnapOffset) && !c.nonzero_varint(&m.snapshot_offset, "message.snapshot_offset")) {
    return false;
  }
  if ((mask & kSnapSize) && !c.nonzero_varint(&m.snapshot_size, "message.snapshot_size")) {
    return false;
  }
  if (mask & kSnapData) {
    if (!c.bytes(&m.snapshot_data, std::numeric_limits<std::size_t>::max(),
                 "message.snapshot_data")) {
      return false;
    }
    if (m.snapshot_data.empty()) return c.fail("message.snapshot_data", "marked present but empty");
  }
  m.snapshot_done = (mask & kSnapDone) != 0;
  return c.finish();
}

bool get_payload(Cursor& c, Forward& f) {
  std::uint64_t n = 0;
  if (!c.varint(&f.request_id, "forward.request_id") || !c.count(&n, "forward.args")) {
    return false;
  }
  f.args.resize(static_cast<std::size_t>(n));
  for (std::string& a : f.args) {
    if (!c.bytes(&a, std::numeric_limits<std::size_t>::max(), "forward.arg")) return false;
  }
  return c.finish();
}

bool get_payload(Cursor& c, ForwardReply& r) {
  return c.varint(&r.request_id, "forward_reply.request_id") &&
         c.bytes(&r.reply, std::numeric_limits<std::size_t>::max(), "forward_reply.reply") &&
         c.finish();
}

template <typename T>
bool decode_into(Cursor& c, Frame& out) {
  T value{};
  if (!get_payload(c, value)) return false;
  out = std::move(value);
  return true;
}

DecodeResult error_result(DecodeError e, std::string detail) {
  DecodeResult r;
  r.status = DecodeStatus::kError;
  r.error = e;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

const char* to_string(RefusalReason r) {
  switch (r) {
    case RefusalReason::kAuthentication:
      return "authentication";
    case RefusalReason::kNotMember:
      return "not a member";
    case RefusalReason::kLostData:
      return "lost data directory";
    case RefusalReason::kOtherCluster:
      return "another cluster";
    case RefusalReason::kEnsemble:
      return "another member list";
    case RefusalReason::kProtocol:
      return "protocol";
    case RefusalReason::kBusy:
      return "busy";
  }
  return "unknown";
}

const char* to_string(FrameType t) {
  switch (t) {
    case FrameType::kChallenge:
      return "challenge";
    case FrameType::kHello:
      return "hello";
    case FrameType::kWelcome:
      return "welcome";
    case FrameType::kRefusal:
      return "refusal";
    case FrameType::kRaft:
      return "raft";
    case FrameType::kForward:
      return "forward";
    case FrameType::kForwardReply:
      return "forward_reply";
  }
  return "unknown";
}

const char* to_string(DecodeError e) {
  switch (e) {
    case DecodeError::kNone:
      return "none";
    case DecodeError::kBadLength:
      return "bad frame length";
    case DecodeError::kOversized:
      return "frame too large";
    case DecodeError::kBadVersion:
      return "unsupported frame format version";
    case DecodeError::kBadChecksum:
      return "frame checksum mismatch";
    case DecodeError::kUnknownType:
      return "unknown frame type";
    case DecodeError::kMalformedPayload:
      return "malformed frame payload";
  }
  return "unknown error";
}

FrameType frame_type(const Frame& f) {
  return static_cast<FrameType>(f.index() + 1);
}

void put_varint(std::string& out, std::uint64_t v) {
  char buf[10];
  std::size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}

bool get_varint(std::string_view in, std::size_t* pos, std::uint64_t* v) {
  std::uint64_t result = 0;
  std::size_t p = *pos;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p >= in.size()) return false;
    const auto byte = static_cast<std::uint8_t>(in[p++]);
    // The tenth byte holds only bit 63; anything more would overflow.
    if (shift == 63 && byte > 1) return false;
    result |= std::uint64_t{byte & 0x7Fu} << shift;
    if ((byte & 0x80) == 0) {
      // Minimal encodings only: a zero final byte after others is padding.
      if (byte == 0 && shift != 0) return false;
      *v = result;
      *pos = p;
      return true;
    }
  }
  return false;
}

std::size_t append_frame(std::string& out, const Challenge& c) {
  return append_typed(out, FrameType::kChallenge, c);
}
std::size_t append_frame(std::string& out, const Hello& h) {
  return append_typed(out, FrameType::kHello, h);
}
std::size_t append_frame(std::string& out, const Welcome& w) {
  return append_typed(out, FrameType::kWelcome, w);
}
std::size_t append_frame(std::string& out, const Refusal& r) {
  return append_typed(out, FrameType::kRefusal, r);
}
std::size_t append_frame(std::string& out, const raft::Message& m) {
  return append_typed(out, FrameType::kRaft, m);
}
std::size_t append_frame(std::string& out, const Forward& f) {
  return append_typed(out, FrameType::kForward, f);
}
std::size_t append_frame(std::string& out, const ForwardReply& r) {
  return append_typed(out, FrameType::kForwardReply, r);
}
std::size_t append_forward_frame(std::string& out, std::uint64_t request_id,
                                 const std::vector<std::string>& args) {
  return append_typed(out, FrameType::kForward, ForwardRef{request_id, args});
}
std::size_t append_forward_reply_frame(std::string& out, std::uint64_t request_id,
                                       std::string_view reply) {
  return append_typed(out, FrameType::kForwardReply, ForwardReplyRef{request_id, reply});
}
std::size_t append_frame(std::string& out, const Frame& f) {
  return std::visit([&out](const auto& v) { return append_frame(out, v); }, f);
}

std::string encode_frame(const Frame& f) {
  std::string out;
  append_frame(out, f);
  return out;
}

void append_payload(std::string& out, const Frame& f) {
  std::visit([&out](const auto& v) { put_payload(out, v); }, f);
}

DecodeResult decode_payload(FrameType type, std::string_view payload, Frame& out) {
  Cursor c(payload);
  bool ok = false;
  switch (type) {
    case FrameType::kChallenge:
      ok = decode_into<Challenge>(c, out);
      break;
    case FrameType::kHello:
      ok = decode_into<Hello>(c, out);
      break;
    case FrameType::kWelcome:
      ok = decode_into<Welcome>(c, out);
      break;
    case FrameType::kRefusal:
      ok = decode_into<Refusal>(c, out);
      break;
    case FrameType::kRaft:
      ok = decode_into<raft::Message>(c, out);
      break;
    case FrameType::kForward:
      ok = decode_into<Forward>(c, out);
      break;
    case FrameType::kForwardReply:
      ok = decode_into<ForwardReply>(c, out);
      break;
    default:
      return error_result(DecodeError::kUnknownType,
                          "frame type " + std::to_string(static_cast<unsigned>(type)));
  }
  if (!ok) return error_result(DecodeError::kMalformedPayload, c.error());
  DecodeResult r;
  r.status = DecodeStatus::kOk;
  r.consumed = payload.size();
  return r;
}

DecodeResult decode_frame(std::string_view buf, Frame& out, std::size_t max_frame_bytes) {
  if (buf.size() < kFrameHeaderBytes) return DecodeResult{};
  const std::uint32_t body = get_u32_be(buf.data());
  if (body < kFrameOverheadBytes - kFrameHeaderBytes) {
    return error_result(DecodeError::kBadLength, "body length " + std::to_string(body));
  }
  if (body > max_frame_bytes) {
    return error_result(DecodeError::kOversized, "body length " + std::to_string(body) +
                                                     " exceeds the maximum " +
                                                     std::to_string(max_frame_bytes));
  }
  if (buf.size() - kFrameHeaderBytes < body) return DecodeResult{};

  const std::string_view frame = buf.substr(kFrameHeaderBytes, body);
  const auto version = static_cast<std::uint8_t>(frame[0]);
  if (version != kFormatVersion) {
    return error_result(DecodeError::kBadVersion, "version " + std::to_string(version));
  }
  const std::uint32_t want = get_u32_be(frame.data() + frame.size() - 4);
  const std::uint32_t got = storage::crc32c(frame.substr(0, frame.size() - 4));
  if (want != got) return error_result(DecodeError::kBadChecksum, "crc32c mismatch");

  const auto type = static_cast<FrameType>(frame[1]);
  DecodeResult r = decode_payload(type, frame.substr(2, frame.size() - 6), out);
  if (r.status == DecodeStatus::kOk) r.consumed = kFrameHeaderBytes + body;
  return r;
}

std::string encode_formation(const FormationRecord& r) {
  std::string out;
  put_formation(out, r);
  return out;
}

std::optional<FormationRecord> decode_formation(std::string_view bytes) {
  Cursor c(bytes);
  FormationRecord r;
  if (!get_formation(c, r) || !c.finish()) return std::nullopt;
  return r;
}

std::size_t seal_frames(FrameCipher& cipher, std::string_view plain, std::string& out) {
  std::size_t frames = 0;
  out.reserve(out.size() + plain.size() + plain.size() / 8 + 64);
  while (plain.size() >= kFrameOverheadBytes) {
    const std::uint32_t body = get_u32_be(plain.data());
    const std::size_t payload = body - 6;
    const std::size_t start = out.size();
    put_u32_be(out, static_cast<std::uint32_t>(body - 4 + kTagBytes));
    out.append(plain.data() + kFrameHeaderBytes, 2);  // version, type
    out.resize(start + kSealedOverheadBytes + payload);
    char* dst = out.data() + start;
    cipher.seal(std::string_view(dst, 6), plain.data() + 6, payload, dst + 6, dst + 6 + payload);
    plain.remove_prefix(kFrameHeaderBytes + body);
    ++frames;
  }
  return frames;
}

FrameReader::FrameReader(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}
FrameReader::~FrameReader() = default;

void FrameReader::set_cipher(std::unique_ptr<FrameCipher> cipher) {
  cipher_ = std::move(cipher);
}

DecodeResult FrameReader::next_sealed(Frame& out) {
  const std::string_view buf = std::string_view(buf_).substr(pos_);
  if (buf.size() < kFrameHeaderBytes) return DecodeResult{};
  const std::uint32_t body = get_u32_be(buf.data());
  if (body < kSealedOverheadBytes - kFrameHeaderBytes) {
    return error_result(DecodeError::kBadLength, "body length " + std::to_string(body));
  }
  if (body > max_frame_bytes_) {
    return error_result(DecodeError::kOversized, "body length " + std::to_string(body) +
                                                     " exceeds the maximum " +
                                                     std::to_string(max_frame_bytes_));
  }
  if (buf.size() - kFrameHeaderBytes < body) return DecodeResult{};
  char* frame = buf_.data() + pos_;
  const std::size_t payload = body - 2 - kTagBytes;
  if (!cipher_->open(std::string_view(frame, 6), frame + 6, payload, frame + 6 + payload)) {
    return error_result(DecodeError::kBadChecksum,
                        "the frame's authentication tag does not verify (forged, altered, "
                        "replayed or out of order)");
  }
  const auto version = static_cast<std::uint8_t>(frame[4]);
  if (version != kFormatVersion) {
    return error_result(DecodeError::kBadVersion, "version " + std::to_string(version));
  }
  DecodeResult r =
      decode_payload(static_cast<FrameType>(frame[5]), std::string_view(frame + 6, payload), out);
  if (r.status == DecodeStatus::kOk) r.consumed = kFrameHeaderBytes + body;
  return r;
}

void FrameReader::feed(std::string_view bytes) {
  if (failed_) return;
  if (pos_ > 0) {
    // Drop consumed frames first; what remains is at most one partial frame.
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

DecodeStatus FrameReader::next(Frame& out) {
  if (failed_) return DecodeStatus::kError;
  DecodeResult r = cipher_
                       ? next_sealed(out)
                       : decode_frame(std::string_view(buf_).substr(pos_), out, max_frame_bytes_);
  switch (r.status) {
    case DecodeStatus::kOk:
      pos_ += r.consumed;
      ++frames_;
      last_frame_bytes_ = r.consumed;
      if (pos_ == buf_.size()) {
        pos_ = 0;
        buf_.clear();
        // Do not keep a snapshot-chunk-sized buffer around for a stream of heartbeats.
        if (buf_.capacity() > (4u << 20)) std::string().swap(buf_);
      }
      return DecodeStatus::kOk;
    case DecodeStatus::kNeedMore:
      return DecodeStatus::kNeedMore;
    case DecodeStatus::kError:
      failed_ = true;
      error_ = std::move(r);
      std::string().swap(buf_);
      pos_ = 0;
      return DecodeStatus::kError;
  }
  return DecodeStatus::kError;
}

}  // namespace raftd::peer
