// The value of a Redis hash: field -> value.
//
// Iteration order reaches clients (HGETALL, HKEYS, HVALS), so it must be the same on every node
// and after a snapshot restore. Small hashes keep insertion order, exactly as Redis's listpack
// encoding does, so replies match a real Redis for the common case; once a hash outgrows the
// listpack limits (more than 128 fields, or a field/value longer than 64 bytes - Redis's
// hash-max-listpack-entries / -value defaults) it moves to an ordered map and iterates sorted by
// field. Redis iterates such hashes in dict order, which clients cannot rely on anyway.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace raftd {

class HashValue {
 public:
  static constexpr std::size_t kMaxSmallEntries = 128;
  static constexpr std::size_t kMaxSmallLength = 64;

  std::size_t size() const { return big_ ? map_.size() : small_.size(); }
  bool empty() const { return size() == 0; }
  /// nullptr if the field is absent.
  const std::string* get(std::string_view field) const;
  /// Sets or overwrites; returns true if the field is new. An existing field keeps its place.
  bool set(std::string_view field, std::string_view value);
  /// Returns true if the field existed.
  bool erase(std::string_view field);
  /// Approximate heap bytes held (for INFO used_memory).
  std::size_t bytes() const { return bytes_; }
  /// True once converted to the ordered map (never converts back, like Redis).
  bool is_big() const { return big_; }
  /// Converts to the ordered map now. For a snapshot restore: a hash that once outgrew the small
  /// form iterates sorted even after it shrank, and a restored replica must do the same.
  void make_big() {
    if (!big_) convert_to_big();
  }

  /// Calls f(field, value) for every pair, in the deterministic order described above.
  template <class F>
  void for_each(F&& f) const {
    if (big_) {
      for (const auto& [k, v] : map_) f(std::string_view(k), std::string_view(v));
    } else {
      for (const auto& [k, v] : small_) f(std::string_view(k), std::string_view(v));
    }
  }

 private:
  static constexpr std::size_t kEntryOverhead = 48;  // rough per-field cost of either layout
  void convert_to_big();

  bool big_ = false;
  std::size_t bytes_ = 0;
  std::vector<std::pair<std::string, std::string>> small_;  // insertion order, linear search
  std::map<std::string, std::string, std::less<>> map_;
};

}  // namespace raftd
