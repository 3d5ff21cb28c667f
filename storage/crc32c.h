// CRC32C (Castagnoli), the checksum on every log record and snapshot file we write. It uses the
// SSE4.2 instruction when the CPU has it and a table otherwise; both give the same values.
#pragma once

#include <cstdint>
#include <string_view>

namespace storage {

/// Continues a CRC32C over `data`: crc32c_extend(crc32c(a), b) == crc32c(a + b).
std::uint32_t crc32c_extend(std::uint32_t crc, std::string_view data);

inline std::uint32_t crc32c(std::string_view data) {
  return crc32c_extend(0, data);
}

namespace detail {
/// The table-driven path alone, so tests can check it against the hardware one.
std::uint32_t crc32c_extend_portable(std::uint32_t crc, std::string_view data);
}  // namespace detail

}  // namespace storage
