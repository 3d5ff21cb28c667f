#include "server/peer/crc32c.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>

namespace {

using raftd::peer::crc32c;
using raftd::peer::crc32c_extend;
using raftd::peer::crc32c_extend_portable;

// Bit at a time, straight from the definition: the reference the fast paths are checked against.
std::uint32_t crc32c_bitwise(std::string_view s) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : s) {
    crc ^= c;
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ ((crc & 1u) ? 0x82F63B78u : 0u);
  }
  return ~crc;
}

}  // namespace

TEST_CASE("crc32c matches published check values", "[peer][crc32c]") {
  // The standard check value and the iSCSI vectors of RFC 3720 appendix B.4.
  CHECK(crc32c("123456789") == 0xE3069283u);
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);
  CHECK(crc32c(std::string(32, '\xFF')) == 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  CHECK(crc32c(ascending) == 0x46DD794Eu);
  CHECK(crc32c("") == 0u);
}

TEST_CASE("crc32c fast paths agree with the bitwise definition", "[peer][crc32c]") {
  std::mt19937_64 rng(20240601);
  std::string buf(1024 + 8, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  INFO("hardware path available: " << raftd::peer::crc32c_hardware_available());
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t len = 0; len <= 300; ++len) {
      const std::string_view s(buf.data() + offset, len);
      const std::uint32_t want = crc32c_bitwise(s);
      REQUIRE(crc32c_extend(0, s.data(), s.size()) == want);
      REQUIRE(crc32c_extend_portable(0, s.data(), s.size()) == want);
    }
  }
  const std::string_view whole(buf.data(), 1024);
  REQUIRE(crc32c(whole) == crc32c_bitwise(whole));
}

TEST_CASE("crc32c extends across split points", "[peer][crc32c]") {
  std::mt19937_64 rng(7);
  std::string buf(257, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  const std::uint32_t whole = crc32c(buf);
  for (std::size_t split = 0; split <= buf.size(); ++split) {
    const std::uint32_t head = crc32c(std::string_view(buf).substr(0, split));
    REQUIRE(crc32c_extend(head, buf.data() + split, buf.size() - split) == whole);
    REQUIRE(crc32c_extend_portable(head, buf.data() + split, buf.size() - split) == whole);
  }
}
