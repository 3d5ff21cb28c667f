// The log-entry form of a write: what a leader proposes and every node applies.
//
//   byte 0      format version (kEntryVersion)
//   bytes 1-8   timestamp: the proposer's wall clock in unix ms, little-endian int64. It is the
//               "now" of the write inside apply on every node (expiry decisions), never the
//               applying node's clock.
//   bytes 9-12  argc, little-endian uint32, >= 1
//   then argc times: length (little-endian uint32) and that many bytes
//
// args[0] is the command name. Relative times have already been rewritten to absolute ones by
// the command's prepare step, so an entry means the same thing whenever it is applied.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace raftd {

inline constexpr std::uint8_t kEntryVersion = 1;

/// Appends the encoded entry to `out`.
void encode_entry(std::int64_t timestamp_ms, std::span<const std::string_view> args,
                  std::string& out);
void encode_entry(std::int64_t timestamp_ms, std::span<const std::string> args, std::string& out);

enum class DecodeStatus {
  kOk,
  kEmpty,          ///< zero bytes
  kBadVersion,     ///< first byte is not a version we know
  kTruncated,      ///< ends inside the header, a length or an argument
  kNoArgs,         ///< argc == 0
  kTrailingBytes,  ///< bytes left after the last argument
};

std::string_view to_string(DecodeStatus status);

struct DecodedEntry {
  std::int64_t timestamp_ms = 0;
  /// Views into the decoded bytes: valid as long as they are.
  std::vector<std::string_view> args;
};

/// Decodes without copying argument bytes; `out.args` is reused (cleared, capacity kept).
DecodeStatus decode_entry(std::string_view data, DecodedEntry& out);

}  // namespace raftd
