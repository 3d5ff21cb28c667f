#include "server/keyspace/keyspace.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace raftd {

namespace {

// Rough cost of one key beyond its bytes: the node, the Value, the index entry, allocator slack.
constexpr std::size_t kPerKeyOverhead = 80;
constexpr std::uint64_t kMaxScanPos = (std::uint64_t{1} << 63) - 1;

[[noreturn]] void die(std::string_view what, std::string_view key) {
  fmt::print(stderr, "raftd: keyspace invariant broken: {} (key '{}')\n", what, key);
  std::abort();
}

// A key's SCAN position: its hash without the lowest bit, so every position fits a signed
// 64-bit integer and position + 1 never wraps.
template <class N>
std::uint64_t scan_pos(const N& node) {
  return node.hash >> 1;
}

}  // namespace

std::string_view type_name(ValueType type) {
  switch (type) {
    case ValueType::kString:
      return "string";
    case ValueType::kHash:
      return "hash";
  }
  return "none";
}

std::size_t Value::payload_bytes() const {
  if (type_ == ValueType::kHash) return sizeof(HashValue) + hash_->bytes();
  return str_.size();
}

Keyspace::Keyspace()
    : slots_(new Slot[kSlots]), nonempty_(kSlots / 64, 0), slot_expires_(kSlots, 0) {}

Keyspace::~Keyspace() = default;

std::size_t Keyspace::entry_bytes(std::string_view key, const Value& value) {
  return key.size() + value.payload_bytes() + kPerKeyOverhead;
}

KeyspaceStats Keyspace::stats() const {
  KeyspaceStats s;
  s.keys = size_;
  s.expires = expires_;
  s.used_bytes = used_bytes_;
  s.hits = hits_;
  s.misses = misses_;
  s.expired_keys = expired_keys_;
  return s;
}

// ------------------------------------------------------------------------------------- reads

const Keyspace::Node* Keyspace::lookup(std::string_view key) const {
  const std::uint64_t hash = key_hash(key);
  return slots_[slot_of(hash)].find(key, hash);
}

const Value* Keyspace::find(std::string_view key, std::int64_t now_ms) const {
  const Node* node = lookup(key);
  if (node == nullptr) {
    ++misses_;
    return nullptr;
  }
  if (node->value.expired_at(now_ms)) {
    note_expired(key);
    ++misses_;
    return nullptr;
  }
  ++hits_;
  return &node->value;
}

const Value* Keyspace::peek(std::string_view key, std::int64_t now_ms) const {
  const Node* node = lookup(key);
  if (node == nullptr) return nullptr;
  if (node->value.expired_at(now_ms)) {
    note_expired(key);
    return nullptr;
  }
  return &node->value;
}

bool Keyspace::visible(std::string_view key, const Value& value, std::int64_t now_ms) const {
  if (!value.expired_at(now_ms)) return true;
  note_expired(key);
  return false;
}

void Keyspace::note_expired(std::string_view key) const {
  if (expired_candidates_.size() >= kMaxExpiredCandidates) return;
  if (expired_candidates_.find(key) != expired_candidates_.end()) return;
  expired_candidates_.emplace(key);
}

std::vector<std::string> Keyspace::drain_expired_candidates() {
  std::vector<std::string> out;
  out.reserve(expired_candidates_.size());
  while (!expired_candidates_.empty()) {
    out.push_back(std::move(expired_candidates_.extract(expired_candidates_.begin()).value()));
  }
  return out;
}

std::vector<std::string> Keyspace::sample_expired(std::int64_t now_ms, std::size_t max_keys,
                                                  std::size_t max_examined) const {
  std::vector<std::string> out;
  std::size_t examined = 0;
  for (std::size_t visited = 0;
       visited < kSlots && out.size() < max_keys && examined < max_examined; ++visited) {
    const std::uint32_t slot = sweep_slot_;
    if (slot_expires_[slot] != 0) {
      slots_[slot].for_each([&](const Node& node) {
        if (!node.value.has_expire() || out.size() >= max_keys) return;
        ++examined;
        if (node.value.expired_at(now_ms)) out.push_back(node.key);
      });
      // Stopped inside the slot: look at it again next time rather than skip its tail.
      if (out.size() >= max_keys) break;
    }
    sweep_slot_ = (slot + 1) % kSlots;
  }
  return out;
}

std::uint32_t Keyspace::next_nonempty_slot(std::uint32_t from) const {
  std::size_t word = from / 64;
  if (word >= nonempty_.size()) return kSlots;
  std::uint64_t bits = nonempty_[word] & (~std::uint64_t{0} << (from % 64));
  while (bits == 0) {
    if (++word == nonempty_.size()) return kSlots;
    bits = nonempty_[word];
  }
  return static_cast<std::uint32_t>(word * 64 + static_cast<std::size_t>(__builtin_ctzll(bits)));
}

void Keyspace::collect_slot(std::uint32_t slot, std::uint64_t min_pos,
                            std::vector<const Node*>& out) const {
  const std::size_t first = out.size();
  slots_[slot].for_each([&](const Node& node) {
    if (scan_pos(node) >= min_pos) out.push_back(&node);
  });
  std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
            [](const Node* a, const Node* b) {
              if (scan_pos(*a) != scan_pos(*b)) return scan_pos(*a) < scan_pos(*b);
              return a->key < b->key;
            });
}

std::uint64_t Keyspace::scan(std::uint64_t cursor, std::size_t count,
                             std::vector<std::pair<std::string_view, const Value*>>& out) const {
  if (count == 0) count = 1;
  if (cursor > kMaxScanPos) return 0;
  std::uint64_t min_pos = cursor;
  std::uint32_t slot = static_cast<std::uint32_t>(cursor >> kPosShift);
  std::size_t taken = 0;
  std::vector<const Node*> buf;
  for (;;) {
    slot = next_nonempty_slot(slot);
    if (slot == kSlots) return 0;
    min_pos = std::max(min_pos, std::uint64_t{slot} << kPosShift);
    buf.clear();
    collect_slot(slot, min_pos, buf);
    std::size_t i = 0;
    for (; i < buf.size() && taken < count; ++i, ++taken) {
      out.emplace_back(buf[i]->key, &buf[i]->value);
    }
    // Keys sharing the last position go together: the next cursor starts past that position.
    while (i > 0 && i < buf.size() && scan_pos(*buf[i]) == scan_pos(*buf[i - 1])) {
      out.emplace_back(buf[i]->key, &buf[i]->value);
      ++i;
    }
    if (i < buf.size()) return scan_pos(*buf[i - 1]) + 1;  // i > 0: count >= 1
    if (slot + 1 == kSlots) return 0;
    ++slot;
    min_pos = std::uint64_t{slot} << kPosShift;
    if (taken >= count) return next_nonempty_slot(slot) == kSlots ? 0 : min_pos;
  }
}

void Keyspace::for_each(const std::function<void(std::string_view, const Value&)>& f) const {
  std::vector<const Node*> buf;
  for (std::uint32_t slot = next_nonempty_slot(0); slot < kSlots;
       slot = next_nonempty_slot(slot + 1)) {
    buf.clear();
    collect_slot(slot, 0, buf);
    for (const Node* node : buf) f(node->key, node->value);
  }
}

// ------------------------------------------------------------------------------------ writes

void Keyspace::on_slot_grew(std::uint32_t slot) {
  nonempty_[slot / 64] |= std::uint64_t{1} << (slot % 64);
}

void Keyspace::on_slot_shrank(std::uint32_t slot) {
  if (slots_[slot].empty()) nonempty_[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
}

Keyspace::Ref Keyspace::find_for_write(std::string_view key, std::int64_t now_ms) {
  const std::uint64_t hash = key_hash(key);
  const std::uint32_t slot = slot_of(hash);
  Node* node = slots_[slot].find(key, hash);
  if (node == nullptr) return {};
  if (node->value.expired_at(now_ms)) {
    erase(Ref(node, slot));
    ++expired_keys_;
    return {};
  }
  return Ref(node, slot);
}

Keyspace::Ref Keyspace::add(std::string_view key, Value value) {
  const std::uint64_t hash = key_hash(key);
  const std::uint32_t slot = slot_of(hash);
  if (slots_[slot].find(key, hash) != nullptr) die("insert of a key that exists", key);
  auto owned = std::make_unique<Node>();
  owned->key.assign(key);
  owned->value = std::move(value);
  owned->hash = hash;
  Node* node = slots_[slot].insert(std::move(owned));
  ++size_;
  used_bytes_ += entry_bytes(node->key, node->value);
  if (node->value.has_expire()) {
    ++expires_;
    ++slot_expires_[slot];
  }
  on_slot_grew(slot);
  return Ref(node, slot);
}

Keyspace::Ref Keyspace::insert_string(std::string_view key, std::string_view value,
                                      std::int64_t expire_at) {
  Value v;
  v.type_ = ValueType::kString;
  v.str_.assign(value);
  v.expire_at_ = expire_at;
  return add(key, std::move(v));
}

Keyspace::Ref Keyspace::insert_hash(std::string_view key) {
  Value v;
  v.type_ = ValueType::kHash;
  v.hash_ = std::make_unique<HashValue>();
  return add(key, std::move(v));
}

bool Keyspace::erase(std::string_view key) {
  const std::uint64_t hash = key_hash(key);
  const std::uint32_t slot = slot_of(hash);
  Node* node = slots_[slot].find(key, hash);
  if (node == nullptr) return false;
  erase(Ref(node, slot));
  return true;
}

void Keyspace::erase(Ref ref) {
  Node* node = ref.node_;
  if (slots_[ref.slot_].find(node->key, node->hash) != node) {
    die("erase through a stale Ref", node->key);
  }
  --size_;
  used_bytes_ -= entry_bytes(node->key, node->value);
  if (node->value.has_expire()) {
    --expires_;
    --slot_expires_[ref.slot_];
  }
  slots_[ref.slot_].remove(node);  // frees the node
  on_slot_shrank(ref.slot_);
}

void Keyspace::clear() {
  for (std::size_t i = 0; i < kSlots; ++i) slots_[i].clear();
  std::fill(nonempty_.begin(), nonempty_.end(), 0);
  std::fill(slot_expires_.begin(), slot_expires_.end(), 0);
  size_ = 0;
  expires_ = 0;
  used_bytes_ = 0;
  expired_candidates_.clear();
}

void Keyspace::set_string(Ref ref, std::string_view value) {
  Value& v = ref.node_->value;
  used_bytes_ -= v.payload_bytes();
  v.type_ = ValueType::kString;
  v.hash_.reset();
  v.str_.assign(value);
  used_bytes_ += v.payload_bytes();
}

std::size_t Keyspace::append(Ref ref, std::string_view tail) {
  Value& v = ref.node_->value;
  if (!v.is_string()) die("append to a non-string", ref.key());
  v.str_.append(tail);
  used_bytes_ += tail.size();
  return v.str_.size();
}

std::size_t Keyspace::set_range(Ref ref, std::size_t offset, std::string_view bytes) {
  Value& v = ref.node_->value;
  if (!v.is_string()) die("setrange on a non-string", ref.key());
  used_bytes_ -= v.payload_bytes();
  if (v.str_.size() < offset + bytes.size()) v.str_.resize(offset + bytes.size(), '\0');
  if (!bytes.empty()) std::memcpy(v.str_.data() + offset, bytes.data(), bytes.size());
  used_bytes_ += v.payload_bytes();
  return v.str_.size();
}

bool Keyspace::hash_set(Ref ref, std::string_view field, std::string_view value) {
  Value& v = ref.node_->value;
  if (!v.is_hash()) die("hash_set on a non-hash", ref.key());
  used_bytes_ -= v.payload_bytes();
  const bool added = v.hash_->set(field, value);
  used_bytes_ += v.payload_bytes();
  return added;
}

bool Keyspace::hash_erase(Ref ref, std::string_view field) {
  Value& v = ref.node_->value;
  if (!v.is_hash()) die("hash_erase on a non-hash", ref.key());
  used_bytes_ -= v.payload_bytes();
  const bool removed = v.hash_->erase(field);
  used_bytes_ += v.payload_bytes();
  return removed;
}

void Keyspace::hash_make_big(Ref ref) {
  Value& v = ref.node_->value;
  if (!v.is_hash()) die("hash_make_big on a non-hash", ref.key());
  v.hash_->make_big();  // same byte count in either form: used_bytes_ is unchanged
}

void Keyspace::set_expire(Ref ref, std::int64_t expire_at) {
  Value& v = ref.node_->value;
  const bool had = v.has_expire();
  v.expire_at_ = expire_at < 0 ? kNoExpire : expire_at;
  const bool has = v.has_expire();
  if (had && !has) {
    --expires_;
    --slot_expires_[ref.slot_];
  } else if (!had && has) {
    ++expires_;
    ++slot_expires_[ref.slot_];
  }
}

Keyspace::Ref Keyspace::rename(Ref src, std::string_view dst) {
  Node* node = src.node_;
  if (slots_[src.slot_].find(node->key, node->hash) != node) {
    die("rename through a stale Ref", node->key);
  }
  const std::uint64_t hash = key_hash(dst);
  const std::uint32_t slot = slot_of(hash);
  if (slots_[slot].find(dst, hash) != nullptr) die("rename onto a key that exists", dst);
  const bool volatile_key = node->value.has_expire();
  used_bytes_ -= node->key.size();
  std::unique_ptr<Node> owned = slots_[src.slot_].remove(node);  // the value is not copied
  if (volatile_key) --slot_expires_[src.slot_];
  on_slot_shrank(src.slot_);

  owned->key.assign(dst);
  owned->hash = hash;
  node = slots_[slot].insert(std::move(owned));
  used_bytes_ += dst.size();
  if (volatile_key) ++slot_expires_[slot];
  on_slot_grew(slot);
  return Ref(node, slot);
}

}  // namespace raftd
