// resp::Writer: every reply type's exact bytes, and bulk_double against what redis-server 7.0
// replies to INCRBYFLOAT (values below were read from a real redis-server 7.0.15).
#include "resp/writer.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

using namespace std::string_literals;

namespace {

std::string bulk_double(long double v) {
  std::string out;
  resp::Writer(out).bulk_double(v);
  return out;
}

// What INCRBYFLOAT computes: both operands parsed with strtold, added in long double.
std::string incrbyfloat(const char* current, const char* increment) {
  return bulk_double(std::strtold(current, nullptr) + std::strtold(increment, nullptr));
}

std::string bulk_of(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

}  // namespace

TEST_CASE("simple, error, ok", "[resp][writer]") {
  std::string out;
  resp::Writer w(out);
  w.simple("PONG");
  w.error("ERR syntax error");
  w.ok();
  w.simple("");
  REQUIRE(out == "+PONG\r\n-ERR syntax error\r\n+OK\r\n+\r\n");
}

TEST_CASE("integers", "[resp][writer]") {
  std::string out;
  resp::Writer w(out);
  w.integer(0);
  w.integer(1);
  w.integer(-1);
  w.integer(std::numeric_limits<std::int64_t>::max());
  w.integer(std::numeric_limits<std::int64_t>::min());
  REQUIRE(out == ":0\r\n:1\r\n:-1\r\n:9223372036854775807\r\n:-9223372036854775808\r\n");
}

TEST_CASE("bulk strings, nulls, arrays, raw", "[resp][writer]") {
  std::string out;
  resp::Writer w(out);
  w.bulk("hello");
  w.bulk("");
  w.bulk(std::string("a\r\n\0b", 5));
  w.null();
  w.null_array();
  w.array(2);
  w.bulk("x");
  w.integer(7);
  w.array(0);
  w.raw("+already encoded\r\n");
  REQUIRE(out ==
          "$5\r\nhello\r\n$0\r\n\r\n$5\r\na\r\n\0b\r\n$-1\r\n*-1\r\n"
          "*2\r\n$1\r\nx\r\n:7\r\n*0\r\n+already encoded\r\n"s);
  REQUIRE(&w.buffer() == &out);
}

TEST_CASE("writer appends to what is already in the buffer", "[resp][writer]") {
  std::string out = "+first\r\n";
  resp::Writer w(out);
  w.integer(2);
  REQUIRE(out == "+first\r\n:2\r\n");
  const std::string big(100000, 'z');
  w.bulk(big);
  REQUIRE(out == "+first\r\n:2\r\n" + bulk_of(big));
}

TEST_CASE("bulk_double formats like INCRBYFLOAT", "[resp][writer]") {
  REQUIRE(incrbyfloat("0", "10.5") == bulk_of("10.5"));
  REQUIRE(incrbyfloat("10.5", "0.25") == bulk_of("10.75"));
  REQUIRE(incrbyfloat("0", "3.0e3") == bulk_of("3000"));
  REQUIRE(incrbyfloat("5.0e3", "0.1") == bulk_of("5000.10000000000000009"));
  REQUIRE(incrbyfloat("1.5", "1.5") == bulk_of("3"));
  REQUIRE(incrbyfloat("17179869184", "1.5") == bulk_of("17179869185.5"));
  REQUIRE(incrbyfloat("17179869184", "17179869184") == bulk_of("34359738368"));
  REQUIRE(incrbyfloat("0.1", "0.2") == bulk_of("0.3"));
  REQUIRE(incrbyfloat("1", "-1.1") == bulk_of("-0.1"));
  REQUIRE(incrbyfloat("0", "1e20") == bulk_of("100000000000000000000"));
  REQUIRE(incrbyfloat("0", "1.23456789012345678") == bulk_of("1.23456789012345678"));
  REQUIRE(incrbyfloat("0", "-5") == bulk_of("-5"));
  REQUIRE(incrbyfloat("0", "0.000001") == bulk_of("0.000001"));
  REQUIRE(incrbyfloat("0", "1e-20") == bulk_of("0"));  // below 17 decimals
  REQUIRE(incrbyfloat("10.50", "0") == bulk_of("10.5"));
  REQUIRE(incrbyfloat("0", "3.14159265358979323846") == bulk_of("3.14159265358979324"));
  REQUIRE(incrbyfloat("0", "0.024390243902439025") == bulk_of("0.02439024390243902"));
  REQUIRE(incrbyfloat("0", "1e300") ==
          bulk_of("1000000000000000000008997324079559193870523944273290747938260082321265646"
                  "5961809357558491520837504971903503725086142748359035925561846729839130962"
                  "6052074864628732713564184365329408425510760601678972665293237003055138294"
                  "7620994540294772781889620606179267611627097410650567187386105690089424915"
                  "104006144"));
}

TEST_CASE("bulk_double never prints a negative zero", "[resp][writer]") {
  // Redis "No negative zero": incrbyfloat 1/41 then -1/41 gives "0".
  REQUIRE(incrbyfloat("0.024390243902439025", "-0.024390243902439025") == bulk_of("0"));
  REQUIRE(bulk_double(-0.0L) == bulk_of("0"));
  REQUIRE(bulk_double(-1e-30L) == bulk_of("0"));
  REQUIRE(bulk_double(0.0L) == bulk_of("0"));
}

TEST_CASE("bulk_double infinities and the largest long double", "[resp][writer]") {
  REQUIRE(bulk_double(HUGE_VALL) == bulk_of("inf"));
  REQUIRE(bulk_double(-HUGE_VALL) == bulk_of("-inf"));
  // ~4933 digits still fit the 5 KB buffer Redis uses (MAX_LONG_DOUBLE_CHARS).
  const std::string max = bulk_double(std::numeric_limits<long double>::max());
  REQUIRE(max.size() > 4900);
  REQUIRE(max.substr(0, 8) == "$4933\r\n1");
  REQUIRE(max.substr(max.size() - 2) == "\r\n");
}
