// The keyspace snapshot body (server/keyspace/snapshot.h): exact round trips (types, hash forms,
// binary data, expiry, counters), determinism, streaming in awkward chunks, and malformed bodies
// that must come back as errors and never crash.
#include "server/keyspace/snapshot.h"

#include <fmt/core.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "harness.h"

namespace raftd::test {

namespace {

std::string body_of(const Keyspace& ks, std::vector<std::size_t>* pieces = nullptr) {
  std::string out;
  write_snapshot_body(ks, [&](std::string_view piece) {
    if (pieces != nullptr) pieces->push_back(piece.size());
    out.append(piece);
  });
  return out;
}

// Feeds `body` in the chunk sizes `sizes` yields (cycled), then finishes.
template <class Sizes>
Status load_chunked(std::string_view body, Keyspace& into, Sizes sizes,
                    std::optional<std::uint64_t> body_size = {}) {
  SnapshotBodyLoader loader(into, body_size);
  while (!body.empty()) {
    const std::size_t n = std::min<std::size_t>(std::max<std::size_t>(sizes(), 1), body.size());
    if (Status fed = loader.feed(body.substr(0, n)); !fed) return fed;
    body.remove_prefix(n);
  }
  return loader.finish();
}

Status load(std::string_view body, Keyspace& into, std::optional<std::uint64_t> body_size = {}) {
  return load_chunked(
      body, into, [&] { return body.size(); }, body_size);
}

// Everything replicas must agree on, in iteration order: dump() plus hash forms and counters.
std::string state(const Keyspace& ks) {
  std::string out = dump(ks);
  ks.for_each([&](std::string_view key, const Value& v) {
    if (v.is_hash()) {
      out += std::string(key) + (v.hash().is_big() ? " big\n" : " small\n");
    }
  });
  const KeyspaceStats s = ks.stats();
  out += fmt::format("keys={} expires={} used={} expired={}", s.keys, s.expires, s.used_bytes,
                     s.expired_keys);
  return out;
}

// A keyspace with every kind of content the body format has to carry.
void fill_varied(Harness& h, bool with_long_value = true) {
  h.run({"SET", "plain", "value"});
  h.run({"SET", "empty", ""});
  h.run({"SET", "", "the empty key"});
  h.run_views({"SET", std::string_view("bin\0key\xff", 8), std::string_view("\0\x01\x80\xff", 4)});
  h.run({"SET", "ttl", "v", "PX", "5000"});
  h.run({"SET", "soon", "v", "PX", "10"});
  // Longer than a piece: goes to the sink alone. Left out where a test loads the body thousands
  // of times.
  if (with_long_value) h.run({"SET", "long", std::string(300'000, 'x')});
  h.run({"HSET", "small", "b", "2", "a", "1", "c", ""});
  h.run({"EXPIRE", "small", "100"});
  std::vector<std::string> big = {"HSET", "big"};
  for (int i = 0; i < 200; ++i) {
    big.push_back(fmt::format("f{}", i));
    big.push_back(std::string(i % 7, 'v'));
  }
  h.run(big);
  // Outgrew the small form by a long value, then shrank: stays big (sorted) for good.
  h.run({"HSET", "shrunk", "z", std::string(100, 'l'), "y", "1", "x", "2"});
  h.run({"HDEL", "shrunk", "z"});
  h.run({"HSET", "binhash", std::string_view("\0f", 2), std::string_view("\xff\0", 2)});
  // A key removed as expired inside apply counts in expired_keys.
  h.run({"SET", "gone", "v", "PX", "1"});
  h.now += 2;
  h.run({"SET", "gone", "again"});
  h.now -= 2;
}

}  // namespace

TEST_CASE("a snapshot body round-trips every kind of key exactly", "[snapshot]") {
  Harness src;
  fill_varied(src);
  REQUIRE(src.keyspace().stats().expired_keys == 1);
  const std::string body = body_of(src.keyspace());

  Harness dst;
  REQUIRE(load(body, dst.keyspace(), body.size()));
  CHECK(state(dst.keyspace()) == state(src.keyspace()));
  CHECK(dst.keyspace().stats().expired_keys == 1);
  // Writing the loaded keyspace again gives the same bytes.
  CHECK(body_of(dst.keyspace()) == body);

  // Replies agree, including where the hash form decides the order of new fields.
  for (Harness* h : {&src, &dst}) {
    h->run({"HSET", "shrunk", "a", "0"});
    h->run({"HSET", "small", "0", "0"});
  }
  for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"HGETALL", "shrunk"},
           {"HGETALL", "small"},
           {"HGETALL", "big"},
           {"HGETALL", std::string("binhash")},
           {"GET", std::string("bin\0key\xff", 8)},
           {"GET", ""},
           {"GET", "empty"},
           {"PTTL", "ttl"},
           {"PTTL", "small"},
           {"STRLEN", "long"},
           {"DBSIZE"},
       }) {
    INFO(cmd[0] << " " << cmd.size());
    CHECK(dst.run(cmd) == src.run(cmd));
  }
}

TEST_CASE("expiry survives a snapshot: same expire_at, expired keys present but hidden",
          "[snapshot]") {
  Keyspace src;
  src.insert_string("live", "v", kT0 + 60'000);
  src.insert_string("dead", "v", kT0 - 1);
  src.insert_string("epoch", "v", 0);
  src.insert_string("forever", "v");
  auto h = src.insert_hash("h");
  src.hash_set(h, "f", "v");
  src.set_expire(h, kT0 - 5);

  Keyspace dst;
  REQUIRE(load(body_of(src), dst));
  REQUIRE(dst.size() == 5);  // expired ones are state until a replicated delete removes them
  CHECK(dst.stats().expires == 4);
  CHECK(dst.peek("live", kT0)->expire_at() == kT0 + 60'000);
  CHECK(dst.peek("forever", kT0)->expire_at() == kNoExpire);
  CHECK(dst.peek("dead", kT0) == nullptr);
  CHECK(dst.peek("epoch", kT0) == nullptr);
  CHECK(dst.peek("h", kT0) == nullptr);
  CHECK(dst.peek("dead", kT0 - 2)->expire_at() == kT0 - 1);
  CHECK(dst.peek("h", kT0 - 6)->expire_at() == kT0 - 5);
  // Apply at a later timestamp removes them on the loaded replica exactly as on the source.
  CHECK_FALSE(dst.find_for_write("dead", kT0));
  CHECK_FALSE(src.find_for_write("dead", kT0));
  CHECK(state(dst) == state(src));
}

TEST_CASE("an empty keyspace has a header-only body", "[snapshot]") {
  Keyspace src;
  const std::string body = body_of(src);
  CHECK(body.size() == kSnapshotBodyHeaderSize);
  CHECK(body.substr(0, 8) == kSnapshotBodyMagic);
  Keyspace dst;
  SnapshotBodyLoader loader(dst, body.size());
  REQUIRE(loader.feed(body));
  REQUIRE(loader.finish());
  CHECK(loader.key_count() == 0);
  CHECK(dst.size() == 0);
}

TEST_CASE("the body is the same for the same content, whatever order built it", "[snapshot]") {
  Keyspace a;
  Keyspace b;
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; ++i) keys.push_back(fmt::format("key:{}", i));
  for (const auto& k : keys) a.insert_string(k, k + "=v", k.size() % 3 ? kNoExpire : kT0);
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) {
    b.insert_string(*it, *it + "=v", it->size() % 3 ? kNoExpire : kT0);
  }
  CHECK(body_of(a) == body_of(b));
}

TEST_CASE("100k keys round-trip; the body streams in bounded pieces", "[snapshot]") {
  Keyspace src;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100'000; ++i) {
    const std::string key = fmt::format("k{}", i);
    if (i % 10 == 0) {
      auto h = src.insert_hash(key);
      for (int f = 0; f < 1 + i % 5; ++f) src.hash_set(h, fmt::format("f{}", f), key);
    } else {
      src.insert_string(key, std::string(rng() % 120, static_cast<char>('a' + i % 26)),
                        i % 3 == 0 ? kT0 + i : kNoExpire);
    }
  }
  std::vector<std::size_t> pieces;
  const std::string body = body_of(src, &pieces);
  REQUIRE(pieces.size() > 10);
  for (std::size_t p : pieces) CHECK(p <= kSnapshotPieceSize + 64);

  Keyspace dst;
  REQUIRE(load(body, dst, body.size()));
  CHECK(dst.size() == 100'000);
  CHECK(state(dst) == state(src));
}

TEST_CASE("a body split at awkward boundaries loads the same", "[snapshot]") {
  Harness src;
  fill_varied(src);
  const std::string body = body_of(src.keyspace());
  const std::string want = state(src.keyspace());

  SECTION("every fixed chunk size from 1 to 64 bytes, and a few large ones") {
    for (std::size_t size : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{5},
                             std::size_t{7}, std::size_t{13}, std::size_t{64}, std::size_t{4096},
                             std::size_t{65537}, std::size_t{299'999}}) {
      Keyspace dst;
      INFO("chunk size " << size);
      REQUIRE(load_chunked(body, dst, [&] { return size; }));
      CHECK(state(dst) == want);
    }
  }
  SECTION("a split at every position of the small-key part") {
    for (std::size_t at = 1; at < std::min<std::size_t>(body.size(), 2000); ++at) {
      Keyspace dst;
      SnapshotBodyLoader loader(dst, body.size());
      REQUIRE(loader.feed(std::string_view(body).substr(0, at)));
      REQUIRE(loader.feed(std::string_view(body).substr(at)));
      REQUIRE(loader.finish());
      REQUIRE(state(dst) == want);
    }
  }
  SECTION("random chunk sizes, empty chunks included") {
    std::mt19937 rng(42);
    for (int round = 0; round < 50; ++round) {
      Keyspace dst;
      SnapshotBodyLoader loader(dst);
      std::string_view rest = body;
      while (!rest.empty()) {
        const std::size_t n = std::min<std::size_t>(rng() % 40 == 0 ? 0 : rng() % 700, rest.size());
        REQUIRE(loader.feed(rest.substr(0, n)));
        rest.remove_prefix(n);
      }
      REQUIRE(loader.finish());
      REQUIRE(state(dst) == want);
    }
  }
}

TEST_CASE("a truncated body is an error at every cut, never a crash", "[snapshot]") {
  Harness src;
  fill_varied(src, false);
  const std::string body = body_of(src.keyspace());
  for (std::size_t cut = 0; cut < body.size(); ++cut) {
    INFO("cut at " << cut);
    Keyspace dst;
    const Status err = load(std::string_view(body).substr(0, cut), dst);
    REQUIRE_FALSE(err);
    CHECK_THAT(err.message(),
               Catch::StartsWith("keyspace snapshot body: ") &&
                   (Catch::Contains("ends after") || Catch::Contains("shorter than")));
    // Knowing the real size does not change the verdict.
    Keyspace dst2;
    REQUIRE_FALSE(load(std::string_view(body).substr(0, cut), dst2, body.size()));
  }
}

TEST_CASE("flipped bytes are errors or a different valid state, never a crash", "[snapshot]") {
  Harness src;
  fill_varied(src, false);
  std::string body = body_of(src.keyspace());
  std::size_t errors = 0;
  std::size_t positions = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = body;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      Keyspace dst;
      const Status err = load(bad, dst, bad.size());
      ++positions;
      if (!err) {
        ++errors;
        CHECK_THAT(err.message(), Catch::StartsWith("keyspace snapshot body: "));
      }
    }
  }
  // Structure bytes are most of the small records; the snapshot file's CRC catches the rest.
  CHECK(errors > positions / 4);
  // Every header byte but the expired_keys counter is checked.
  for (std::size_t i = 0; i < 20; ++i) {
    std::string bad = body;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    Keyspace dst;
    INFO("header byte " << i);
    CHECK_FALSE(load(bad, dst, bad.size()));
  }
}

namespace {

// Hand-built bodies for the malformed cases.
struct BodyBuilder {
  std::string b;
  explicit BodyBuilder(std::uint64_t keys, std::uint32_t version = kSnapshotBodyVersion) {
    b.append(kSnapshotBodyMagic);
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>(version >> s));
    u64(keys);
    u64(0);
  }
  BodyBuilder& u64(std::uint64_t v) {
    for (int s = 56; s >= 0; s -= 8) b.push_back(static_cast<char>(v >> s));
    return *this;
  }
  BodyBuilder& u8(std::uint8_t v) {
    b.push_back(static_cast<char>(v));
    return *this;
  }
  BodyBuilder& varint(std::uint64_t v) {
    while (v >= 0x80) {
      b.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    b.push_back(static_cast<char>(v));
    return *this;
  }
  BodyBuilder& bytes(std::string_view s) {
    varint(s.size());
    b.append(s);
    return *this;
  }
  BodyBuilder& str(std::string_view key, std::string_view value, std::uint64_t expiry = 0) {
    return u8(0).varint(expiry).bytes(key).bytes(value);
  }
};

std::string error_of(const std::string& body, bool with_size = true) {
  Keyspace dst;
  const Status err =
      load(body, dst, with_size ? std::optional<std::uint64_t>(body.size()) : std::nullopt);
  REQUIRE_FALSE(err);
  return err.message();
}

}  // namespace

TEST_CASE("malformed bodies are named errors", "[snapshot]") {
  // The builder itself makes valid bodies.
  {
    Keyspace ks;
    REQUIRE(load(BodyBuilder(2).str("a", "1").str("b", "2", 7).b, ks));
    CHECK(ks.peek("b", 0)->expire_at() == 6);
  }
  CHECK_THAT(error_of("RAFTDKV"), Catch::Contains("shorter than its 28-byte header"));
  CHECK_THAT(error_of("REDIS0011" + std::string(40, '\0')), Catch::Contains("bad magic"));
  // A wrong magic shows before the header is complete.
  {
    Keyspace ks;
    SnapshotBodyLoader loader(ks);
    CHECK_FALSE(loader.feed("RAFTX"));
  }
  CHECK_THAT(error_of(BodyBuilder(0, 2).b), Catch::Contains("format version 2"));
  CHECK_THAT(error_of(BodyBuilder(0, 0).b), Catch::Contains("format version 0"));
  CHECK_THAT(error_of(BodyBuilder(1).u8(9).varint(0).bytes("k").bytes("v").b),
             Catch::Contains("unknown type 9"));
  // Absurd lengths: beyond the hard limit, or beyond the end of the body; with and without
  // knowing the body size, and without ever allocating for them.
  const std::uint64_t huge = std::uint64_t{1} << 60;
  CHECK_THAT(error_of(BodyBuilder(1).u8(0).varint(0).varint(huge).b),
             Catch::Contains("1152921504606846976, beyond the limit"));
  CHECK_THAT(error_of(BodyBuilder(1).u8(0).varint(0).varint(huge).b, false),
             Catch::Contains("beyond the limit"));
  CHECK_THAT(error_of(BodyBuilder(1).u8(0).varint(0).bytes("k").varint(1 << 30).b),
             Catch::Contains("past the end of the"));
  CHECK_THAT(error_of(BodyBuilder(1).u8(0).varint(0).bytes("k").varint(1 << 30).b, false),
             Catch::Contains("ends after"));
  CHECK_THAT(error_of(BodyBuilder(huge).b), Catch::Contains("cannot fit"));
  CHECK_THAT(error_of(BodyBuilder(huge).b, false), Catch::Contains("within key 1 of"));
  CHECK_THAT(error_of(BodyBuilder(1).u8(1).varint(0).bytes("h").varint(huge).b),
             Catch::Contains("field count of 1152921504606846976 cannot fit"));
  // Varints: a 10th byte beyond 64 bits, or an 11th byte.
  CHECK_THAT(error_of(BodyBuilder(1).u8(0).b + std::string(11, '\x80') + "\x01"),
             Catch::Contains("more than 64 bits"));
  CHECK_THAT(error_of(BodyBuilder(1).u8(0).b + std::string(9, '\xff') + "\x02"),
             Catch::Contains("more than 64 bits"));
  CHECK_THAT(error_of(BodyBuilder(1).str("k", "v", std::uint64_t{1} << 63).b),
             Catch::Contains("impossible expiry"));
  CHECK_THAT(error_of(BodyBuilder(2).str("k", "v").str("k", "w").b),
             Catch::Contains("'k' appears twice"));
  CHECK_THAT(error_of(BodyBuilder(1)
                          .u8(1)
                          .varint(0)
                          .bytes("h")
                          .varint(2)
                          .bytes("f")
                          .bytes("1")
                          .bytes("f")
                          .bytes("2")
                          .b),
             Catch::Contains("field 'f' appears twice"));
  // A small-form hash whose fields do not fit the small form.
  CHECK_THAT(error_of(BodyBuilder(1)
                          .u8(1)
                          .varint(0)
                          .bytes("h")
                          .varint(1)
                          .bytes("f")
                          .bytes(std::string(65, 'v'))
                          .b),
             Catch::Contains("recorded in its small form"));
  CHECK_THAT(error_of(BodyBuilder(1).str("a", "1").str("b", "2").b),
             Catch::Contains("after the last of 1 keys"));
  CHECK_THAT(error_of(BodyBuilder(2).str("a", "1").b, false), Catch::Contains("within key 2 of 2"));
  CHECK_THAT(error_of(BodyBuilder(2).str("a", "1").b),
             Catch::Contains("key count of 2 cannot fit"));
  CHECK_THAT(
      error_of(BodyBuilder(1).u8(2).varint(0).bytes("h").varint(3).bytes("f").bytes("1").b, false),
      Catch::Contains("within field 2 of 3 of hash 'h'"));
  // A body shorter than announced.
  {
    Keyspace ks;
    const std::string b = BodyBuilder(1).str("a", "1").b;
    const Status err = load(b, ks, b.size() + 5);
    REQUIRE_FALSE(err);
    CHECK_THAT(err.message(), Catch::Contains("announced as"));
  }
  // After an error, the loader keeps answering with it.
  {
    Keyspace ks;
    SnapshotBodyLoader loader(ks);
    const Status first = loader.feed(BodyBuilder(0, 3).b);
    REQUIRE_FALSE(first);
    const Status again = loader.feed("more");
    CHECK_FALSE(again);
    CHECK(again.message() == first.message());
    const Status finished = loader.finish();
    CHECK_FALSE(finished);
    CHECK(finished.message() == first.message());
  }
}

TEST_CASE("loading 1M keys of 100-byte values", "[snapshot][.bench]") {
  Keyspace src;
  const std::string value(100, 'v');
  for (int i = 0; i < 1'000'000; ++i) src.insert_string(fmt::format("key:{}", i), value);
  const auto t0 = std::chrono::steady_clock::now();
  std::string body;
  body.reserve(140 << 20);
  write_snapshot_body(src, [&](std::string_view p) { body.append(p); });
  const auto t1 = std::chrono::steady_clock::now();
  Keyspace dst;
  REQUIRE(load_chunked(
      body, dst, [] { return std::size_t{1} << 20; }, body.size()));
  const auto t2 = std::chrono::steady_clock::now();
  REQUIRE(dst.size() == 1'000'000);
  using ms = std::chrono::milliseconds;
  std::printf("1M keys x 100 B: body %zu bytes, write %lld ms, load %lld ms\n", body.size(),
              static_cast<long long>(std::chrono::duration_cast<ms>(t1 - t0).count()),
              static_cast<long long>(std::chrono::duration_cast<ms>(t2 - t1).count()));
}

}  // namespace raftd::test
