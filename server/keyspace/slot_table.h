// The index of one keyspace slot: open addressing with linear probing over (hash, node) pairs.
// Nodes hold the key and value and never move, so a Keyspace::Ref stays valid while the index
// grows or shrinks around it. A probe compares the stored 64-bit hash before touching a node,
// and growing never re-hashes a key. (std::unordered_map was measured 3-5x slower here: its
// bucket -> "node before" -> node chain costs extra dependent cache misses per lookup.)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace raftd {

template <class V>
struct KeyNode {
  std::string key;
  V value;
  std::uint64_t hash = 0;  ///< key_hash(key): slot, SCAN position and probe start
};

template <class V>
class SlotTable {
 public:
  using Node = KeyNode<V>;

  SlotTable() = default;
  ~SlotTable() { clear(); }
  SlotTable(const SlotTable&) = delete;
  SlotTable& operator=(const SlotTable&) = delete;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  Node* find(std::string_view key, std::uint64_t hash) const {
    if (size_ == 0) return nullptr;
    for (std::uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Entry& e = entries_[i];
      if (e.node == nullptr) return nullptr;
      if (e.hash == hash && e.node->key == key) return e.node;
    }
  }

  /// Takes ownership; the key must be absent (the caller checked with find()).
  Node* insert(std::unique_ptr<Node> node) {
    if ((size_ + 1) * 4 > capacity() * 3) resize(capacity() == 0 ? 4 : capacity() * 2);
    Node* raw = node.release();
    place(Entry{raw->hash, raw});
    ++size_;
    return raw;
  }

  /// Gives up ownership of `node`, which must be in this table.
  std::unique_ptr<Node> remove(const Node* node) {
    std::uint64_t i = node->hash & mask_;
    while (entries_[i].node != node) i = (i + 1) & mask_;
    std::unique_ptr<Node> owned(entries_[i].node);
    // Backward-shift deletion: pull later members of the probe run into the hole, so lookups
    // never need tombstones.
    for (std::uint64_t j = (i + 1) & mask_; entries_[j].node != nullptr; j = (j + 1) & mask_) {
      const std::uint64_t home = entries_[j].hash & mask_;
      if (((j - home) & mask_) >= ((j - i) & mask_)) {
        entries_[i] = entries_[j];
        i = j;
      }
    }
    entries_[i] = Entry{};
    --size_;
    if (size_ * 8 < capacity() && capacity() > 8) resize(capacity() / 2);
    return owned;
  }

  /// Calls f(const Node&) for every node, in index order (not meaningful to clients).
  template <class F>
  void for_each(F&& f) const {
    for (std::uint64_t i = 0; i < capacity(); ++i) {
      if (entries_[i].node != nullptr) f(static_cast<const Node&>(*entries_[i].node));
    }
  }

  void clear() {
    for (std::uint64_t i = 0; i < capacity(); ++i) delete entries_[i].node;
    entries_.reset();
    mask_ = 0;
    size_ = 0;
  }

 private:
  struct Entry {
    std::uint64_t hash = 0;
    Node* node = nullptr;  // owned; nullptr = free
  };

  std::uint64_t capacity() const { return entries_ ? mask_ + 1 : 0; }

  void place(Entry e) {
    std::uint64_t i = e.hash & mask_;
    while (entries_[i].node != nullptr) i = (i + 1) & mask_;
    entries_[i] = e;
  }

  void resize(std::uint64_t new_capacity) {
    std::unique_ptr<Entry[]> old = std::move(entries_);
    const std::uint64_t old_capacity = old ? mask_ + 1 : 0;
    entries_ = std::make_unique<Entry[]>(new_capacity);
    mask_ = new_capacity - 1;
    for (std::uint64_t i = 0; i < old_capacity; ++i) {
      if (old[i].node != nullptr) place(old[i]);
    }
  }

  std::unique_ptr<Entry[]> entries_;
  std::uint64_t mask_ = 0;
  std::uint64_t size_ = 0;
};

}  // namespace raftd
