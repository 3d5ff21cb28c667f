// The log-entry form of a write: round trips and rejection of malformed bytes.
#include "server/keyspace/entry.h"

#include <catch2/catch.hpp>
#include <random>

namespace raftd::test {

namespace {

std::string encode(std::int64_t ts, std::vector<std::string_view> args) {
  std::string out;
  encode_entry(ts, args, out);
  return out;
}

}  // namespace

TEST_CASE("entries round-trip, binary safe, views into the bytes") {
  const std::string big(100000, 'x');
  const std::vector<std::string_view> args = {"SET", "k\0ey", "", big, "\r\n\xff"};
  for (std::int64_t ts :
       {std::int64_t{0}, std::int64_t{1'700'000'000'123}, std::int64_t{-5}, INT64_MAX, INT64_MIN}) {
    const std::string bytes = encode(ts, args);
    CHECK(static_cast<std::uint8_t>(bytes[0]) == kEntryVersion);
    DecodedEntry e;
    REQUIRE(decode_entry(bytes, e) == DecodeStatus::kOk);
    CHECK(e.timestamp_ms == ts);
    REQUIRE(e.args.size() == args.size());
    for (std::size_t i = 0; i < args.size(); ++i) CHECK(e.args[i] == args[i]);
    // No copies: the views point into the encoded bytes.
    CHECK(e.args[3].data() > bytes.data());
    CHECK(e.args[3].data() < bytes.data() + bytes.size());
  }
  // encode appends; the std::string overload encodes the same bytes.
  std::string two = "prefix";
  const std::vector<std::string> owned = {"GET", "k"};
  encode_entry(7, std::span<const std::string>(owned), two);
  CHECK(two.substr(6) == encode(7, {"GET", "k"}));
}

TEST_CASE("the layout is fixed: version, little-endian timestamp, argc, length-prefixed args") {
  const std::string bytes = encode(0x0102030405060708, {"ab"});
  const std::string expected(
      "\x01"                              // version
      "\x08\x07\x06\x05\x04\x03\x02\x01"  // timestamp
      "\x01\x00\x00\x00"                  // argc
      "\x02\x00\x00\x00"                  // length of the only argument
      "ab",
      19);
  CHECK(bytes == expected);
}

TEST_CASE("malformed entries are rejected, never read out of bounds") {
  DecodedEntry e;
  CHECK(decode_entry("", e) == DecodeStatus::kEmpty);
  std::string good = encode(5, {"SET", "key", "value"});
  // Every proper prefix is truncated.
  for (std::size_t n = 1; n < good.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK(decode_entry(std::string_view(good).substr(0, n), e) == DecodeStatus::kTruncated);
    CHECK(e.args.empty());
  }
  CHECK(decode_entry(good + "x", e) == DecodeStatus::kTrailingBytes);
  std::string bad_version = good;
  bad_version[0] = 2;
  CHECK(decode_entry(bad_version, e) == DecodeStatus::kBadVersion);
  bad_version[0] = 0;
  CHECK(decode_entry(bad_version, e) == DecodeStatus::kBadVersion);
  std::string no_args = encode(5, {"x"});
  no_args[9] = 0;
  CHECK(decode_entry(no_args.substr(0, 13), e) == DecodeStatus::kNoArgs);
  // argc claims far more arguments than the bytes can hold: rejected before reserving memory.
  std::string lying = good;
  lying[9] = lying[10] = lying[11] = lying[12] = '\xff';
  CHECK(decode_entry(lying, e) == DecodeStatus::kTruncated);
  // An argument length past the end.
  std::string long_arg = good;
  long_arg[13] = '\x7f';
  CHECK(decode_entry(long_arg, e) == DecodeStatus::kTruncated);
  CHECK(to_string(DecodeStatus::kTrailingBytes) == "trailing bytes after the last argument");
}

TEST_CASE("random bytes never crash the decoder") {
  std::mt19937 rng(1);
  DecodedEntry e;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 40, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng() % 4 == 0 ? 0 : rng());
    if (!bytes.empty() && rng() % 2) bytes[0] = static_cast<char>(kEntryVersion);
    const DecodeStatus s = decode_entry(bytes, e);
    if (s == DecodeStatus::kOk) {
      std::string again;
      encode_entry(e.timestamp_ms, e.args, again);
      CHECK(again == bytes);  // whatever decodes re-encodes to the same bytes
    } else {
      CHECK(e.args.empty());
    }
  }
}

}  // namespace raftd::test
