// CRC32C (Castagnoli polynomial, as in iSCSI, ext4 and RocksDB): the checksum on every peer frame.
// Uses the SSE4.2 crc32 instruction when the CPU has it, a slice-by-8 table otherwise; both
// give identical results (tests compare them against a bit-at-a-time reference).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace raftd::peer {

/// Continues a CRC32C over `n` more bytes: crc32c_extend(crc32c(a), b) == crc32c(a + b).
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n);

inline std::uint32_t crc32c(std::string_view bytes) {
  return crc32c_extend(0, bytes.data(), bytes.size());
}

/// The table-driven path, whatever the CPU supports (exposed for tests).
std::uint32_t crc32c_extend_portable(std::uint32_t crc, const void* data, std::size_t n);

/// True if crc32c_extend uses the SSE4.2 instruction on this machine.
bool crc32c_hardware_available();

}  // namespace raftd::peer
