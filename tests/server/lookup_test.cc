// The typed lookups every data command starts with (server/keyspace/cmd_util.h): absent, wrong
// type (WRONGTYPE replied, once) or found, for reads and for writes inside apply.
#include <catch2/catch.hpp>

#include "harness.h"
#include "server/keyspace/cmd_util.h"

namespace raftd::test {

namespace {

const std::string kWrongTypeReply = "-" + std::string(kv::kErrWrongType) + "\r\n";

}  // namespace

TEST_CASE("lookup_read: absent, wrong type or found, replying only WRONGTYPE") {
  Keyspace ks;
  ks.insert_string("s", "text");
  ks.hash_set(ks.insert_hash("h"), "f", "v");
  ks.insert_string("gone", "x", kT0);
  std::string reply;
  resp::Writer out(reply);

  const auto absent = kv::lookup_read<std::string>(ks, "nope", kT0, out);
  CHECK(absent.absent());
  CHECK_FALSE(absent.wrong_type());
  CHECK_FALSE(absent);
  CHECK(absent.get() == nullptr);
  // Expired at now: hidden, not removed (a read never deletes).
  CHECK(kv::lookup_read<std::string>(ks, "gone", kT0, out).absent());
  CHECK(ks.size() == 3);
  CHECK(reply.empty());

  const auto s = kv::lookup_read<std::string>(ks, "s", kT0, out);
  REQUIRE(s);
  CHECK_FALSE(s.absent());
  CHECK_FALSE(s.wrong_type());
  CHECK(*s == "text");
  const auto h = kv::lookup_read<HashValue>(ks, "h", kT0, out);
  REQUIRE(h);
  CHECK(h->size() == 1);
  CHECK(reply.empty());

  const auto wrong = kv::lookup_read<HashValue>(ks, "s", kT0, out);
  CHECK(wrong.wrong_type());
  CHECK_FALSE(wrong.absent());
  CHECK_FALSE(wrong);
  CHECK(wrong.get() == nullptr);
  CHECK(reply == kWrongTypeReply);
  // Hits and misses count as Keyspace::find counts them: a wrong type is a hit.
  CHECK(ks.stats().hits == 3);
  CHECK(ks.stats().misses == 2);
}

TEST_CASE("lookup_write: expired keys go, IfAbsent::kCreate makes an empty value") {
  Keyspace ks;
  ks.insert_string("s", "text");
  ks.insert_string("gone", "x", kT0);
  std::string reply;
  resp::Writer out(reply);

  // Expired at the entry's timestamp: removed on the spot, then absent.
  CHECK(kv::lookup_write<std::string>(ks, "gone", kT0, out).absent());
  CHECK(ks.stats().expired_keys == 1);
  CHECK(ks.size() == 1);

  const auto left = kv::lookup_write<HashValue>(ks, "h", kT0, out);
  CHECK(left.absent());
  CHECK_FALSE(left.ref());
  CHECK(ks.size() == 1);

  const auto created = kv::lookup_write<HashValue>(ks, "h", kT0, out, kv::IfAbsent::kCreate);
  REQUIRE(created);
  CHECK(created->empty());
  CHECK(created.ref().key() == "h");
  // get() reads the value afresh: it sees changes made through the Ref.
  ks.hash_set(created.ref(), "f", "v");
  CHECK(created->size() == 1);
  CHECK(reply.empty());

  // A key of another type is never replaced, even with kCreate.
  const auto wrong = kv::lookup_write<HashValue>(ks, "s", kT0, out, kv::IfAbsent::kCreate);
  CHECK(wrong.wrong_type());
  CHECK_FALSE(wrong.ref());
  CHECK(reply == kWrongTypeReply);
  CHECK(ks.peek("s", kT0)->str() == "text");

  reply.clear();
  const auto s = kv::lookup_write<std::string>(ks, "s", kT0, out);
  REQUIRE(s);
  CHECK(*s == "text");
  CHECK(kv::check_type<std::string>(Keyspace::Ref(), out).absent());
  CHECK(kv::check_type<HashValue>(s.ref(), out).wrong_type());
  CHECK(reply == kWrongTypeReply);
}

}  // namespace raftd::test
