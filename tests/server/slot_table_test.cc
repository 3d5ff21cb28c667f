// The slot index against a naive reference (std::map), through random inserts and removals:
// backward-shift deletion and resizing must never lose or duplicate a node.
#include "server/keyspace/slot_table.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "server/keyspace/key_hash.h"

namespace raftd::test {

TEST_CASE("SlotTable agrees with a std::map through random inserts and removals") {
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 20; ++trial) {
    SlotTable<int> table;
    std::map<std::string, int> reference;
    std::map<std::string, const KeyNode<int>*> nodes;  // nodes never move
    const int universe = 10 + trial * 40;
    for (int step = 0; step < 4000; ++step) {
      const std::string key = "k" + std::to_string(rng() % universe);
      // Few distinct hashes in some trials: long probe runs, wrap-around, many collisions.
      const std::uint64_t hash = trial % 4 == 0 ? key_hash(key) % 7 : key_hash(key);
      auto* found = table.find(key, hash);
      REQUIRE((found != nullptr) == (reference.count(key) == 1));
      if (found != nullptr) {
        REQUIRE(found == nodes[key]);
        REQUIRE(found->value == reference[key]);
        if (rng() % 2) {
          auto owned = table.remove(found);
          REQUIRE(owned->key == key);
          reference.erase(key);
          nodes.erase(key);
        }
      } else {
        auto node = std::make_unique<KeyNode<int>>();
        node->key = key;
        node->value = step;
        node->hash = hash;
        nodes[key] = table.insert(std::move(node));
        reference[key] = step;
      }
      REQUIRE(table.size() == reference.size());
    }
    std::size_t seen = 0;
    table.for_each([&](const KeyNode<int>& n) {
      ++seen;
      CHECK(reference.at(n.key) == n.value);
    });
    CHECK(seen == reference.size());
    table.clear();
    CHECK(table.empty());
    CHECK(table.find("k1", key_hash("k1")) == nullptr);
  }
}

}  // namespace raftd::test
