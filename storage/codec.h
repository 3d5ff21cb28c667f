// Fixed-width big-endian encoding for everything we write to disk. Big-endian so that encoded
// indexes sort in numeric order as byte strings (RocksDB keys, file names compare the same way).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"

namespace storage::codec {

inline void put_u8(std::string& out, std::uint8_t v) {
  out.push_back(static_cast<char>(v));
}

inline void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

inline void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

inline std::uint32_t load_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

inline std::uint64_t load_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

/// Consumes fixed-width fields from a byte string; any read past the end sets failed() and
/// yields zeros, so a decoder checks once at the end.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  std::uint8_t u8() {
    if (!need(1)) return 0;
    const auto v = static_cast<std::uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return v;
  }
  std::uint32_t u32() {
    if (!need(4)) return 0;
    const std::uint32_t v = load_u32(data_.data());
    data_.remove_prefix(4);
    return v;
  }
  std::uint64_t u64() {
    if (!need(8)) return 0;
    const std::uint64_t v = load_u64(data_.data());
    data_.remove_prefix(8);
    return v;
  }
  std::string_view bytes(std::size_t n) {
    if (!need(n)) return {};
    const std::string_view v = data_.substr(0, n);
    data_.remove_prefix(n);
    return v;
  }

  bool failed() const { return failed_; }
  std::size_t remaining() const { return data_.size(); }
  /// True when every byte was consumed and nothing was missing.
  bool done() const { return !failed_ && data_.empty(); }

 private:
  bool need(std::size_t n) {
    if (failed_ || data_.size() < n) {
      failed_ = true;
      return false;
    }
    return true;
  }

  std::string_view data_;
  bool failed_ = false;
};

inline void put_ids(std::string& out, const std::vector<raft::NodeId>& ids) {
  put_u32(out, static_cast<std::uint32_t>(ids.size()));
  for (raft::NodeId id : ids) put_u64(out, id);
}

inline void put_conf_state(std::string& out, const raft::ConfState& conf) {
  put_ids(out, conf.voters);
  put_ids(out, conf.learners);
}

inline std::vector<raft::NodeId> get_ids(Reader& r) {
  std::vector<raft::NodeId> ids;
  const std::uint32_t n = r.u32();
  // A count larger than the bytes left is corruption; do not let it size an allocation.
  if (r.failed() || n > r.remaining() / 8) {
    r.bytes(r.remaining() + 1);  // marks the reader failed
    return ids;
  }
  ids.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) ids.push_back(r.u64());
  return ids;
}

inline raft::ConfState get_conf_state(Reader& r) {
  raft::ConfState conf;
  conf.voters = get_ids(r);
  conf.learners = get_ids(r);
  return conf;
}

}  // namespace storage::codec
