#include "server/keyspace/entry.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace raftd {

namespace {

constexpr std::size_t kHeaderSize = 1 + 8 + 4;

void put_u32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}

void put_u64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 8);
}

std::uint64_t get_le(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

template <class Arg>
void encode(std::int64_t timestamp_ms, std::span<const Arg> args, std::string& out) {
  std::size_t total = kHeaderSize;
  for (const auto& a : args) total += 4 + a.size();
  out.reserve(out.size() + total);
  out.push_back(static_cast<char>(kEntryVersion));
  put_u64(out, static_cast<std::uint64_t>(timestamp_ms));
  put_u32(out, static_cast<std::uint32_t>(args.size()));
  for (const auto& a : args) {
    if (a.size() > UINT32_MAX) {
      std::fprintf(stderr, "raftd: log entry argument of %zu bytes is too large\n", a.size());
      std::abort();
    }
    put_u32(out, static_cast<std::uint32_t>(a.size()));
    out.append(a.data(), a.size());
  }
}

}  // namespace

void encode_entry(std::int64_t timestamp_ms, std::span<const std::string_view> args,
                  std::string& out) {
  encode(timestamp_ms, args, out);
}

void encode_entry(std::int64_t timestamp_ms, std::span<const std::string> args, std::string& out) {
  encode(timestamp_ms, args, out);
}

std::string_view to_string(DecodeStatus status) {
  switch (status) {
    case DecodeStatus::kOk:
      return "ok";
    case DecodeStatus::kEmpty:
      return "empty entry";
    case DecodeStatus::kBadVersion:
      return "unknown entry format version";
    case DecodeStatus::kTruncated:
      return "truncated entry";
    case DecodeStatus::kNoArgs:
      return "entry without a command";
    case DecodeStatus::kTrailingBytes:
      return "trailing bytes after the last argument";
  }
  return "unknown decode status";
}

namespace {

DecodeStatus decode_into(std::string_view data, DecodedEntry& out) {
  out.args.clear();
  if (data.empty()) return DecodeStatus::kEmpty;
  if (static_cast<std::uint8_t>(data[0]) != kEntryVersion) return DecodeStatus::kBadVersion;
  if (data.size() < kHeaderSize) return DecodeStatus::kTruncated;
  out.timestamp_ms = static_cast<std::int64_t>(get_le(data.data() + 1, 8));
  const std::uint64_t argc = get_le(data.data() + 9, 4);
  if (argc == 0) return DecodeStatus::kNoArgs;
  std::size_t pos = kHeaderSize;
  // Each argument needs at least its 4-byte length: a lying argc cannot make us reserve much.
  if (argc > (data.size() - pos) / 4) return DecodeStatus::kTruncated;
  out.args.reserve(argc);
  for (std::uint64_t i = 0; i < argc; ++i) {
    if (data.size() - pos < 4) return DecodeStatus::kTruncated;
    const std::uint64_t len = get_le(data.data() + pos, 4);
    pos += 4;
    if (data.size() - pos < len) return DecodeStatus::kTruncated;
    out.args.emplace_back(data.data() + pos, len);
    pos += len;
  }
  if (pos != data.size()) return DecodeStatus::kTrailingBytes;
  return DecodeStatus::kOk;
}

}  // namespace

DecodeStatus decode_entry(std::string_view data, DecodedEntry& out) {
  const DecodeStatus status = decode_into(data, out);
  if (status != DecodeStatus::kOk) out.args.clear();
  return status;
}

}  // namespace raftd
