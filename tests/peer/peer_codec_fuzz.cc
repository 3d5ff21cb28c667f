// libFuzzer target for the peer frame decoder. The first input byte picks what is fuzzed:
//   mode 0: the raw bytes as a stream through FrameReader, split where the second byte says;
//   mode 1: a bare payload (type from the second byte) through decode_payload, which the CRC
//           would otherwise keep the fuzzer from reaching;
//   mode 2: the same payload wrapped in a valid frame, through decode_frame and FrameReader.
// Whatever decodes must re-encode to the very same bytes (the format is canonical).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/peer/codec.h"
#include "storage/crc32c.h"

namespace {

using namespace raftd::peer;

constexpr std::size_t kMaxFrame = 1 << 20;

void check(bool ok) {
  if (!ok) std::abort();
}

void put_u32_be(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void stream(std::string_view bytes, std::size_t split) {
  FrameReader reader(kMaxFrame);
  std::string reencoded;
  std::size_t fed = 0;
  for (std::string_view part : {bytes.substr(0, split), bytes.substr(split)}) {
    reader.feed(part);
    fed += part.size();
    Frame f;
    DecodeStatus st;
    while ((st = reader.next(f)) == DecodeStatus::kOk) append_frame(reencoded, f);
    if (st == DecodeStatus::kError) return;
  }
  // Every frame returned, re-encoded, reproduces the input up to what is still buffered.
  check(reencoded.size() + reader.buffered() == fed);
  check(bytes.substr(0, reencoded.size()) == reencoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::uint8_t mode = data[0] % 3;
  const std::uint8_t arg = data[1];
  if (mode == 0) {
    stream(in, in.empty() ? 0 : arg % (in.size() + 1));
    return 0;
  }
  const auto type = static_cast<FrameType>(arg % 9);  // includes two unknown types
  Frame f;
  const DecodeResult r = decode_payload(type, in, f);
  if (r.status == DecodeStatus::kOk) {
    std::string again;
    append_payload(again, f);
    check(again == in);
    check(frame_type(f) == type);
  }
  if (mode == 2) {
    std::string covered;
    covered.push_back(static_cast<char>(kFormatVersion));
    covered.push_back(static_cast<char>(type));
    covered.append(in);
    std::string frame;
    put_u32_be(frame, static_cast<std::uint32_t>(covered.size() + 4));
    frame += covered;
    put_u32_be(frame, storage::crc32c(covered));
    Frame g;
    const DecodeResult fr = decode_frame(frame, g, kMaxFrame);
    check(fr.status == r.status || fr.error == DecodeError::kOversized);
    if (fr.status == DecodeStatus::kOk) check(encode_frame(g) == frame);
    stream(frame, arg % (frame.size() + 1));
  }
  return 0;
}
