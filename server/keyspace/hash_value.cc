#include "server/keyspace/hash_value.h"

#include <algorithm>

namespace raftd {

const std::string* HashValue::get(std::string_view field) const {
  if (big_) {
    auto it = map_.find(field);
    return it == map_.end() ? nullptr : &it->second;
  }
  for (const auto& [k, v] : small_) {
    if (k == field) return &v;
  }
  return nullptr;
}

bool HashValue::set(std::string_view field, std::string_view value) {
  if (!big_ && (field.size() > kMaxSmallLength || value.size() > kMaxSmallLength)) {
    convert_to_big();
  }
  if (big_) {
    auto it = map_.find(field);
    if (it != map_.end()) {
      bytes_ = bytes_ - it->second.size() + value.size();
      it->second.assign(value);
      return false;
    }
    map_.emplace(std::string(field), std::string(value));
    bytes_ += field.size() + value.size() + kEntryOverhead;
    return true;
  }
  for (auto& [k, v] : small_) {
    if (k == field) {
      bytes_ = bytes_ - v.size() + value.size();
      v.assign(value);
      return false;
    }
  }
  small_.emplace_back(std::string(field), std::string(value));
  bytes_ += field.size() + value.size() + kEntryOverhead;
  if (small_.size() > kMaxSmallEntries) convert_to_big();
  return true;
}

bool HashValue::erase(std::string_view field) {
  if (big_) {
    auto it = map_.find(field);
    if (it == map_.end()) return false;
    bytes_ -= it->first.size() + it->second.size() + kEntryOverhead;
    map_.erase(it);
    return true;
  }
  auto it =
      std::find_if(small_.begin(), small_.end(), [&](const auto& kv) { return kv.first == field; });
  if (it == small_.end()) return false;
  bytes_ -= it->first.size() + it->second.size() + kEntryOverhead;
  small_.erase(it);  // keeps the others in insertion order, as a listpack delete does
  return true;
}

void HashValue::convert_to_big() {
  for (auto& [k, v] : small_) map_.emplace(std::move(k), std::move(v));
  small_.clear();
  small_.shrink_to_fit();
  big_ = true;
}

}  // namespace raftd
