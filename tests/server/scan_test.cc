// SCAN: completeness while the keyspace changes, bounded work per call, stable cursors.
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>

#include "harness.h"
#include "server/keyspace/keyspace.h"

namespace raftd::test {

namespace {

std::vector<std::string> scan_all(const Keyspace& ks, std::size_t count, std::size_t* calls) {
  std::vector<std::string> out;
  std::uint64_t cursor = 0;
  *calls = 0;
  do {
    std::vector<std::pair<std::string_view, const Value*>> batch;
    cursor = ks.scan(cursor, count, batch);
    ++*calls;
    for (auto& [k, v] : batch) out.emplace_back(k);
  } while (cursor != 0);
  return out;
}

}  // namespace

TEST_CASE("a full scan returns every key exactly once, for any COUNT") {
  Keyspace ks;
  for (int i = 0; i < 20000; ++i) ks.insert_string("k" + std::to_string(i), "v");
  for (std::size_t count : {1u, 3u, 10u, 100u, 1000u, 100000u}) {
    std::size_t calls = 0;
    auto keys = scan_all(ks, count, &calls);
    CHECK(keys.size() == 20000);
    CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == 20000);
    // COUNT bounds each step: about n / count calls (ties on a position may add a key).
    CHECK(calls >= 20000 / count);
    CHECK(calls <= 20000 / count + 2);
  }
  std::size_t calls = 0;
  Keyspace empty;
  CHECK(scan_all(empty, 10, &calls).empty());
  CHECK(calls == 1);
}

TEST_CASE("SCAN keeps Redis's guarantee while keys are inserted and deleted") {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 5; ++trial) {
    Keyspace ks;
    std::set<std::string> stable;  // present for the whole scan: must all be returned
    std::set<std::string> churn;
    for (int i = 0; i < 4000; ++i) {
      const std::string k = "s" + std::to_string(trial) + ":" + std::to_string(i);
      ks.insert_string(k, "v");
      stable.insert(k);
    }
    for (int i = 0; i < 2000; ++i) {
      const std::string k = "c:" + std::to_string(i);
      ks.insert_string(k, "v");
      churn.insert(k);
    }
    std::multiset<std::string> returned;
    std::uint64_t cursor = 0;
    int next_new = 0;
    do {
      std::vector<std::pair<std::string_view, const Value*>> batch;
      cursor = ks.scan(cursor, 1 + rng() % 50, batch);
      for (auto& [k, v] : batch) returned.emplace(k);
      // Between steps: delete some churn keys, add new ones.
      for (int j = 0; j < 20 && !churn.empty(); ++j) {
        auto it = churn.begin();
        std::advance(it, static_cast<long>(rng() % churn.size()));
        ks.erase(*it);
        churn.erase(it);
      }
      for (int j = 0; j < 20; ++j) {
        const std::string k = "n:" + std::to_string(next_new++);
        ks.insert_string(k, "v");
        churn.insert(k);
      }
    } while (cursor != 0);
    for (const auto& k : stable) CHECK(returned.count(k) == 1);
    for (const auto& k : returned) CHECK(returned.count(k) == 1);  // never twice
  }
}

TEST_CASE("a cursor means the same on another node holding the same keys") {
  Keyspace a;
  Keyspace b;
  for (int i = 0; i < 3000; ++i) a.insert_string("k" + std::to_string(i), "v");
  for (int i = 2999; i >= 0; --i) b.insert_string("k" + std::to_string(i), "v");
  std::uint64_t cursor = 0;
  do {
    std::vector<std::pair<std::string_view, const Value*>> ba, bb;
    const std::uint64_t ca = a.scan(cursor, 37, ba);
    const std::uint64_t cb = b.scan(cursor, 37, bb);
    REQUIRE(ca == cb);
    REQUIRE(ba.size() == bb.size());
    for (std::size_t i = 0; i < ba.size(); ++i) CHECK(ba[i].first == bb[i].first);
    cursor = ca;
  } while (cursor != 0);
}

TEST_CASE("SCAN over a large keyspace is incremental") {
  Keyspace ks;
  const int n = 300000;
  for (int i = 0; i < n; ++i) ks.insert_string("key:" + std::to_string(i), "v");
  std::vector<std::pair<std::string_view, const Value*>> batch;
  std::uint64_t cursor = 0;
  std::size_t seen = 0;
  std::size_t calls = 0;
  do {
    batch.clear();
    cursor = ks.scan(cursor, 10, batch);
    CHECK(batch.size() <= 11);
    seen += batch.size();
    ++calls;
  } while (cursor != 0);
  CHECK(seen == static_cast<std::size_t>(n));
  CHECK(calls >= static_cast<std::size_t>(n / 10));
}

TEST_CASE("SCAN through the command: filters apply after the batch, cursor past the end") {
  Harness h;
  for (int i = 0; i < 50; ++i) h.run({"SET", "str:" + std::to_string(i), "v"});
  for (int i = 0; i < 50; ++i) h.run({"HSET", "hash:" + std::to_string(i), "f", "v"});
  h.run({"SET", "gone", "v", "PX", "10"});
  h.now += 10;  // "gone" is expired for readers now (still stored)
  REQUIRE(h.keyspace().size() == 101);

  std::set<std::string> strings;
  std::string cursor = "0";
  int calls = 0;
  do {
    const std::string reply =
        h.run({"SCAN", cursor, "MATCH", "*:1*", "TYPE", "string", "COUNT", "7"});
    // *2 $n cursor *m ($k key)...
    std::size_t p = reply.find("\r\n", 4);
    const std::size_t cursor_start = p + 2;
    const std::size_t cursor_end = reply.find("\r\n", cursor_start);
    cursor = reply.substr(cursor_start, cursor_end - cursor_start);
    std::size_t pos = reply.find("\r\n", cursor_end + 2) + 2;
    while (pos < reply.size()) {
      const std::size_t len_end = reply.find("\r\n", pos);
      const std::size_t len = std::stoul(reply.substr(pos + 1, len_end - pos - 1));
      strings.insert(reply.substr(len_end + 2, len));
      pos = len_end + 2 + len + 2;
    }
    ++calls;
  } while (cursor != "0" && calls < 1000);
  std::set<std::string> expected;
  for (int i = 0; i < 50; ++i) {
    const std::string k = "str:" + std::to_string(i);
    if (k.rfind("str:1", 0) == 0) expected.insert(k);
  }
  CHECK(strings == expected);
  CHECK(calls >= 101 / 7);
  // Filters run in Redis's order (pattern, type, expiry): "gone" never reached the expiry check.
  CHECK(h.keyspace().drain_expired_candidates().empty());
  h.run({"SCAN", "0", "COUNT", "1000"});
  CHECK(h.keyspace().drain_expired_candidates() == std::vector<std::string>{"gone"});
  CHECK(h.run({"SCAN", "9223372036854775808"}) == "*2\r\n$1\r\n0\r\n*0\r\n");
  CHECK(h.run({"SCAN", "18446744073709551615", "COUNT", "5"}) == "*2\r\n$1\r\n0\r\n*0\r\n");
}

}  // namespace raftd::test
