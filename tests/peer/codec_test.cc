#include "server/peer/codec.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "storage/crc32c.h"

namespace {

using namespace raftd::peer;
using raft::Message;
using raft::MessageType;

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// Values that stress a varint codec: zero, one, the 7-bit boundaries, the top bit, random.
std::uint64_t interesting_u64(std::mt19937_64& rng) {
  switch (rng() % 7) {
    case 0:
      return 0;
    case 1:
      return 1;
    case 2:
      return rng() % 300;
    case 3:
      return kMax - rng() % 3;
    case 4:
      return std::uint64_t{1} << (rng() % 64);
    case 5:
      return (std::uint64_t{1} << (7 * (1 + rng() % 9))) - 1;
    default:
      return rng();
  }
}

std::string random_bytes(std::mt19937_64& rng, std::size_t max_len) {
  if (rng() % 4 == 0) return {};
  std::string s(rng() % (max_len + 1), '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::vector<raft::NodeId> random_ids(std::mt19937_64& rng) {
  std::vector<raft::NodeId> ids(rng() % 2 ? 0 : rng() % 6);
  for (auto& id : ids) id = interesting_u64(rng);
  return ids;
}

Message random_message(std::mt19937_64& rng) {
  Message m;
  m.type = static_cast<MessageType>(rng() % 13);
  m.from = interesting_u64(rng);
  m.to = interesting_u64(rng);
  m.term = interesting_u64(rng);
  m.log_term = interesting_u64(rng);
  m.index = interesting_u64(rng);
  const std::size_t n = rng() % 3 == 0 ? 0 : rng() % 8;
  const bool consecutive = rng() % 2 == 0;  // the common shape: deltas of one
  for (std::size_t i = 0; i < n; ++i) {
    raft::Entry e;
    e.index = consecutive ? m.index + i + 1 : interesting_u64(rng);
    e.term = consecutive ? m.log_term + (rng() % 3 == 0) : interesting_u64(rng);
    e.type = static_cast<raft::EntryType>(rng() % 2);
    e.data = random_bytes(rng, 300);
    m.entries.push_back(std::move(e));
  }
  m.commit = interesting_u64(rng);
  m.reject = rng() % 2 == 0;
  m.reject_hint = interesting_u64(rng);
  m.hint_term = interesting_u64(rng);
  m.context = random_bytes(rng, 40);
  m.snapshot.index = interesting_u64(rng);
  m.snapshot.term = interesting_u64(rng);
  m.snapshot.conf.voters = random_ids(rng);
  m.snapshot.conf.learners = random_ids(rng);
  m.snapshot_offset = interesting_u64(rng);
  m.snapshot_size = interesting_u64(rng);
  m.snapshot_data = random_bytes(rng, 2000);
  m.snapshot_done = rng() % 2 == 0;
  return m;
}

Message full_message() {
  Message m;
  m.type = MessageType::kSnapshot;
  m.from = 1;
  m.to = 2;
  m.term = 9;
  m.log_term = 8;
  m.index = 100;
  m.entries = {{8, 101, raft::EntryType::kNormal, "set k v"},
               {9, 102, raft::EntryType::kConfChange, std::string("\x00\x01\xff", 3)},
               {9, 103, raft::EntryType::kNormal, ""}};
  m.commit = 99;
  m.reject = true;
  m.reject_hint = 55;
  m.hint_term = 4;
  m.context = "read-ctx";
  m.snapshot.index = 90;
  m.snapshot.term = 7;
  m.snapshot.conf.voters = {1, 2, 3};
  m.snapshot.conf.learners = {4};
  m.snapshot_offset = 4096;
  m.snapshot_size = 1 << 20;
  m.snapshot_data = std::string(5000, 'x');
  m.snapshot_done = true;
  return m;
}

std::vector<Frame> sample_frames() {
  std::vector<Frame> frames;
  frames.emplace_back(Challenge{kProtocolVersion, std::string(32, 'n')});
  frames.emplace_back(Challenge{});
  PeerIdentity id{7, 1, 99, "127.0.0.1:7001", 12345, std::string(32, 'k')};
  frames.emplace_back(Hello{kProtocolVersion, std::string(32, 'd'), id, std::string(32, '\x5a')});
  frames.emplace_back(Hello{});
  Welcome w;
  w.id = id;
  w.proof = std::string(32, 'p');
  w.admitted = true;
  frames.emplace_back(w);
  w.has_formation = true;
  w.formation.cluster_id = 0xabcdef;
  w.formation.founder = 1;
  w.formation.founder_key = std::string(32, 'f');
  w.formation.members = {{1, "127.0.0.1:7001", 11, std::string(32, 'a'), std::string(60, 's')},
                         {2, "[::1]:7011", 22, std::string(32, 'b'), ""}};
  frames.emplace_back(w);
  frames.emplace_back(Welcome{});
  frames.emplace_back(Refusal{RefusalReason::kLostData, "node 2 lost its data directory"});
  frames.emplace_back(Refusal{});
  frames.emplace_back(full_message());
  Message heartbeat;
  heartbeat.type = MessageType::kHeartbeat;
  heartbeat.from = 1;
  heartbeat.to = 3;
  heartbeat.term = 2;
  heartbeat.commit = 17;
  frames.emplace_back(heartbeat);
  frames.emplace_back(Message{});
  frames.emplace_back(Forward{42, {"SET", "key", std::string("v\0al", 4), ""}});
  frames.emplace_back(Forward{0, {}});
  frames.emplace_back(ForwardReply{42, "+OK\r\n"});
  frames.emplace_back(ForwardReply{kMax, ""});
  return frames;
}

Frame decode_ok(std::string_view bytes) {
  Frame out;
  const DecodeResult r = decode_frame(bytes, out);
  INFO("decode: " << to_string(r.error) << " " << r.detail);
  REQUIRE(r.status == DecodeStatus::kOk);
  REQUIRE(r.consumed == bytes.size());
  return out;
}

DecodeResult decode(std::string_view bytes, std::size_t max = kDefaultMaxFrameBytes) {
  Frame out;
  return decode_frame(bytes, out, max);
}

void put_u32_be(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

// Frames an arbitrary payload with a valid length and CRC, to reach the checks behind them.
std::string reframe(std::uint8_t version, std::uint8_t type, std::string_view payload) {
  std::string covered;
  covered.push_back(static_cast<char>(version));
  covered.push_back(static_cast<char>(type));
  covered.append(payload);
  std::string out;
  put_u32_be(out, static_cast<std::uint32_t>(covered.size() + 4));
  out += covered;
  put_u32_be(out, storage::crc32c(covered));
  return out;
}

std::string payload_of(const Frame& f) {
  std::string p;
  append_payload(p, f);
  return p;
}

}  // namespace

TEST_CASE("varints round trip at every width and reject bad encodings", "[peer][codec]") {
  std::vector<std::uint64_t> values = {0, 1, 127, 128, 255, 256, 16383, 16384, kMax, kMax - 1};
  for (int bit = 0; bit < 64; ++bit) {
    values.push_back(std::uint64_t{1} << bit);
    values.push_back((std::uint64_t{1} << bit) - 1);
  }
  for (std::uint64_t v : values) {
    std::string s;
    put_varint(s, v);
    std::size_t pos = 0;
    std::uint64_t got = 0;
    REQUIRE(get_varint(s, &pos, &got));
    REQUIRE(got == v);
    REQUIRE(pos == s.size());
    for (std::size_t cut = 0; cut < s.size(); ++cut) {
      std::size_t p = 0;
      REQUIRE_FALSE(get_varint(std::string_view(s).substr(0, cut), &p, &got));
      REQUIRE(p == 0);
    }
  }
  std::size_t pos = 0;
  std::uint64_t v = 0;
  CHECK_FALSE(get_varint(std::string("\x80\x00", 2), &pos, &v));        // not minimal
  CHECK_FALSE(get_varint(std::string(10, '\xff') + '\x01', &pos, &v));  // 11 bytes
  CHECK_FALSE(get_varint(std::string(9, '\xff') + '\x02', &pos, &v));   // bit 64
  CHECK(get_varint(std::string(9, '\xff') + '\x01', &pos, &v));
  CHECK(v == kMax);
}

TEST_CASE("every frame type round trips exactly", "[peer][codec]") {
  for (const Frame& f : sample_frames()) {
    const std::string bytes = encode_frame(f);
    const Frame back = decode_ok(bytes);
    REQUIRE(back == f);
    REQUIRE(frame_type(back) == frame_type(f));
    // Canonical: re-encoding what we decoded gives the same bytes.
    REQUIRE(encode_frame(back) == bytes);
  }
}

TEST_CASE("every raft message field survives the wire", "[peer][codec]") {
  const Message full = full_message();
  const Message back = std::get<Message>(decode_ok(encode_frame(full)));
  CHECK(back.type == full.type);
  CHECK(back.from == full.from);
  CHECK(back.to == full.to);
  CHECK(back.term == full.term);
  CHECK(back.log_term == full.log_term);
  CHECK(back.index == full.index);
  CHECK(back.entries == full.entries);
  CHECK(back.commit == full.commit);
  CHECK(back.reject == full.reject);
  CHECK(back.reject_hint == full.reject_hint);
  CHECK(back.hint_term == full.hint_term);
  CHECK(back.context == full.context);
  CHECK(back.snapshot == full.snapshot);
  CHECK(back.snapshot_offset == full.snapshot_offset);
  CHECK(back.snapshot_size == full.snapshot_size);
  CHECK(back.snapshot_data == full.snapshot_data);
  CHECK(back.snapshot_done == full.snapshot_done);

  // Each field alone, so a field that is silently dropped when the others are default shows up.
  Message base;
  base.type = MessageType::kAppendResp;
  std::vector<Message> singles(16, base);
  singles[0].log_term = 3;
  singles[1].index = 4;
  singles[2].entries = {{1, 1, raft::EntryType::kNormal, ""}};
  singles[3].commit = 5;
  singles[4].reject = true;
  singles[5].reject_hint = 6;
  singles[6].hint_term = 7;
  singles[7].context = "c";
  singles[8].snapshot.index = 8;
  singles[9].snapshot.term = 9;
  singles[10].snapshot.conf.voters = {10};
  singles[11].snapshot.conf.learners = {11};
  singles[12].snapshot_offset = 12;
  singles[13].snapshot_size = 13;
  singles[14].snapshot_data = "d";
  singles[15].snapshot_done = true;
  for (const Message& m : singles) {
    const std::string bytes = encode_frame(m);
    REQUIRE(std::get<Message>(decode_ok(bytes)) == m);
    REQUIRE(bytes != encode_frame(base));
  }

  // A heartbeat stays small: the point of the presence bits and varints.
  Message hb;
  hb.type = MessageType::kHeartbeat;
  hb.from = 1;
  hb.to = 2;
  hb.term = 5;
  hb.commit = 1000;
  CHECK(encode_frame(hb).size() <= kFrameOverheadBytes + 8);
}

TEST_CASE("randomised messages round trip (seeded property test)", "[peer][codec]") {
  std::mt19937_64 rng(0x7261667464ull);
  std::string stream;
  std::vector<Frame> sent;
  for (int i = 0; i < 3000; ++i) {
    Frame f;
    switch (rng() % 8) {
      case 0: {
        Hello h;
        h.id.cluster_id = interesting_u64(rng);
        h.id.node_id = interesting_u64(rng);
        h.id.dir_id = interesting_u64(rng);
        h.id.client_addr = random_bytes(rng, 60);
        h.id.ensemble = interesting_u64(rng);
        h.id.formation_key = random_bytes(rng, kMaxKeyBytes);
        h.protocol_version = static_cast<std::uint32_t>(interesting_u64(rng));
        h.nonce = random_bytes(rng, kMaxNonceBytes);
        h.proof = random_bytes(rng, kMaxAuthProofBytes);
        f = h;
        break;
      }
      case 1: {
        Forward fw;
        fw.request_id = interesting_u64(rng);
        fw.args.resize(rng() % 6);
        for (auto& a : fw.args) a = random_bytes(rng, 50);
        f = fw;
        break;
      }
      case 2:
        f = ForwardReply{interesting_u64(rng), random_bytes(rng, 200)};
        break;
      default:
        f = random_message(rng);
        break;
    }
    const std::string bytes = encode_frame(f);
    const Frame back = decode_ok(bytes);
    REQUIRE(back == f);
    REQUIRE(encode_frame(back) == bytes);
    stream += bytes;
    sent.push_back(std::move(f));
  }

  // The same stream through the incremental reader, in random-sized pieces.
  FrameReader reader;
  std::vector<Frame> got;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    const std::size_t n = std::min<std::size_t>(stream.size() - pos, 1 + rng() % 5000);
    reader.feed(std::string_view(stream).substr(pos, n));
    pos += n;
    Frame f;
    DecodeStatus st;
    while ((st = reader.next(f)) == DecodeStatus::kOk) got.push_back(std::move(f));
    REQUIRE(st == DecodeStatus::kNeedMore);
  }
  REQUIRE(reader.buffered() == 0);
  REQUIRE(got.size() == sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) REQUIRE(got[i] == sent[i]);
}

TEST_CASE("a truncated frame needs more bytes at every cut", "[peer][codec]") {
  for (const Frame& f : sample_frames()) {
    const std::string bytes = encode_frame(f);
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
      const std::string_view prefix = std::string_view(bytes).substr(0, cut);
      REQUIRE(decode(prefix).status == DecodeStatus::kNeedMore);

      FrameReader reader;
      reader.feed(prefix);
      Frame out;
      REQUIRE(reader.next(out) == DecodeStatus::kNeedMore);
      reader.feed(std::string_view(bytes).substr(cut));
      REQUIRE(reader.next(out) == DecodeStatus::kOk);
      REQUIRE(out == f);
      REQUIRE(reader.next(out) == DecodeStatus::kNeedMore);
    }
    // Byte by byte: exactly one frame, at the last byte.
    FrameReader reader;
    Frame out;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      reader.feed(std::string_view(bytes).substr(i, 1));
      REQUIRE(reader.next(out) ==
              (i + 1 == bytes.size() ? DecodeStatus::kOk : DecodeStatus::kNeedMore));
    }
    REQUIRE(out == f);
    REQUIRE(reader.last_frame_bytes() == bytes.size());
  }
}

TEST_CASE("every single-bit flip is detected", "[peer][codec]") {
  for (const Frame& f : sample_frames()) {
    const std::string bytes = encode_frame(f);
    for (std::size_t i = 0; i < bytes.size() * 8; ++i) {
      std::string bad = bytes;
      bad[i / 8] = static_cast<char>(bad[i / 8] ^ (1 << (i % 8)));
      const DecodeResult r = decode(bad);
      INFO("bit " << i << " of " << bytes.size() * 8);
      REQUIRE(r.status != DecodeStatus::kOk);
      if (i >= kFrameHeaderBytes * 8) {
        // In the body the CRC (or the version check in front of it) catches it at once.
        REQUIRE(r.status == DecodeStatus::kError);
        REQUIRE((r.error == DecodeError::kBadChecksum || r.error == DecodeError::kBadVersion));
      }
    }
  }
}

TEST_CASE("oversized and undersized lengths are refused from the header alone", "[peer][codec]") {
  std::string header;
  put_u32_be(header, 1001);
  DecodeResult r = decode(header, 1000);
  CHECK(r.status == DecodeStatus::kError);
  CHECK(r.error == DecodeError::kOversized);
  CHECK(decode(header, 1001).status == DecodeStatus::kNeedMore);

  std::string huge;
  put_u32_be(huge, 0xFFFFFFFFu);
  CHECK(decode(huge).error == DecodeError::kOversized);

  for (std::uint32_t len = 0; len < 6; ++len) {
    std::string tiny;
    put_u32_be(tiny, len);
    tiny.append(16, '\0');
    CHECK(decode(tiny).error == DecodeError::kBadLength);
  }

  // The reader refuses before buffering the body, and the error sticks.
  FrameReader reader(1000);
  reader.feed(header);
  Frame out;
  CHECK(reader.next(out) == DecodeStatus::kError);
  CHECK(reader.last_error().error == DecodeError::kOversized);
  reader.feed(encode_frame(ForwardReply{1, "x"}));
  CHECK(reader.next(out) == DecodeStatus::kError);
  CHECK(reader.buffered() == 0);

  // A frame exactly at the limit passes.
  const std::string ok = encode_frame(ForwardReply{1, std::string(100, 'r')});
  CHECK(decode(ok, ok.size() - kFrameHeaderBytes).status == DecodeStatus::kOk);
  CHECK(decode(ok, ok.size() - kFrameHeaderBytes - 1).error == DecodeError::kOversized);
}

TEST_CASE("bad version and unknown type are reported as such", "[peer][codec]") {
  const std::string payload = payload_of(ForwardReply{5, "+PONG\r\n"});
  CHECK(decode_ok(reframe(kFormatVersion, 4, payload)) == Frame(ForwardReply{5, "+PONG\r\n"}));
  CHECK(decode(reframe(kFormatVersion + 1, 4, payload)).error == DecodeError::kBadVersion);
  CHECK(decode(reframe(0, 4, payload)).error == DecodeError::kBadVersion);
  CHECK(decode(reframe(kFormatVersion, 0, payload)).error == DecodeError::kUnknownType);
  CHECK(decode(reframe(kFormatVersion, 8, payload)).error == DecodeError::kUnknownType);
  CHECK(decode(reframe(kFormatVersion, 255, payload)).error == DecodeError::kUnknownType);
}

TEST_CASE("malformed payloads behind a valid CRC are errors, not crashes", "[peer][codec]") {
  auto malformed = [](std::uint8_t type, const std::string& payload) {
    const DecodeResult r = decode(reframe(kFormatVersion, type, payload));
    INFO("detail: " << r.detail);
    CHECK(r.status == DecodeStatus::kError);
    CHECK(r.error == DecodeError::kMalformedPayload);
    CHECK_FALSE(r.detail.empty());
  };
  const auto raft = static_cast<std::uint8_t>(FrameType::kRaft);
  const auto fwd = static_cast<std::uint8_t>(FrameType::kForward);
  const auto hs = static_cast<std::uint8_t>(FrameType::kChallenge);
  const auto hello = static_cast<std::uint8_t>(FrameType::kHello);
  const auto welcome = static_cast<std::uint8_t>(FrameType::kWelcome);
  const auto refusal = static_cast<std::uint8_t>(FrameType::kRefusal);

  std::string good = payload_of(full_message());
  malformed(raft, good + '\0');                      // trailing byte
  malformed(raft, good.substr(0, good.size() - 1));  // truncated field
  malformed(raft, "");
  malformed(raft, std::string("\x0d\x01\x02\x03\x00", 5));          // message type 13
  malformed(raft, std::string("\x04\x01\x02\x03\x80\x80\x04", 7));  // unknown field bit 16
  malformed(raft, std::string("\x04\x01\x02\x03\x01\x00", 6));      // log_term present but zero
  malformed(raft, std::string("\x04\x80\x00\x02\x03\x00", 6));      // non-minimal varint
  // Entries: count far beyond the payload must not be trusted for allocation.
  malformed(raft, std::string("\x04\x01\x02\x03\x04\xff\xff\xff\xff\x0f", 10));
  // Entries: one entry of type 2.
  malformed(raft, std::string("\x04\x01\x02\x03\x04\x01\x01\x00\x02\x00", 10));
  // Context: length beyond the payload.
  malformed(raft, std::string("\x04\x01\x02\x03\x80\x01\x7f"
                              "ab",
                              9));
  // Context present but empty.
  malformed(raft, std::string("\x04\x01\x02\x03\x80\x01\x00", 7));
  // Voters present but empty.
  malformed(raft, std::string("\x04\x01\x02\x03\x80\x08\x00", 7));

  // Forward: a forged argument count of 2^60 must not allocate 2^60 strings.
  std::string forged;
  put_varint(forged, 1);
  put_varint(forged, std::uint64_t{1} << 60);
  malformed(fwd, forged);
  std::string fwd_payload = payload_of(Forward{9, {"GET", "k"}});
  malformed(fwd, fwd_payload.substr(0, fwd_payload.size() - 1));

  // Challenge: protocol version beyond 32 bits, oversized nonce.
  std::string h;
  put_varint(h, std::uint64_t{1} << 32);
  put_varint(h, 0);
  malformed(hs, h);
  malformed(hs, payload_of(Challenge{1, std::string(kMaxNonceBytes + 1, 'n')}));
  Hello long_addr;
  long_addr.id.client_addr = std::string(kMaxAddressBytes + 1, 'a');
  malformed(hello, payload_of(long_addr));
  // Welcome: a formation flag that is not a bool; a founding record with too many members.
  std::string wp = payload_of(Welcome{});
  wp.back() = '\x04';
  malformed(welcome, wp);
  Welcome crowded;
  crowded.has_formation = true;
  crowded.formation.members.resize(kMaxFoundingMembers + 1);
  malformed(welcome, payload_of(crowded));
  // Refusal: an unknown reason.
  malformed(refusal, std::string("\x00\x00", 2));
  malformed(refusal, std::string("\x63\x00", 2));
}

TEST_CASE("a founding record round trips on its own", "[peer][codec]") {
  FormationRecord r;
  r.cluster_id = 42;
  r.founder = 3;
  r.founder_key = std::string(32, 'f');
  r.members = {{3, "h:1", 5, std::string(32, 'k'), std::string(60, 's')}};
  CHECK(decode_formation(encode_formation(r)) == r);
  CHECK_FALSE(decode_formation(encode_formation(r) + "x"));
  CHECK_FALSE(decode_formation(encode_formation(r).substr(1)));
}

TEST_CASE("garbage input never decodes and never crashes", "[peer][codec]") {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    // Keep some lengths small enough to reach the CRC and payload checks.
    if (junk.size() >= 4 && rng() % 2) {
      const auto body = static_cast<std::uint32_t>(junk.size() - 4);
      junk[0] = 0;
      junk[1] = 0;
      junk[2] = static_cast<char>(body >> 8);
      junk[3] = static_cast<char>(body);
    }
    const DecodeResult r = decode(junk, 1 << 20);
    REQUIRE(r.status != DecodeStatus::kOk);

    FrameReader reader(1 << 20);
    reader.feed(junk);
    Frame out;
    REQUIRE(reader.next(out) != DecodeStatus::kOk);
  }
  // Random payloads straight into the payload decoder (no CRC in the way).
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng() % 48, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    Frame out;
    const auto type = static_cast<FrameType>(1 + rng() % 7);
    const DecodeResult r = decode_payload(type, junk, out);
    if (r.status == DecodeStatus::kOk) {
      // Whatever decodes must re-encode to the very same bytes (the format is canonical).
      REQUIRE(payload_of(out) == junk);
    } else {
      REQUIRE(r.error == DecodeError::kMalformedPayload);
    }
  }
}
