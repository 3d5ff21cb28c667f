// Redis's number rules: which strings are integers/floats/cursors, and how floats are printed.
#include "server/keyspace/numbers.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

namespace raftd::test {

TEST_CASE("parse_int64 is Redis's string2ll") {
  std::int64_t v = 0;
  CHECK(parse_int64("0", v));
  CHECK(v == 0);
  CHECK(parse_int64("-1", v));
  CHECK(v == -1);
  CHECK(parse_int64("9223372036854775807", v));
  CHECK(v == std::numeric_limits<std::int64_t>::max());
  CHECK(parse_int64("-9223372036854775808", v));
  CHECK(v == std::numeric_limits<std::int64_t>::min());
  for (const char* bad :
       {"", "-", "+1", " 1", "1 ", "01", "-0", "00", "1.0", "9223372036854775808",
        "-9223372036854775809", "18446744073709551616", "0x10", "1e3", "123456789012345678901"}) {
    INFO(bad);
    CHECK_FALSE(parse_int64(bad, v));
  }
  CHECK_FALSE(parse_int64(std::string_view("1\0", 2), v));
}

TEST_CASE("parse_long_double is Redis's string2ld") {
  long double v = 0;
  CHECK(parse_long_double("1.5", v));
  CHECK(v == 1.5L);
  CHECK(parse_long_double("-.5", v));
  CHECK(parse_long_double("1e3", v));
  CHECK(v == 1000.0L);
  CHECK(parse_long_double("0x10", v));
  CHECK(v == 16.0L);
  CHECK(parse_long_double("inf", v));
  CHECK(std::isinf(v));
  for (const char* bad : {"", " 1", "1 ", "abc", "nan", "1e99999", "-1e99999", "1e-99999"}) {
    INFO(bad);
    CHECK_FALSE(parse_long_double(bad, v));
  }
  CHECK_FALSE(parse_long_double(std::string(5200, '1'), v));
}

TEST_CASE("format_long_double is ld2string's human mode") {
  CHECK(format_long_double(3.5L) == "3.5");
  CHECK(format_long_double(10.0L) == "10");
  CHECK(format_long_double(0.1L + 0.2L) == "0.3");
  CHECK(format_long_double(-0.0L) == "0");
  CHECK(format_long_double(-2.5L) == "-2.5");
  CHECK(format_long_double(5.0000000000000001L) == "5.0000000000000001");
  CHECK(format_long_double(std::numeric_limits<long double>::infinity()) == "inf");
  CHECK(format_long_double(-std::numeric_limits<long double>::infinity()) == "-inf");
  CHECK(format_long_double(1e20L) == "100000000000000000000");
  CHECK(format_int64(-42) == "-42");
}

TEST_CASE("parse_scan_cursor follows strtoul") {
  std::uint64_t c = 7;
  CHECK(parse_scan_cursor("", c));
  CHECK(c == 0);
  CHECK(parse_scan_cursor("+5", c));
  CHECK(c == 5);
  CHECK(parse_scan_cursor("-1", c));
  CHECK(c == std::numeric_limits<std::uint64_t>::max());
  CHECK(parse_scan_cursor("18446744073709551615", c));
  CHECK_FALSE(parse_scan_cursor("18446744073709551616", c));
  CHECK_FALSE(parse_scan_cursor(" 1", c));
  CHECK_FALSE(parse_scan_cursor("1 ", c));
  CHECK_FALSE(parse_scan_cursor("1.5", c));
  CHECK_FALSE(parse_scan_cursor("abc", c));
}

}  // namespace raftd::test
