// The keyspace on its own: expiry rules for reads vs apply, counters, expired candidates, the
// background sweep, rename, and deterministic iteration.
#include "server/keyspace/keyspace.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "harness.h"

namespace raftd::test {

namespace {

// Checks the counters against a full recount (LogCabin-style invariant check).
void check_invariants(const Keyspace& ks) {
  std::size_t keys = 0;
  std::size_t expires = 0;
  ks.for_each([&](std::string_view, const Value& v) {
    ++keys;
    if (v.has_expire()) ++expires;
    if (v.is_hash()) CHECK_FALSE(v.hash().empty());
  });
  CHECK(keys == ks.size());
  CHECK(ks.stats().keys == keys);
  CHECK(ks.stats().expires == expires);
  if (keys == 0) CHECK(ks.stats().used_bytes == 0);
}

}  // namespace

TEST_CASE("reads hide expired keys without deleting them; apply removes them") {
  Keyspace ks;
  ks.insert_string("k", "v", kT0 + 1000);
  ks.insert_string("forever", "v");
  check_invariants(ks);

  // A read (any node, local clock): live before the expiry, hidden from it on.
  REQUIRE(ks.find("k", kT0 + 999) != nullptr);
  CHECK(ks.find("k", kT0 + 1000) == nullptr);  // expire_at <= now: expired
  CHECK(ks.peek("k", kT0 + 5000) == nullptr);
  CHECK(ks.size() == 2);  // still stored: only the leader's REAPEXPIRED deletes
  CHECK(ks.stats().expired_keys == 0);

  // Apply with an entry stamped before the expiry sees the key...
  CHECK(ks.find_for_write("k", kT0 + 999));
  CHECK(ks.size() == 2);
  // ...and one stamped at or after it removes it, counting it as expired.
  CHECK_FALSE(ks.find_for_write("k", kT0 + 1000));
  CHECK(ks.size() == 1);
  CHECK(ks.stats().expired_keys == 1);
  CHECK(ks.stats().expires == 0);
  check_invariants(ks);
}

TEST_CASE("hits and misses count read lookups only") {
  Keyspace ks;
  ks.insert_string("a", "1");
  ks.insert_string("old", "1", kT0);
  ks.find("a", kT0);
  ks.find("a", kT0);
  ks.find("nope", kT0);
  ks.find("old", kT0);  // expired: a miss
  ks.peek("a", kT0);    // no stats
  ks.find_for_write("a", kT0);
  CHECK(ks.stats().hits == 2);
  CHECK(ks.stats().misses == 2);
}

TEST_CASE("expired candidates are recorded by reads, deduplicated, bounded and drained") {
  Keyspace ks;
  for (int i = 0; i < 1500; ++i) ks.insert_string("k" + std::to_string(i), "v", kT0);
  ks.find("k1", kT0);
  ks.find("k1", kT0 + 1);
  ks.peek("k2", kT0);
  ks.find("k3", kT0 - 1);  // not expired yet: not a candidate
  auto got = ks.drain_expired_candidates();
  CHECK(got == std::vector<std::string>{"k1", "k2"});
  CHECK(ks.drain_expired_candidates().empty());

  for (int i = 0; i < 1500; ++i) ks.find("k" + std::to_string(i), kT0);
  got = ks.drain_expired_candidates();
  CHECK(got.size() == Keyspace::kMaxExpiredCandidates);
  CHECK(std::is_sorted(got.begin(), got.end()));
}

TEST_CASE("sample_expired sweeps the whole keyspace in bounded steps") {
  Keyspace ks;
  std::set<std::string> expired;
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "key:" + std::to_string(i);
    if (i % 3 == 0) {
      ks.insert_string(key, "v", kT0 + 10);
      expired.insert(key);
    } else if (i % 3 == 1) {
      ks.insert_string(key, "v", kT0 + 1'000'000);  // volatile but alive
    } else {
      ks.insert_string(key, "v");
    }
  }
  std::set<std::string> found;
  for (int round = 0; round < 1000 && found.size() < expired.size(); ++round) {
    auto batch = ks.sample_expired(kT0 + 10, 20, 200);
    CHECK(batch.size() <= 20);
    for (auto& k : batch) {
      CHECK(expired.count(k) == 1);
      found.insert(k);
    }
  }
  CHECK(found == expired);
  CHECK(ks.sample_expired(kT0, 100).empty());  // nothing expired yet at kT0
}

TEST_CASE("counters follow every kind of change") {
  Keyspace ks;
  auto a = ks.insert_string("a", "hello");
  const auto bytes_a = ks.stats().used_bytes;
  CHECK(bytes_a > 5);
  ks.append(a, "12345");
  CHECK(ks.stats().used_bytes == bytes_a + 5);
  ks.set_range(a, 20, "x");
  CHECK(a->str().size() == 21);
  CHECK(a->str().substr(10, 10) == std::string(10, '\0'));
  ks.set_expire(a, kT0 + 5);
  ks.set_expire(a, kT0 + 6);
  CHECK(ks.stats().expires == 1);
  auto h = ks.insert_hash("h");
  ks.hash_set(h, "f", "v");
  ks.hash_set(h, "g", std::string(100, 'x'));  // converts to the big layout
  CHECK(h->hash().is_big());
  ks.set_expire(h, kT0 + 7);
  check_invariants(ks);
  auto moved = ks.rename(h, "h2");
  CHECK(moved->expire_at() == kT0 + 7);
  CHECK(ks.peek("h", kT0) == nullptr);
  CHECK(ks.stats().expires == 2);
  check_invariants(ks);
  ks.set_string(moved, "now a string");
  CHECK(moved->is_string());
  check_invariants(ks);
  ks.hash_erase(ks.insert_hash("h3"), "nothing");
  ks.erase("h3");
  ks.erase(moved);
  ks.set_expire(a, kNoExpire);
  CHECK(ks.stats().expires == 0);
  CHECK(ks.erase("a"));
  CHECK_FALSE(ks.erase("a"));
  CHECK(ks.stats().used_bytes == 0);
  check_invariants(ks);
  ks.insert_string("x", "y", kT0);
  ks.clear();
  CHECK(ks.size() == 0);
  check_invariants(ks);
}

TEST_CASE("iteration order depends on the content only, not on the history") {
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; ++i) keys.push_back("user:" + std::to_string(i * 7919 % 10007));
  Keyspace forward;
  Keyspace shuffled;
  for (const auto& k : keys) forward.insert_string(k, k);
  std::mt19937 rng(42);
  auto order = keys;
  std::shuffle(order.begin(), order.end(), rng);
  // A different history: extra keys inserted and removed, different insertion order.
  for (int i = 0; i < 500; ++i) shuffled.insert_string("tmp" + std::to_string(i), "x");
  for (const auto& k : order) shuffled.insert_string(k, k);
  for (int i = 0; i < 500; ++i) shuffled.erase("tmp" + std::to_string(i));
  CHECK(dump(forward) == dump(shuffled));
}

TEST_CASE("hash values keep insertion order while small, field order once big") {
  HashValue h;
  CHECK(h.set("b", "1"));
  CHECK(h.set("a", "2"));
  CHECK_FALSE(h.set("b", "3"));  // overwrite keeps its place
  std::string order;
  h.for_each([&](std::string_view f, std::string_view v) {
    order += std::string(f) + "=" + std::string(v) + ",";
  });
  CHECK(order == "b=3,a=2,");
  for (int i = 0; i < 200; ++i) h.set("f" + std::to_string(i), "v");
  CHECK(h.is_big());
  CHECK(h.size() == 202);
  std::vector<std::string> fields;
  h.for_each([&](std::string_view f, std::string_view) { fields.emplace_back(f); });
  CHECK(std::is_sorted(fields.begin(), fields.end()));
  CHECK(h.erase("a"));
  CHECK_FALSE(h.erase("a"));
  CHECK(*h.get("b") == "3");
  CHECK(h.get("zz") == nullptr);
}

}  // namespace raftd::test
