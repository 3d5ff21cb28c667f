// Membership (server/node/membership.h) driven by hand, as the transport would drive it: formation
// of a new cluster, adoption of the founding record and its checks, and who a formed node admits.
// Real data directories in a scratch dir; no sockets, no sleeps.
#include "server/node/membership.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "server/peer/crypto.h"
#include "server/peer/handshake.h"
#include "storage/data_dir.h"

namespace {

/// A scratch directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "raftd-membership-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

using raftd::Membership;
using raftd::peer::Admission;
using raftd::peer::RefusalReason;
using raftd::peer::Welcome;
using Verdict = Admission::Verdict;

const std::map<raft::NodeId, std::string> kList = {
    {1, "127.0.0.1:7001"}, {2, "127.0.0.1:7011"}, {3, "127.0.0.1:7021"}};

/// One node: its data directory and its Membership.
struct Node {
  Node(const std::string& root, raft::NodeId id, std::map<raft::NodeId, std::string> list = kList,
       std::string secret = "")
      : path(root + "/n" + std::to_string(id)),
        id(id),
        list(std::move(list)),
        secret(std::move(secret)) {
    open();
  }
  void open() {
    membership.reset();
    dir.reset();
    auto d = storage::DataDir::open(path, storage::Identity{"", id, list.at(id)});
    INFO(d.message());
    REQUIRE(d.is_ok());
    dir = std::move(*d);
    Membership::Options o;
    o.self = id;
    o.client_addr = list.at(id);
    o.ensemble = list;
    o.configured_secret = secret;
    membership = std::make_unique<Membership>(*dir, o);
    membership->set_on_formed([this] { ++formed_calls; });
    raftd::Status st = membership->prepare();
    INFO(st.message());
    REQUIRE(st.is_ok());
  }
  /// The Welcome this node answers a dialer with (what the transport would send).
  Welcome welcome(const raftd::peer::PeerIdentity& dialer) {
    Welcome w;
    w.id = membership->identity();
    Admission a = membership->admit_inbound(dialer, false);
    if (a.formation) {
      w.has_formation = true;
      w.formation = *a.formation;
    }
    last_verdict = a.verdict;
    return w;
  }
  /// This node dialed `other` and got its Welcome.
  Admission dial(Node& other) {
    return membership->admit_outbound(other.id, other.welcome(membership->identity()), false);
  }

  std::string path;
  raft::NodeId id;
  std::map<raft::NodeId, std::string> list;
  std::string secret;
  std::unique_ptr<storage::DataDir> dir;
  std::unique_ptr<Membership> membership;
  int formed_calls = 0;
  Verdict last_verdict = Verdict::kRefuse;
};

/// Three new nodes; node 1 (the lowest id) forms once it has seen the other two.
struct Three {
  TempDir tmp;
  Node a{tmp.path(), 1}, b{tmp.path(), 2}, c{tmp.path(), 3};
  void form() {
    a.dial(b);
    REQUIRE_FALSE(a.membership->formed());
    a.dial(c);
    REQUIRE(a.membership->formed());
  }
};

}  // namespace

TEST_CASE("the founder forms once every member answered; members adopt from it", "[membership]") {
  Three t;
  CHECK_THAT(t.b.membership->not_formed_reason(), Catch::Contains("waiting for"));
  t.form();
  CHECK(t.a.formed_calls == 1);
  CHECK(t.a.membership->cluster_id() != 0);
  CHECK(t.a.membership->secret().size() == raftd::peer::kClusterSecretBytes);
  CHECK(t.a.membership->members().size() == 3);
  // b dials the founder: the founder hands it the record; b opens its copy of the secret.
  t.b.dial(t.a);
  CHECK(t.a.last_verdict == Verdict::kTell);
  REQUIRE(t.b.membership->formed());
  CHECK(t.b.membership->cluster_id() == t.a.membership->cluster_id());
  CHECK(t.b.membership->secret() == t.a.membership->secret());
  // c gets it through b (a member), having seen the founder's key on the founder's address.
  t.c.dial(t.a);  // the founder is formed now: this Welcome carries the record too
  REQUIRE(t.c.membership->formed());
  CHECK(t.c.membership->secret() == t.a.membership->secret());
  // Everyone wrote it down: a restart finds the same cluster.
  const auto id = t.c.membership->cluster_id();
  t.c.open();
  CHECK(t.c.membership->formed());
  CHECK(t.c.membership->cluster_id() == id);
  CHECK(t.c.membership->secret() == t.a.membership->secret());
}

TEST_CASE("a record through another member needs the founder key seen at the founder",
          "[membership]") {
  Three t;
  t.b.dial(t.a);  // b pins the founder's key while it is new
  t.form();
  t.b.dial(t.a);
  REQUIRE(t.b.membership->formed());
  // c never saw the founder: a record relayed by b is not enough.
  t.c.dial(t.b);
  CHECK_FALSE(t.c.membership->formed());
  t.c.dial(t.a);
  CHECK(t.c.membership->formed());
}

TEST_CASE("a record made up by whoever answers at a member's address is refused", "[membership]") {
  Three t;
  t.b.dial(t.a);  // b knows the founder's real key
  // An impostor at c's address makes up a cluster, sealing its own secret for b's key.
  const auto impostor = raftd::peer::x25519_generate();
  raftd::peer::FormationRecord fake;
  fake.cluster_id = 0x66;
  fake.founder = 1;
  fake.founder_key = impostor.public_key;
  const auto bid = t.b.membership->identity();
  for (const auto& [id, addr] : kList) {
    raftd::peer::FoundingMember m{id, addr, id == 2 ? bid.dir_id : 9,
                                  id == 2 ? bid.formation_key : "k", ""};
    if (id == 2) {
      m.sealed_secret = raftd::peer::seal_secret_for(impostor.private_key, bid.formation_key, 0x66,
                                                     2, "the impostor's secret, 32 bytes!")
                            .value();
    }
    fake.members.push_back(m);
  }
  Welcome w = t.c.welcome(bid);
  w.has_formation = true;
  w.formation = fake;
  t.b.membership->admit_outbound(3, w, false);
  CHECK_FALSE(t.b.membership->formed());
  // Naming another founder does not help either.
  fake.founder = 3;
  w.formation = fake;
  t.b.membership->admit_outbound(3, w, false);
  CHECK_FALSE(t.b.membership->formed());
  // Nor does the founder's address handing b a record sealed for another key.
  fake.founder = 1;
  fake.members[1].formation_key = "not b's key";
  w.formation = fake;
  t.b.membership->admit_outbound(1, w, false);
  CHECK_FALSE(t.b.membership->formed());
}

TEST_CASE("nodes started with another member list never form together", "[membership]") {
  TempDir tmp;
  auto other = kList;
  other[3] = "127.0.0.1:9999";
  Node a(tmp.path(), 1), b(tmp.path(), 2), c(tmp.path(), 3, other);
  a.dial(b);
  a.dial(c);
  CHECK_FALSE(a.membership->formed());
  CHECK(c.membership->admit_inbound(a.membership->identity(), false).reason ==
        RefusalReason::kEnsemble);
}

TEST_CASE("a formed node admits members, refuses wiped and foreign ones", "[membership]") {
  Three t;
  t.form();
  Membership& a = *t.a.membership;
  // b, formed, authenticated: admitted.
  t.b.dial(t.a);
  REQUIRE(t.b.membership->formed());
  CHECK(a.admit_inbound(t.b.membership->identity(), true).verdict == Verdict::kAccept);
  CHECK(a.admit_inbound(t.b.membership->identity(), false).reason ==
        RefusalReason::kAuthentication);
  // b's directory is wiped: a new directory id; refused, never handed the record.
  std::filesystem::remove_all(t.b.path);
  t.b.open();
  CHECK_FALSE(t.b.membership->formed());
  for (bool authenticated : {false, true}) {
    const Admission r = a.admit_inbound(t.b.membership->identity(), authenticated);
    CHECK(r.verdict == Verdict::kRefuse);
    CHECK_FALSE(r.formation);
  }
  // The wiped b learns it from a's refusal and tells its clients why.
  t.b.membership->on_refused(1, {RefusalReason::kAuthentication, "authentication required"});
  CHECK_THAT(t.b.membership->not_formed_reason(),
             Catch::Contains("data directory is new") && Catch::Contains("remove node 2"));
  // A node of another cluster, or an id that is not a member.
  auto foreign = t.c.membership->identity();
  foreign.cluster_id = 0x1234;
  CHECK(a.admit_inbound(foreign, true).reason == RefusalReason::kOtherCluster);
  auto stranger = foreign;
  stranger.node_id = 77;
  CHECK(a.admit_inbound(stranger, true).reason == RefusalReason::kNotMember);
  // c has not adopted yet (same directory, same key): it gets the record.
  const Admission pending = a.admit_inbound(t.c.membership->identity(), false);
  CHECK(pending.verdict == Verdict::kTell);
  REQUIRE(pending.formation);
  CHECK(pending.formation->cluster_id == a.cluster_id());
}

TEST_CASE("with a configured secret, nodes without it are not even told", "[membership]") {
  TempDir tmp;
  const std::string s = "a secret of this test, long enough";
  Node a(tmp.path(), 1, kList, s), b(tmp.path(), 2, kList, s), c(tmp.path(), 3, kList, s);
  CHECK(a.membership->secret() == raftd::peer::stretch_secret(s));
  CHECK(b.membership->admit_inbound(a.membership->identity(), false).reason ==
        RefusalReason::kAuthentication);
  CHECK(b.membership->admit_inbound(a.membership->identity(), true).verdict == Verdict::kTell);
  b.membership->admit_outbound(1, a.welcome(b.membership->identity()), false);
  CHECK_FALSE(b.membership->formed());
}
