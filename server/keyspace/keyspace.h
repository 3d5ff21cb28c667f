// The keyspace: every key with its value (a string or a hash) and an optional absolute expiry.
//
// Two kinds of callers, two kinds of lookups:
//  - Read handlers run on any node (followers too) against applied state, with the serving
//    node's clock as `now_ms`. They get const access; a logically expired key is hidden but NOT
//    deleted (only the leader deletes, by proposing a REAPEXPIRED entry), and its name is noted in
//    a bounded "expired candidates" list the host drains to propose those deletes.
//  - Write handlers run inside apply on every node with the entry's timestamp as `now_ms`. A key
//    whose expiry is <= now is treated as absent and removed on the spot: every node applies the
//    same entry with the same timestamp, so every node removes the same keys.
// One rule everywhere: a key is expired at `now` iff expire_at <= now.
//
// Layout: keys are spread by a stable 64-bit hash (key_hash.h) over kSlots fixed slots, each its
// own open-addressing index (slot_table.h). That gives SCAN an integer cursor with Redis's
// guarantee (see scan()), keeps rehashing pauses small (one slot rehashes at a time), and leaves
// room for snapshots that do not stop the node: share every slot and copy one only when a write
// touches it, or fork() and let the child serialize in for_each() order; either way the map stays
// behind this class. Every order that reaches a client (KEYS, SCAN) is "by scan position, then by
// key": the same on every node holding the same content.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/keyspace/hash_value.h"
#include "server/keyspace/key_hash.h"
#include "server/keyspace/slot_table.h"

namespace raftd {

/// "No expiry", as Redis's getExpire() returns it.
inline constexpr std::int64_t kNoExpire = -1;

enum class ValueType : std::uint8_t { kString, kHash };

/// The name TYPE replies and SCAN ... TYPE matches: "string", "hash".
std::string_view type_name(ValueType type);

/// One stored value. Read-only outside Keyspace: every change goes through a Keyspace method so
/// the counters (keys with expiry, used bytes) stay exact.
class Value {
 public:
  ValueType type() const { return type_; }
  bool is_string() const { return type_ == ValueType::kString; }
  bool is_hash() const { return type_ == ValueType::kHash; }
  /// Only for strings.
  const std::string& str() const { return str_; }
  /// Only for hashes.
  const HashValue& hash() const { return *hash_; }
  /// Absolute unix ms, or kNoExpire.
  std::int64_t expire_at() const { return expire_at_; }
  bool has_expire() const { return expire_at_ != kNoExpire; }
  bool expired_at(std::int64_t now_ms) const {
    return expire_at_ != kNoExpire && expire_at_ <= now_ms;
  }

 private:
  friend class Keyspace;
  std::size_t payload_bytes() const;

  ValueType type_ = ValueType::kString;
  std::int64_t expire_at_ = kNoExpire;
  std::string str_;
  std::unique_ptr<HashValue> hash_;
};

/// Counters for INFO (keyspace and stats sections).
struct KeyspaceStats {
  std::uint64_t keys = 0;          ///< keys stored, including expired ones not yet removed
  std::uint64_t expires = 0;       ///< keys with an expiry
  std::uint64_t used_bytes = 0;    ///< approximate bytes held by keys and values
  std::uint64_t hits = 0;          ///< keyspace_hits: read lookups that found a live key
  std::uint64_t misses = 0;        ///< keyspace_misses
  std::uint64_t expired_keys = 0;  ///< keys removed because they had expired (in apply)
};

class Keyspace {
  using Node = KeyNode<Value>;
  using Slot = SlotTable<Value>;

 public:
  static constexpr unsigned kSlotBits = 14;
  static constexpr std::size_t kSlots = std::size_t{1} << kSlotBits;
  /// Bound on the expired-candidates list; names beyond it are dropped (the background sweep
  /// finds them later).
  static constexpr std::size_t kMaxExpiredCandidates = 1024;

  /// A live key found or created inside apply. Valid until that key is removed or renamed;
  /// other keys coming and going do not invalidate it.
  class Ref {
   public:
    Ref() = default;
    explicit operator bool() const { return node_ != nullptr; }
    std::string_view key() const { return node_->key; }
    const Value& value() const { return node_->value; }
    const Value* operator->() const { return &node_->value; }

   private:
    friend class Keyspace;
    Ref(Node* node, std::uint32_t slot) : node_(node), slot_(slot) {}
    Node* node_ = nullptr;
    std::uint32_t slot_ = 0;
  };

  Keyspace();
  ~Keyspace();
  Keyspace(const Keyspace&) = delete;
  Keyspace& operator=(const Keyspace&) = delete;

  // ---------------------------------------------------------------- reads (any node)

  /// Redis's lookupKeyRead: the live value or nullptr. Counts keyspace hits/misses; an expired
  /// key counts as a miss and is noted as an expired candidate.
  const Value* find(std::string_view key, std::int64_t now_ms) const;
  /// Same without touching hit/miss counters (KEYS, SCAN's TYPE filter, internal checks).
  const Value* peek(std::string_view key, std::int64_t now_ms) const;
  /// False if `value` (of `key`) is expired at now_ms, noting the key as an expired candidate.
  bool visible(std::string_view key, const Value& value, std::int64_t now_ms) const;

  /// Number of stored keys (Redis's DBSIZE counts expired keys not yet removed too).
  std::size_t size() const { return size_; }
  KeyspaceStats stats() const;

  /// One step of SCAN. The cursor is a 63-bit scan position (the key's hash >> 1): keys are
  /// visited in increasing (position, key) order, so a key present for the whole scan is
  /// returned exactly once whatever is inserted or deleted meanwhile (Redis promises "at least
  /// once"). Appends about `count` keys (more if several share the last position) with their
  /// values to `out` - expired ones included, the caller filters - and returns the next cursor,
  /// 0 when the scan is complete. Work is proportional to the slots touched, never to the
  /// whole keyspace. Pointers stay valid until the next write.
  std::uint64_t scan(std::uint64_t cursor, std::size_t count,
                     std::vector<std::pair<std::string_view, const Value*>>& out) const;

  /// Calls f(key, value) for every stored key (expired ones included) in scan order.
  void for_each(const std::function<void(std::string_view, const Value&)>& f) const;

  /// Returns and forgets the names of expired keys that reads ran into (sorted, no repeats).
  /// For the leader's host, which proposes REAPEXPIRED for them.
  std::vector<std::string> drain_expired_candidates();
  /// A bounded step of the background sweep: up to `max_keys` names of keys expired at now_ms,
  /// looking at no more than `max_examined` keys with an expiry. Resumes where the previous call
  /// stopped and wraps around, so repeated calls cover the whole keyspace.
  std::vector<std::string> sample_expired(std::int64_t now_ms, std::size_t max_keys,
                                          std::size_t max_examined = 2000) const;

  // ------------------------------------------------------------ writes (apply only)

  /// Redis's lookupKeyWrite: the live key, or an empty Ref. A key expired at now_ms (the
  /// entry's timestamp) is removed here and counted in expired_keys.
  Ref find_for_write(std::string_view key, std::int64_t now_ms);
  /// Removes the key whatever its expiry; true if it was stored.
  bool erase(std::string_view key);
  void erase(Ref ref);
  /// Removes every key (FLUSHDB/FLUSHALL).
  void clear();

  /// Adds a key that must be absent (call find_for_write first); aborts otherwise.
  Ref insert_string(std::string_view key, std::string_view value,
                    std::int64_t expire_at = kNoExpire);
  Ref insert_hash(std::string_view key);
  /// Replaces the value by a string (whatever the old type); the expiry is left alone.
  void set_string(Ref ref, std::string_view value);
  /// Appends to a string value; returns the new length.
  std::size_t append(Ref ref, std::string_view tail);
  /// Overwrites bytes at `offset` of a string value, zero-padding as needed (SETRANGE);
  /// returns the new length.
  std::size_t set_range(Ref ref, std::size_t offset, std::string_view bytes);
  /// Hash field changes; the caller removes the key when a hash becomes empty.
  bool hash_set(Ref ref, std::string_view field, std::string_view value);
  bool hash_erase(Ref ref, std::string_view field);
  /// Sets (or with kNoExpire removes) the expiry.
  void set_expire(Ref ref, std::int64_t expire_at);
  /// Moves the value and expiry of `src` under the name `dst`, which must be absent. Returns the
  /// Ref of the new key; `src` is gone.
  Ref rename(Ref src, std::string_view dst);

  // ------------------------------------------- snapshot restore (server/keyspace/snapshot.cc only)

  /// Converts a hash to its ordered form (HashValue::make_big), as the snapshot recorded it.
  void hash_make_big(Ref ref);
  /// Sets the expired_keys counter: it counts removals done in apply, so it is replicated state
  /// (INFO reports it) and a snapshot carries it.
  void restore_expired_keys(std::uint64_t n) { expired_keys_ = n; }

 private:
  static std::uint32_t slot_of(std::uint64_t hash) {
    return static_cast<std::uint32_t>(hash >> (64 - kSlotBits));
  }
  static constexpr unsigned kPosShift = 63 - kSlotBits;  // scan position -> slot
  static std::size_t entry_bytes(std::string_view key, const Value& value);

  const Node* lookup(std::string_view key) const;
  Ref add(std::string_view key, Value value);
  void note_expired(std::string_view key) const;
  void on_slot_grew(std::uint32_t slot);
  void on_slot_shrank(std::uint32_t slot);
  std::uint32_t next_nonempty_slot(std::uint32_t from) const;  // kSlots if none
  /// Entries of `slot` with scan position >= min_pos, sorted by (position, key).
  void collect_slot(std::uint32_t slot, std::uint64_t min_pos, std::vector<const Node*>& out) const;

  std::unique_ptr<Slot[]> slots_;
  std::vector<std::uint64_t> nonempty_;      // bitmap over slots: skip empty ones in O(1)
  std::vector<std::uint32_t> slot_expires_;  // keys with expiry per slot, for the sweep
  std::size_t size_ = 0;
  std::size_t expires_ = 0;
  std::size_t used_bytes_ = 0;
  std::uint64_t expired_keys_ = 0;
  // Read-path bookkeeping: reads are const (they must not change the data) but do count.
  mutable std::uint64_t hits_ = 0;
  mutable std::uint64_t misses_ = 0;
  mutable std::set<std::string, std::less<>> expired_candidates_;
  mutable std::uint32_t sweep_slot_ = 0;
};

}  // namespace raftd
