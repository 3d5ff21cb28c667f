// Number parsing and formatting with Redis's exact acceptance rules (util.c), because which
// inputs are errors, and the bytes a result is stored as, are visible to clients.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace raftd {

/// Redis string2ll: optional '-', no '+', no spaces, no leading zeros ("0" itself is fine, "-0"
/// is not), at most 20 characters, no overflow.
bool parse_int64(std::string_view s, std::int64_t& out);

/// Redis string2ld: strtold on the whole string; rejects empty input, leading space, trailing
/// bytes, NaN and overflow (but accepts "inf"). At most 5119 characters.
bool parse_long_double(std::string_view s, long double& out);

/// Redis parseScanCursorOrReply: strtoul semantics (a leading '+' or '-' is accepted, "" is 0),
/// no leading space, no trailing bytes, no overflow.
bool parse_scan_cursor(std::string_view s, std::uint64_t& out);

/// Redis ld2string(LD_STR_HUMAN): "%.17Lf" with trailing zeros (and a bare '.') removed,
/// "-0" printed as "0", infinities as "inf"/"-inf". This is how INCRBYFLOAT stores its result.
std::string format_long_double(long double value);

/// Decimal form of an integer (what INCR stores).
std::string format_int64(std::int64_t value);

}  // namespace raftd
