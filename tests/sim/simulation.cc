#include "tests/sim/simulation.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raft.h"
#include "tests/sim/checker.h"
#include "tests/sim/network.h"
#include "tests/sim/rng.h"
#include "tests/sim/sim_state_machine.h"

namespace raftsim {

using raft::ConfChange;
using raft::ConfChangeType;
using raft::ConfState;
using raft::Entry;
using raft::Index;
using raft::Message;
using raft::MessageType;
using raft::NodeId;
using raft::Term;

const char* to_string(Scenario s) {
  return s == Scenario::kLiveness ? "liveness" : "chaos";
}

void SimStats::add(const SimStats& o) {
  steps += o.steps;
  ticks += o.ticks;
  messages_sent += o.messages_sent;
  messages_dropped += o.messages_dropped;
  messages_duplicated += o.messages_duplicated;
  messages_delivered += o.messages_delivered;
  leaders += o.leaders;
  crashes += o.crashes;
  crashes_mid_ready += o.crashes_mid_ready;
  restarts += o.restarts;
  partitions += o.partitions;
  proposals += o.proposals;
  proposals_accepted += o.proposals_accepted;
  entries_applied += o.entries_applied;
  reads += o.reads;
  reads_confirmed += o.reads_confirmed;
  transfers += o.transfers;
  transfers_completed += o.transfers_completed;
  unreachable_reports += o.unreachable_reports;
  forced_campaigns += o.forced_campaigns;
  conf_changes_proposed += o.conf_changes_proposed;
  conf_changes_applied += o.conf_changes_applied;
  snapshots_taken += o.snapshots_taken;
  snapshot_chunks += o.snapshot_chunks;
  snapshots_installed += o.snapshots_installed;
  snapshots_rejected += o.snapshots_rejected;
  async_writes += o.async_writes;
  max_disk_queue = std::max(max_disk_queue, o.max_disk_queue);
  max_ticks_to_leader = std::max(max_ticks_to_leader, o.max_ticks_to_leader);
  max_election_pct = std::max(max_election_pct, o.max_election_pct);
  rejoins += o.rejoins;
}

namespace {

using raftsim::describe;

std::string describe(const Message& m) {
  std::string s = fmt::format("{}->{} {} t{}", m.from, m.to, raft::to_string(m.type), m.term);
  auto entries = [&] {
    if (m.entries.empty()) return std::string("[]");
    if (m.entries.size() <= 3) {
      std::string out = "[";
      for (const Entry& e : m.entries) out += (out.size() > 1 ? " " : "") + raftsim::describe(e);
      return out + "]";
    }
    return fmt::format("[{} .. {} ({} entries)]", raftsim::describe(m.entries.front()),
                       raftsim::describe(m.entries.back()), m.entries.size());
  };
  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      s += fmt::format(" last={}@{}{}", m.index, m.log_term, m.context.empty() ? "" : " transfer");
      break;
    case MessageType::kPreVoteResp:
    case MessageType::kVoteResp:
      s += m.reject ? " rejected" : " granted";
      break;
    case MessageType::kAppend:
      s += fmt::format(" prev={}@{} commit={} {}", m.index, m.log_term, m.commit, entries());
      break;
    case MessageType::kAppendResp:
      s += m.reject ? fmt::format(" reject idx={} hint={}@{}", m.index, m.reject_hint, m.hint_term)
                    : fmt::format(" ok idx={}", m.index);
      break;
    case MessageType::kHeartbeat:
    case MessageType::kHeartbeatResp:
      s += fmt::format(" commit={}{}", m.commit, m.context.empty() ? "" : " ctx=" + m.context);
      break;
    case MessageType::kSnapshot:
      s += fmt::format(" snap={}@{} off={} len={} size={}{}", m.snapshot.index, m.snapshot.term,
                       m.snapshot_offset, m.snapshot_data.size(), m.snapshot_size,
                       m.snapshot_done ? " done" : "");
      break;
    case MessageType::kSnapshotResp:
      s += fmt::format(" snap={} next={}{}", m.index, m.snapshot_offset, m.reject ? " reject" : "");
      break;
    case MessageType::kReadIndex:
    case MessageType::kReadIndexResp:
      s += fmt::format(" ctx={} idx={}", m.context, m.index);
      break;
    case MessageType::kTimeoutNow:
      break;
  }
  return s;
}

std::string describe(const ConfState& c) {
  return fmt::format("voters={{{}}} learners={{{}}}", fmt::join(c.voters, ","),
                     fmt::join(c.learners, ","));
}

const char* to_string(raft::ProposeError e) {
  switch (e) {
    case raft::ProposeError::kOk:
      return "ok";
    case raft::ProposeError::kNotLeader:
      return "not-leader";
    case raft::ProposeError::kTransferring:
      return "transferring";
    case raft::ProposeError::kConfChangePending:
      return "conf-change-pending";
    case raft::ProposeError::kDropped:
      return "dropped";
  }
  return "?";
}

const char* to_string(ConfChangeType t) {
  switch (t) {
    case ConfChangeType::kAddVoter:
      return "add-voter";
    case ConfChangeType::kAddLearner:
      return "add-learner";
    case ConfChangeType::kRemoveNode:
      return "remove";
  }
  return "?";
}

bool contains(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

bool is_member(const ConfState& c, NodeId id) {
  return contains(c.voters, id) || contains(c.learners, id);
}

/// Where a host may crash while handling one Ready (the steps of the protocol in raft/raft.h).
enum class CrashPoint {
  kNone,
  kAfterSend,         ///< messages sent, nothing persisted (a leader's parallel write lost)
  kAfterPersist,      ///< entries + hard state durable, acks not sent
  kAfterPersistSend,  ///< acks sent, snapshot not installed
  kAfterInstall,      ///< snapshot installed, nothing applied
  kAfterApply,        ///< applied, advance() not called
};

const char* to_string(CrashPoint p) {
  switch (p) {
    case CrashPoint::kNone:
      return "none";
    case CrashPoint::kAfterSend:
      return "after sending, before persisting";
    case CrashPoint::kAfterPersist:
      return "after persisting, before sending acks";
    case CrashPoint::kAfterPersistSend:
      return "after sending acks, before installing the snapshot";
    case CrashPoint::kAfterInstall:
      return "after installing the snapshot, before applying";
    case CrashPoint::kAfterApply:
      return "after applying, before advance";
  }
  return "?";
}

/// The incoming InstallSnapshot file on the follower's disk (durable: it survives a crash).
struct IncomingSnapshot {
  raft::SnapshotMeta meta;
  std::string data;
  std::uint64_t total = 0;
  bool done = false;
};

/// One node's host: its disk (MemoryStorage + incoming snapshot file) survives crashes; the
/// Node and the state machine do not.
struct Host {
  NodeId id = raft::kNoNode;
  bool initial_member = false;
  raft::MemoryStorage storage;
  IncomingSnapshot incoming;
  /// Conf-change entries in the durable log, to keep storage's membership "as of the last
  /// conf-change entry in the log (or the snapshot)" (raft/storage.h).
  std::map<Index, std::string> durable_conf_changes;  ///< index -> entry data

  std::unique_ptr<raft::Node> node;
  SimStateMachine sm;
  Rng rng;  ///< feeds Config::rand
  int incarnation = 0;
  bool ever_started = false;
  CrashPoint armed = CrashPoint::kNone;
  /// A host whose disk writes complete asynchronously, in order; the queue is lost in a crash.
  bool async_disk = false;
  std::deque<raft::Ready> disk;
  /// Most bytes of each incoming snapshot (by index) that ever reached the disk.
  std::map<Index, std::uint64_t> snapshot_bytes_written;

  bool up() const { return node != nullptr; }
};

/// The schedule's shape, drawn from the seed: some schedules are calm, some hostile.
struct Params {
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  std::size_t max_msg_bytes = 1 << 20;
  int max_inflight = 256;
  std::size_t max_chunk = 1 << 20;
  int max_inflight_chunks = 4;
  std::size_t max_committed_bytes = 16 << 20;

  double p_tick = 0.5;
  double p_skew = 0;  ///< a live node misses a tick (clock skew)
  int max_deliveries = 8;
  double p_crash = 0.01, p_mid_ready = 0.5, p_restart = 0.05;
  double p_partition = 0.02, p_heal = 0.03, p_net_change = 0.02;
  double p_propose = 0.2, p_read = 0.05, p_transfer = 0.01, p_conf = 0.02;
  double p_compact = 0.03;
  double p_corrupt_snapshot = 0;  ///< a received snapshot file reads back corrupt
  double p_async_host = 0;        ///< a host has an asynchronous disk
  double p_campaign = 0;          ///< per step, Node::campaign() at a random node
  double p_disk_write = 0.5;      ///< per step, an asynchronous disk finishes its oldest write
};

constexpr std::size_t kMaxDiskQueue = 8;

class Simulation {
 public:
  explicit Simulation(const SimOptions& options);
  SimResult run();

 private:
  // ---- Scenario phases.
  void step_chaos();
  void heal_and_check_liveness();
  void rejoin_does_not_disrupt();

  // ---- Inputs (each drains the node's Ready afterwards).
  void start(Host& h);
  void crash(Host& h, const std::string& why);
  void tick_all();
  void deliver(InFlight& f);
  void deliver_all();
  void client_propose(Host* target);
  void client_read();
  void client_transfer();
  void client_conf_change();
  void crash_something();
  void restart_something();
  void partition_something();
  void change_network();

  // ---- The host's side of the Ready protocol.
  void drain(Host& h);
  void handle_ready(Host& h);
  /// Steps 1-5 of the Ready protocol (persist, acks, install, apply, advance).
  void finish_ready(Host& h, raft::Ready& rd);
  /// An asynchronous disk finishes its oldest write.
  void complete_disk_write(Host& h);
  void complete_all_disk_writes();
  void send(Host& h, const Message& m);
  void check_durable_before_ack(const Host& h, const Message& m);
  void write_chunk(Host& h, const raft::SnapshotChunk& c);
  /// Verifies a fully received snapshot file; false if the host must reject it.
  bool verify_incoming(Host& h);
  bool install_snapshot(Host& h, const raft::SnapshotMeta& meta);
  void apply(Host& h, const Entry& e);
  void maybe_compact(Host& h);
  void sync_storage_conf(Host& h);
  void rebuild_conf_changes(Host& h);
  void membership_committed(Index index, const ConfState& conf);
  void settle_membership();

  // ---- Checks and helpers.
  void check_step();
  void check_mirror(const Host& h, bool full);
  Host* leader();
  /// The current leader's view of its followers, for liveness failure messages.
  std::string leader_view();
  /// Every live node's role, term, log and membership, for liveness failure messages.
  std::string cluster_view();
  std::vector<Host*> live();
  bool restartable(const Host& h) const;
  void violation(std::string what);
  bool failed() const { return !failure_.empty() || !checker_.ok(); }
  void fold(std::uint64_t x) { digest_ = mix64(digest_ ^ x); }
  raft::Config make_config(Host& h);

  template <typename... A>
  void trace(fmt::format_string<A...> f, A&&... args) {
    if (!opt_.trace) return;
    opt_.trace(fmt::format("[{:>4} t={:>4}] ", step_, now_) +
               fmt::format(f, std::forward<A>(args)...));
  }

  SimOptions opt_;
  Rng rng_;
  Params p_;
  Network net_;
  Checker checker_;
  std::map<NodeId, std::unique_ptr<Host>> hosts_;
  std::set<NodeId> all_ids_;
  ConfState bootstrap_;

  std::uint64_t now_ = 0;
  std::uint64_t step_ = 0;
  std::uint64_t digest_ = 0;
  SimStats stats_;
  std::string failure_;

  /// Membership as of the highest conf-change entry any node has applied (committed).
  ConfState committed_conf_;
  Index committed_conf_index_ = 0;
  /// Nodes being added: the index of their add entry (they run before it commits).
  std::map<NodeId, Index> pending_adds_;
  /// Membership-driven stops and starts wait until no Ready is being handled.
  std::set<NodeId> pending_stops_;
  std::set<NodeId> pending_starts_;
  int ready_depth_ = 0;
  bool healing_ = false;

  /// The last leadership transfer asked for, to count those that complete.
  NodeId transfer_target_ = raft::kNoNode;
  Term transfer_from_term_ = 0;
  std::uint64_t transfer_deadline_ = 0;

  std::uint64_t next_proposal_ = 0;
  std::uint64_t next_read_ = 0;
  /// The entry data the heal phase waits for, and the index it was applied at (0: not yet).
  std::string watched_data_;
  Index watched_index_ = 0;
};

Simulation::Simulation(const SimOptions& options) : opt_(options), rng_(options.seed) {
  // Everything below is drawn from the seed, in a fixed order.
  static constexpr int kElection[] = {3, 4, 5, 6, 8, 10};
  p_.election_ticks = kElection[rng_.below(std::size(kElection))];
  p_.heartbeat_ticks = p_.election_ticks >= 6 && rng_.chance(0.3) ? 2 : 1;
  p_.pre_vote = options.scenario == Scenario::kLiveness || rng_.chance(0.6);
  p_.check_quorum = options.scenario == Scenario::kLiveness || rng_.chance(0.6);
  static constexpr std::size_t kMsgBytes[] = {1, 64, 256, 1 << 20};
  p_.max_msg_bytes = kMsgBytes[rng_.below(std::size(kMsgBytes))];
  static constexpr int kInflight[] = {1, 2, 8, 256};
  p_.max_inflight = kInflight[rng_.below(std::size(kInflight))];
  static constexpr std::size_t kChunk[] = {16, 64, 200, 1 << 20};
  p_.max_chunk = kChunk[rng_.below(std::size(kChunk))];
  p_.max_inflight_chunks = rng_.chance(0.5) ? 1 : 4;
  static constexpr std::size_t kCommitted[] = {1, 100, 16 << 20};
  p_.max_committed_bytes = kCommitted[rng_.below(std::size(kCommitted))];

  const double hostility = static_cast<double>(rng_.below(4)) / 3.0;  // 0, 1/3, 2/3, 1
  p_.p_tick = 0.3 + 0.4 * static_cast<double>(rng_.below(3)) / 2.0;
  p_.p_skew = rng_.chance(0.3) ? 0.1 : 0.0;
  p_.max_deliveries = static_cast<int>(rng_.range(2, 4 * options.nodes));
  p_.p_crash = 0.003 + 0.03 * hostility;
  p_.p_mid_ready = 0.6;
  p_.p_restart = 0.05 + 0.1 * static_cast<double>(rng_.below(2));
  p_.p_partition = 0.005 + 0.03 * hostility;
  p_.p_heal = 0.02 + 0.05 * static_cast<double>(rng_.below(2));
  p_.p_net_change = 0.01 + 0.03 * hostility;
  p_.p_propose = 0.1 + 0.3 * static_cast<double>(rng_.below(3)) / 2.0;
  p_.p_read = 0.02 + 0.08 * static_cast<double>(rng_.below(2));
  p_.p_transfer = rng_.chance(0.5) ? 0.01 : 0.0;
  p_.p_conf = rng_.chance(0.6) ? 0.02 : 0.0;
  static constexpr double kCompact[] = {0, 0.02, 0.1};
  p_.p_compact = kCompact[rng_.below(std::size(kCompact))];
  p_.p_corrupt_snapshot = rng_.chance(0.3) ? 0.25 : 0.0;
  static constexpr double kAsync[] = {0, 0.5, 1};
  p_.p_async_host = options.disk == SimOptions::Disk::kSync    ? 0.0
                    : options.disk == SimOptions::Disk::kAsync ? 1.0
                                                               : kAsync[rng_.below(3)];
  p_.p_disk_write = rng_.chance(0.5) ? 0.3 : 0.7;
  p_.p_campaign = rng_.chance(0.3) ? 0.005 : 0.0;

  for (int i = 1; i <= options.nodes; ++i) bootstrap_.voters.push_back(static_cast<NodeId>(i));
  committed_conf_ = bootstrap_;
  const int spares = 2;
  for (int i = 1; i <= options.nodes + spares; ++i) {
    auto h = std::make_unique<Host>();
    h->id = static_cast<NodeId>(i);
    h->initial_member = i <= options.nodes;
    // A joining node starts with an empty membership: it learns the whole membership from the
    // first conf-change entry it receives (each records its result) or from a snapshot. With
    // --joiner-conf founding its host is given the founding membership instead.
    if (h->initial_member || options.joiner_founding_conf) h->storage.set_conf_state(bootstrap_);
    h->sm = SimStateMachine(bootstrap_);
    h->async_disk = rng_.chance(p_.p_async_host);
    all_ids_.insert(h->id);
    hosts_.emplace(h->id, std::move(h));
  }
}

raft::Config Simulation::make_config(Host& h) {
  raft::Config c;
  c.id = h.id;
  c.election_ticks = p_.election_ticks;
  c.heartbeat_ticks = p_.heartbeat_ticks;
  c.pre_vote = p_.pre_vote;
  c.check_quorum = p_.check_quorum;
  c.max_msg_bytes = p_.max_msg_bytes;
  c.max_inflight_msgs = p_.max_inflight;
  c.max_snapshot_chunk = p_.max_chunk;
  c.max_inflight_snapshot_chunks = p_.max_inflight_chunks;
  c.max_committed_bytes_per_ready = p_.max_committed_bytes;
  c.lazy_commit = opt_.lazy_commit;
  c.max_read_rounds = opt_.max_read_rounds;
  Rng* rng = &h.rng;
  c.rand = [rng](std::uint64_t n) { return rng->below(n); };
  if (opt_.trace) {
    const NodeId id = h.id;
    c.log = [this, id](raft::LogLevel, const std::string& line) {
      trace("  node {} says: {}", id, line);
    };
  }
  return c;
}

// ---------------------------------------------------------------- run

SimResult Simulation::run() {
  trace(
      "seed {} nodes {} scenario {}: election_ticks={} heartbeat_ticks={} pre_vote={} "
      "check_quorum={} max_msg_bytes={} max_inflight={} max_chunk={} max_inflight_chunks={} "
      "max_committed_bytes={}",
      opt_.seed, opt_.nodes, to_string(opt_.scenario), p_.election_ticks, p_.heartbeat_ticks,
      p_.pre_vote, p_.check_quorum, p_.max_msg_bytes, p_.max_inflight, p_.max_chunk,
      p_.max_inflight_chunks, p_.max_committed_bytes);
  for (auto& [id, h] : hosts_) {
    if (h->initial_member) start(*h);
  }
  for (int i = 0; i < opt_.steps && !failed(); ++i) step_chaos();
  if (!failed()) heal_and_check_liveness();
  if (!failed() && opt_.scenario == Scenario::kLiveness) rejoin_does_not_disrupt();
  if (!failed()) {
    checker_.check_logs_pairwise();
    for (auto& [id, h] : hosts_) check_mirror(*h, true);
  }

  SimResult r;
  r.ok = !failed();
  if (!checker_.ok()) {
    r.failure = checker_.violations().front();
  } else {
    r.failure = failure_;
  }
  if (!r.ok) trace("FAILED: {}", r.failure);
  stats_.messages_sent = net_.sent();
  stats_.messages_dropped = net_.dropped();
  stats_.messages_duplicated = net_.duplicated();
  stats_.leaders = checker_.leaders_seen();
  stats_.steps = step_;
  r.digest = digest_;
  r.stats = stats_;
  return r;
}

void Simulation::step_chaos() {
  ++step_;
  if (rng_.chance(p_.p_crash)) crash_something();
  if (rng_.chance(p_.p_restart)) restart_something();
  if (rng_.chance(p_.p_partition)) partition_something();
  if (rng_.chance(p_.p_heal) && !net_.healed()) {
    net_.heal();
    trace("network: all links restored");
  }
  if (rng_.chance(p_.p_net_change)) change_network();
  if (rng_.chance(p_.p_propose)) client_propose(nullptr);
  if (rng_.chance(p_.p_read)) client_read();
  if (rng_.chance(p_.p_transfer)) client_transfer();
  if (rng_.chance(p_.p_conf)) client_conf_change();
  if (rng_.chance(p_.p_campaign)) {
    // Node::campaign(): an operator (or a test) forces an election at a random node.
    std::vector<Host*> up = live();
    if (!up.empty()) {
      Host* h = up[rng_.below(up.size())];
      trace("admin: node {} campaigns now", h->id);
      ++stats_.forced_campaigns;
      h->node->campaign();
      drain(*h);
    }
  }
  for (auto& [id, h] : hosts_) {
    while (!failed() && !h->disk.empty() && rng_.chance(p_.p_disk_write)) complete_disk_write(*h);
  }
  const std::uint64_t budget = rng_.below(static_cast<std::uint64_t>(p_.max_deliveries) + 1);
  for (std::uint64_t i = 0; i < budget && !failed(); ++i) {
    InFlight f;
    if (!net_.take_random(now_, rng_, f)) break;
    deliver(f);
  }
  if (rng_.chance(p_.p_tick)) tick_all();
  check_step();
}

// ---------------------------------------------------------------- liveness

void Simulation::heal_and_check_liveness() {
  healing_ = true;
  ++step_;
  net_.heal();
  net_.faults() = NetworkFaults{};
  trace("HEAL: network reliable, every member up ({})", describe(committed_conf_));
  // Members run, and so do nodes whose add entry may still commit (a node added straight as a
  // voter is part of the quorum as soon as its entry is appended, thesis 4.1).
  auto keep = [&](NodeId id) {
    auto it = pending_adds_.find(id);
    return is_member(committed_conf_, id) ||
           (it != pending_adds_.end() && it->second > committed_conf_index_);
  };
  for (auto& [id, h] : hosts_) {
    h->armed = CrashPoint::kNone;
    if (h->up() && !keep(id)) crash(*h, "not a member");
  }
  for (auto& [id, h] : hosts_) {
    if (!h->up() && keep(id) && h->ever_started) start(*h);
  }
  if (failed()) return;

  // Liveness 1: a leader within a bound (thesis 3.4: randomized timeouts make split votes rare).
  const std::uint64_t bound = 10 * static_cast<std::uint64_t>(p_.election_ticks);
  std::uint64_t ticks = 0;
  Host* l = nullptr;
  for (;;) {
    deliver_all();
    if (failed()) return;
    // Elected: a leader whose term no live voter of its own configuration has passed (a node
    // it is removing may sit at any term; the commit check below covers the rest).
    l = leader();
    if (l != nullptr) {
      bool highest = true;
      for (NodeId v : l->node->status().conf.voters) {
        const Host& h = *hosts_.at(v);
        if (h.up() && h.node->term() > l->node->term()) highest = false;
      }
      if (highest) break;
    }
    if (ticks >= bound) {
      violation(fmt::format("liveness: no leader {} ticks after healing (bound 10 x {} = {}); {}",
                            ticks, "election_ticks", bound, cluster_view()));
      return;
    }
    tick_all();
    check_step();
    if (failed()) return;
    ++ticks;
  }
  stats_.max_ticks_to_leader = std::max(stats_.max_ticks_to_leader, ticks);
  stats_.max_election_pct = std::max(stats_.max_election_pct,
                                     ticks * 100 / static_cast<std::uint64_t>(p_.election_ticks));
  trace("HEAL: node {} leads term {} after {} ticks", l->id, l->node->term(), ticks);

  // Liveness 2: a new proposal commits and every member applies everything committed.
  watched_data_ = fmt::format("heal-{}", opt_.seed);
  watched_index_ = 0;
  const std::uint64_t commit_bound = 40 * static_cast<std::uint64_t>(p_.election_ticks);
  bool proposed = false;
  for (std::uint64_t t = 0;; ++t) {
    if (watched_index_ == 0 &&
        (!proposed || t % static_cast<std::uint64_t>(p_.election_ticks) == 0)) {
      if (Host* target = leader()) {
        Index idx = 0;
        const raft::ProposeError err = target->node->propose(watched_data_, &idx);
        trace("client: propose '{}' to {} -> {} index {}", watched_data_, target->id,
              to_string(err), idx);
        if (err == raft::ProposeError::kOk) proposed = true;
        drain(*target);
      }
    }
    deliver_all();
    if (failed()) return;
    bool converged = watched_index_ != 0;
    for (auto& [id, h] : hosts_) {
      if (!is_member(committed_conf_, id)) continue;
      if (!h->up() || h->sm.applied() < checker_.max_committed()) converged = false;
    }
    if (converged) break;
    if (t >= commit_bound) {
      std::string lag;
      for (auto& [id, h] : hosts_) {
        if (is_member(committed_conf_, id)) {
          lag += fmt::format(" {}:{}", id, h->up() ? fmt::format("{}", h->sm.applied()) : "down");
        }
      }
      violation(fmt::format(
          "liveness: {} ticks after a leader was elected, the new proposal {} and members have "
          "applied [{} ] of {} committed; {}",
          t, watched_index_ == 0 ? "has not committed" : "committed", lag, checker_.max_committed(),
          leader_view()));
      return;
    }
    tick_all();
    check_step();
    if (failed()) return;
  }
  for (auto& [id, h] : hosts_) {
    if (is_member(committed_conf_, id)) checker_.check_converged(id, h->sm.applied());
  }
  trace("HEAL: converged, every member applied {} entries", checker_.max_committed());
  watched_data_.clear();
}

void Simulation::rejoin_does_not_disrupt() {
  // Start from a settled leader: a leadership transfer asked for during the chaos may still be
  // under way, and the core abandons an unfinished one after an election timeout (thesis 3.10).
  for (int t = 0; t < 2 * p_.election_ticks + 1 && !failed(); ++t) {
    deliver_all();
    tick_all();
    check_step();
  }
  deliver_all();
  if (failed()) return;
  Host* l = leader();
  if (l == nullptr) {
    violation("rejoin: no leader to start from");
    return;
  }
  const Term term = l->node->term();
  const NodeId lid = l->id;
  const std::uint64_t e = static_cast<std::uint64_t>(p_.election_ticks);

  // Cut off a random minority of the other members (voters and learners).
  std::vector<NodeId> others;
  for (NodeId v : committed_conf_.voters) {
    if (v != lid) others.push_back(v);
  }
  const std::size_t max_cut = (committed_conf_.voters.size() - 1) / 2;
  std::set<NodeId> cut;
  if (max_cut > 0) {
    const std::size_t k = 1 + rng_.below(max_cut);
    while (cut.size() < k) cut.insert(others[rng_.below(others.size())]);
  }
  for (NodeId v : committed_conf_.learners) {
    if (rng_.chance(0.5)) cut.insert(v);
  }
  if (cut.empty()) return;  // a one- or two-voter cluster has no minority to cut
  ++stats_.rejoins;
  // No clock skew here: a leader that misses an election timeout's worth of ticks is rightly
  // replaced, which is not what this phase is about.
  p_.p_skew = 0;
  net_.partition(cut, all_ids_);
  trace("REJOIN: leader {} term {}; cutting off {{{}}}", lid, term, fmt::join(cut, ","));

  const std::uint64_t away = static_cast<std::uint64_t>(rng_.range(3, 8)) * e;
  for (std::uint64_t t = 0; t < away && !failed(); ++t) {
    if (rng_.chance(0.3)) client_propose(l);
    deliver_all();
    tick_all();
    check_step();
  }
  if (failed()) return;
  if (!l->up() || l->node->role() != raft::Role::kLeader || l->node->term() != term) {
    violation(
        fmt::format("rejoin: leader {} (term {}) lost leadership while a minority was cut "
                    "off (now {} in term {})",
                    lid, term, l->up() ? raft::to_string(l->node->role()) : "down",
                    l->up() ? l->node->term() : 0));
    return;
  }

  net_.heal();
  trace("REJOIN: links restored");
  const std::uint64_t settle = 10 * e;
  for (std::uint64_t t = 0; t < settle && !failed(); ++t) {
    if (rng_.chance(0.3)) client_propose(l);
    deliver_all();
    tick_all();
    check_step();
  }
  deliver_all();
  if (opt_.lazy_commit) {
    // An entry committed in the last round reaches followers' commit index with the next
    // heartbeat only: let one go round, without new proposals.
    for (int t = 0; t <= p_.heartbeat_ticks && !failed(); ++t) {
      tick_all();
      deliver_all();
      check_step();
    }
  }
  if (failed()) return;
  // Pre-vote (thesis 9.6) keeps the returning nodes' terms where they were; check-quorum's
  // lease makes the members ignore them: nothing may move the term.
  if (l->node->role() != raft::Role::kLeader || l->node->term() != term) {
    violation(fmt::format(
        "rejoin: nodes {{{}}} rejoining disrupted leader {}: it is {} in term "
        "{}, was leader in term {}",
        fmt::join(cut, ","), lid, raft::to_string(l->node->role()), l->node->term(), term));
    return;
  }
  for (Host* h : live()) {
    // A node whose add entry never committed is no member: nobody talks to it.
    if (!is_member(committed_conf_, h->id)) continue;
    if (h->node->term() != term) {
      violation(fmt::format("rejoin: node {} is at term {} after rejoining, leader {} at {}", h->id,
                            h->node->term(), lid, term));
      return;
    }
    if (is_member(committed_conf_, h->id) && h->sm.applied() < checker_.max_committed()) {
      violation(
          fmt::format("rejoin: node {} applied {} of {} committed entries {} ticks after "
                      "rejoining; {}",
                      h->id, h->sm.applied(), checker_.max_committed(), settle, leader_view()));
      return;
    }
  }
  trace("REJOIN: leader {} kept term {}; everyone caught up", lid, term);
}

// ---------------------------------------------------------------- inputs

void Simulation::start(Host& h) {
  if (h.up()) return;
  ++h.incarnation;
  if (h.ever_started) ++stats_.restarts;
  h.ever_started = true;
  h.armed = CrashPoint::kNone;
  h.rng = Rng(rng_.next());
  // Volatile state is rebuilt from disk: the state machine from the stored snapshot.
  if (h.storage.snapshot_meta().index > 0) {
    std::optional<SimStateMachine> sm = SimStateMachine::parse(h.storage.snapshot_data());
    if (!sm) {
      violation(fmt::format("node {}: stored snapshot body does not parse", h.id));
      return;
    }
    h.sm = *sm;
  } else {
    h.sm = SimStateMachine(bootstrap_);
  }
  const raft::InitialState init = h.storage.initial_state();
  trace(
      "node {} starts (incarnation {}): term {} vote {} commit {}, log [{}, {}], snapshot {}, "
      "{}",
      h.id, h.incarnation, init.hard_state.term, init.hard_state.vote, init.hard_state.commit,
      h.storage.first_index(), h.storage.last_index(), h.storage.snapshot_meta().index,
      describe(init.conf));
  checker_.incarnation_started(h.id, h.sm.applied(), h.sm.hash());
  if (failed()) return;
  h.node = std::make_unique<raft::Node>(make_config(h), h.storage);
  fold(h.id * 1000003 + static_cast<std::uint64_t>(h.incarnation));
  drain(h);
}

void Simulation::crash(Host& h, const std::string& why) {
  if (!h.up()) return;
  trace("node {} CRASHES ({})", h.id, why);
  ++stats_.crashes;
  h.node.reset();
  h.armed = CrashPoint::kNone;
  h.disk.clear();  // writes in flight never reached the disk
  fold(h.id * 7919 + now_);
}

void Simulation::tick_all() {
  ++now_;
  ++stats_.ticks;
  for (auto& [id, h] : hosts_) {
    if (!h->up()) continue;
    if (p_.p_skew > 0 && rng_.chance(p_.p_skew)) {
      trace("node {} misses tick {} (clock skew)", id, now_);
      continue;
    }
    h->node->tick();
    drain(*h);
    if (failed()) return;
  }
}

void Simulation::deliver(InFlight& f) {
  const Message& m = f.msg;
  auto it = hosts_.find(m.to);
  Host* dst = it == hosts_.end() ? nullptr : it->second.get();
  if (dst == nullptr || !dst->up() || net_.blocked(m.from, m.to)) {
    trace("lost  #{} {}{}", f.seq, describe(m),
          dst == nullptr || !dst->up() ? " (destination down)" : " (link cut)");
    // Sometimes the sender's transport notices the lost connection.
    auto src = hosts_.find(m.from);
    if (src != hosts_.end() && src->second->up() && rng_.chance(0.2)) {
      trace("node {} transport: {} unreachable", m.from, m.to);
      ++stats_.unreachable_reports;
      src->second->node->report_unreachable(m.to);
      drain(*src->second);
    }
    return;
  }
  trace("deliver #{} {}", f.seq, describe(m));
  ++stats_.messages_delivered;
  fold((static_cast<std::uint64_t>(m.type) << 56) ^ (m.from << 48) ^ (m.to << 40) ^ m.term ^
       (m.index << 20));
  dst->node->step(m);
  drain(*dst);
}

void Simulation::deliver_all() {
  InFlight f;
  std::uint64_t n = 0;
  for (;;) {
    complete_all_disk_writes();
    if (failed() || !net_.take_oldest(now_, f)) break;
    deliver(f);
    if (++n > 200000) {
      violation("message storm: more than 200000 messages without a tick");
      return;
    }
  }
}

void Simulation::complete_all_disk_writes() {
  for (bool any = true; any && !failed();) {
    any = false;
    for (auto& [id, h] : hosts_) {
      if (h->up() && !h->disk.empty()) {
        complete_disk_write(*h);
        any = true;
      }
    }
  }
}

Host* Simulation::leader() {
  Host* best = nullptr;
  for (auto& [id, h] : hosts_) {
    if (!h->up() || h->node->role() != raft::Role::kLeader) continue;
    if (best == nullptr || h->node->term() > best->node->term()) best = h.get();
  }
  return best;
}

std::string Simulation::leader_view() {
  Host* l = leader();
  if (l == nullptr) return "no leader";
  const raft::Status s = l->node->status();
  std::string out = fmt::format("leader {} term {} commit {} last {}; progress:", l->id,
                                s.hard_state.term, s.hard_state.commit, s.last_index);
  for (const raft::Status::Progress& p : s.progress) {
    out += fmt::format(" {}(match {} next {}{}{})", p.id, p.match, p.next,
                       p.learner ? " learner" : "", p.recent_active ? " active" : "");
  }
  return out;
}

std::string Simulation::cluster_view() {
  std::string out = "nodes:";
  for (Host* h : live()) {
    const raft::Status s = h->node->status();
    out += fmt::format(" {}({} t{} last {} commit {} {})", h->id, raft::to_string(s.role),
                       s.hard_state.term, s.last_index, s.hard_state.commit, describe(s.conf));
  }
  return out;
}

std::vector<Host*> Simulation::live() {
  std::vector<Host*> out;
  for (auto& [id, h] : hosts_) {
    if (h->up()) out.push_back(h.get());
  }
  return out;
}

bool Simulation::restartable(const Host& h) const {
  if (h.up() || !h.ever_started) return false;
  if (is_member(committed_conf_, h.id)) return true;
  auto it = pending_adds_.find(h.id);
  return it != pending_adds_.end() && it->second > committed_conf_index_;
}

void Simulation::client_propose(Host* target) {
  if (target == nullptr) {
    target = leader();
    std::vector<Host*> up = live();
    if (up.empty()) return;
    // Mostly the leader; sometimes a stale guess, which must be refused, never lost silently.
    if (target == nullptr || rng_.chance(0.15)) target = up[rng_.below(up.size())];
  }
  if (!target->up()) return;
  const std::uint64_t n = ++next_proposal_;
  std::string data = fmt::format("k{}={}", n % 8, n);
  data.append(rng_.below(48), static_cast<char>('a' + n % 26));
  Index idx = 0;
  const raft::ProposeError err = target->node->propose(data, &idx);
  ++stats_.proposals;
  if (err == raft::ProposeError::kOk) ++stats_.proposals_accepted;
  trace("client: propose 'k{}={}' to {} -> {}{}", n % 8, n, target->id, to_string(err),
        err == raft::ProposeError::kOk ? fmt::format(" at index {}", idx) : "");
  drain(*target);
}

void Simulation::client_read() {
  std::vector<Host*> up = live();
  if (up.empty()) return;
  Host* h = up[rng_.below(up.size())];
  const std::string ctx = fmt::format("read-{}", ++next_read_);
  checker_.read_issued(ctx);
  ++stats_.reads;
  trace("client: read_index '{}' at node {} (committed so far: {})", ctx, h->id,
        checker_.max_committed());
  h->node->read_index(ctx);
  drain(*h);
}

void Simulation::client_transfer() {
  Host* l = leader();
  if (l == nullptr) return;
  const raft::Status s = l->node->status();
  std::vector<NodeId> to;
  for (NodeId v : s.conf.voters) {
    if (v != l->id) to.push_back(v);
  }
  if (to.empty()) return;
  NodeId target = to[rng_.below(to.size())];
  if (rng_.chance(0.1)) {
    // An operator mistake (itself, a learner, a non-member): the core must ignore it.
    auto it = all_ids_.begin();
    std::advance(it, static_cast<long>(rng_.below(all_ids_.size())));
    target = *it;
  }
  ++stats_.transfers;
  transfer_target_ = target;
  transfer_from_term_ = l->node->term();
  transfer_deadline_ = now_ + 2 * static_cast<std::uint64_t>(p_.election_ticks);
  trace("admin: transfer leadership {} -> {}", l->id, target);
  l->node->transfer_leadership(target);
  drain(*l);
}

void Simulation::client_conf_change() {
  Host* l = leader();
  if (l == nullptr) return;
  const ConfState conf = l->node->status().conf;
  std::vector<ConfChange> options;
  for (NodeId id : all_ids_) {
    if (!is_member(conf, id)) {
      options.push_back({ConfChangeType::kAddLearner, id, {}});
      // Straight in as a voter, without a learner phase: legal, if slower to catch up.
      if (rng_.chance(0.2)) options.push_back({ConfChangeType::kAddVoter, id, {}});
    }
  }
  for (NodeId id : conf.learners) {
    options.push_back({ConfChangeType::kAddVoter, id, {}});
    options.push_back({ConfChangeType::kRemoveNode, id, {}});
  }
  // Keep at least two voters so that crashes still leave a cluster worth testing.
  if (conf.voters.size() > 2) {
    for (NodeId id : conf.voters) {
      options.push_back({ConfChangeType::kRemoveNode, id, {}});
      if (rng_.chance(0.3)) options.push_back({ConfChangeType::kAddLearner, id, {}});  // demote
    }
  }
  if (options.empty()) return;
  ConfChange cc = options[rng_.below(options.size())];
  cc.context = fmt::format("127.0.0.1:{}", 7000 + cc.node);
  Host& target = *hosts_.at(cc.node);
  const bool joining = !is_member(conf, cc.node);
  if (joining && !target.up()) {
    // The operator starts the new (or returning) node first, then adds it (thesis 4.2.1).
    trace("admin: starting node {} to join", cc.node);
    start(target);
    if (failed() || !l->up()) return;
  }
  Index idx = 0;
  const raft::ProposeError err = l->node->propose_conf_change(cc, &idx);
  ++stats_.conf_changes_proposed;
  trace("admin: {} {} via leader {} ({}) -> {}{}", to_string(cc.type), cc.node, l->id,
        describe(conf), to_string(err),
        err == raft::ProposeError::kOk ? fmt::format(" at index {}", idx) : "");
  if (joining) {
    if (err == raft::ProposeError::kOk) {
      pending_adds_[cc.node] = idx;
    } else if (!is_member(committed_conf_, cc.node)) {
      crash(target, "join refused");
    }
  }
  drain(*l);
}

void Simulation::crash_something() {
  std::vector<Host*> up = live();
  if (up.empty()) return;
  Host* h = leader();
  if (h == nullptr || rng_.chance(0.5)) h = up[rng_.below(up.size())];
  if (rng_.chance(p_.p_mid_ready)) {
    static constexpr CrashPoint kPoints[] = {CrashPoint::kAfterSend, CrashPoint::kAfterPersist,
                                             CrashPoint::kAfterPersistSend,
                                             CrashPoint::kAfterInstall, CrashPoint::kAfterApply};
    h->armed = kPoints[rng_.below(std::size(kPoints))];
    trace("fault: node {} will crash in its next Ready {}", h->id, to_string(h->armed));
  } else {
    crash(*h, "between events");
  }
}

void Simulation::restart_something() {
  std::vector<Host*> down;
  for (auto& [id, h] : hosts_) {
    if (restartable(*h)) down.push_back(h.get());
  }
  if (down.empty()) return;
  start(*down[rng_.below(down.size())]);
}

void Simulation::partition_something() {
  ++stats_.partitions;
  std::set<NodeId> side;
  switch (rng_.below(4)) {
    case 0: {  // a random subset
      for (NodeId id : all_ids_) {
        if (rng_.chance(0.5)) side.insert(id);
      }
      break;
    }
    case 1: {  // the leader alone
      Host* l = leader();
      if (l != nullptr) side.insert(l->id);
      break;
    }
    case 2: {  // one random node
      auto it = all_ids_.begin();
      std::advance(it, static_cast<long>(rng_.below(all_ids_.size())));
      side.insert(*it);
      break;
    }
    default: {  // a one-way link
      std::vector<NodeId> ids(all_ids_.begin(), all_ids_.end());
      const NodeId a = ids[rng_.below(ids.size())];
      const NodeId b = ids[rng_.below(ids.size())];
      if (a != b) {
        net_.block(a, b);
        trace("network: link {} -> {} cut (one way)", a, b);
      }
      return;
    }
  }
  if (side.empty() || side.size() == all_ids_.size()) return;
  net_.partition(side, all_ids_);
  trace("network: partition {{{}}} | rest", fmt::join(side, ","));
}

void Simulation::change_network() {
  NetworkFaults& f = net_.faults();
  static constexpr double kDrop[] = {0, 0, 0.05, 0.2};
  static constexpr double kDup[] = {0, 0.05, 0.2};
  static constexpr double kDelay[] = {0, 0.2, 0.6};
  f.drop = kDrop[rng_.below(std::size(kDrop))];
  f.duplicate = kDup[rng_.below(std::size(kDup))];
  f.delay = kDelay[rng_.below(std::size(kDelay))];
  f.max_delay = rng_.range(1, 2 * p_.election_ticks);
  trace("network: drop {} duplicate {} delay {} (up to {} ticks)", f.drop, f.duplicate, f.delay,
        f.max_delay);
}

// ---------------------------------------------------------------- the host

void Simulation::drain(Host& h) {
  ++ready_depth_;
  for (int guard = 0; h.up() && h.node->has_ready() && !failed(); ++guard) {
    // An asynchronous disk holds a bounded queue; the rest waits until writes complete.
    if (h.async_disk && h.disk.size() >= kMaxDiskQueue) break;
    if (guard > 10000) {
      violation(fmt::format("node {}: has_ready() stays true after 10000 Ready cycles", h.id));
      break;
    }
    handle_ready(h);
  }
  if (h.up()) checker_.observe_role(h.id, h.node->term(), h.node->role(), h.disk.empty());
  --ready_depth_;
  if (ready_depth_ == 0) settle_membership();
}

void Simulation::settle_membership() {
  while (!failed() && (!pending_stops_.empty() || !pending_starts_.empty())) {
    if (!pending_stops_.empty()) {
      const NodeId id = *pending_stops_.begin();
      pending_stops_.erase(pending_stops_.begin());
      crash(*hosts_.at(id), "removed from the cluster");
      continue;
    }
    const NodeId id = *pending_starts_.begin();
    pending_starts_.erase(pending_starts_.begin());
    start(*hosts_.at(id));
  }
}

void Simulation::handle_ready(Host& h) {
  raft::Ready rd = h.node->ready();
  const CrashPoint armed = h.armed;
  auto crash_at = [&](CrashPoint p) {
    if (armed != p) return false;
    ++stats_.crashes_mid_ready;
    crash(h, to_string(p));
    return true;
  };
  if (opt_.trace) {
    std::string what;
    if (rd.soft_state) {
      what += fmt::format(" role={} leader={}", raft::to_string(rd.soft_state->role),
                          rd.soft_state->leader);
    }
    if (rd.hard_state) {
      what += fmt::format(" hs=(term {} vote {} commit {})", rd.hard_state->term,
                          rd.hard_state->vote, rd.hard_state->commit);
    }
    if (!rd.entries.empty()) {
      what += fmt::format(" persist={}..{}", rd.entries.front().index, rd.entries.back().index);
    }
    if (rd.snapshot_chunk) {
      what += fmt::format(" chunk(snap {} off {} len {}{})", rd.snapshot_chunk->meta.index,
                          rd.snapshot_chunk->offset, rd.snapshot_chunk->data.size(),
                          rd.snapshot_chunk->done ? " done" : "");
    }
    if (rd.snapshot) what += fmt::format(" install-snapshot={}", rd.snapshot->index);
    if (!rd.committed.empty()) {
      what += fmt::format(" apply={}..{}", rd.committed.front().index, rd.committed.back().index);
    }
    if (!rd.messages.empty()) what += fmt::format(" send={}", rd.messages.size());
    if (!rd.messages_after_persist.empty()) {
      what += fmt::format(" send-after-persist={}", rd.messages_after_persist.size());
    }
    for (const raft::ReadState& rs : rd.read_states) {
      what += fmt::format(" read({}@{})", rs.context, rs.index);
    }
    trace("node {} ready:{}", h.id, what);
  }

  using Mutation = SimOptions::Mutation;
  if (opt_.mutation == Mutation::kAckBeforePersist) {
    for (const Message& m : rd.messages_after_persist) send(h, m);
    rd.messages_after_persist.clear();
  }
  // The leader sends at once and writes its own disk in parallel (thesis 10.2.1).
  for (const Message& m : rd.messages) send(h, m);
  if (crash_at(CrashPoint::kAfterSend)) return;

  if (h.async_disk) {
    // The disk thread takes the write; the loop goes on (raft/raft.h allows ready() again
    // before advance()). complete_disk_write() finishes it, in order, some steps later.
    h.disk.push_back(std::move(rd));
    stats_.max_disk_queue = std::max<std::uint64_t>(stats_.max_disk_queue, h.disk.size());
    return;
  }
  finish_ready(h, rd);
}

void Simulation::complete_disk_write(Host& h) {
  if (!h.up() || h.disk.empty()) return;
  raft::Ready rd = std::move(h.disk.front());
  h.disk.pop_front();
  ++stats_.async_writes;
  trace("node {} disk: write done ({} more queued)", h.id, h.disk.size());
  ++ready_depth_;
  finish_ready(h, rd);
  --ready_depth_;
  drain(h);
}

void Simulation::finish_ready(Host& h, raft::Ready& rd) {
  const CrashPoint armed = h.armed;
  auto crash_at = [&](CrashPoint p) {
    if (armed != p) return false;
    ++stats_.crashes_mid_ready;
    crash(h, to_string(p));
    return true;
  };
  using Mutation = SimOptions::Mutation;

  // One durable batch: entries, hard state, the snapshot chunk.
  if (!rd.entries.empty()) {
    if (rd.entries.front().index > h.storage.last_index() + 1) {
      violation(fmt::format("node {}: Ready entries start at {} but its log ends at {}", h.id,
                            rd.entries.front().index, h.storage.last_index()));
      return;
    }
    h.storage.append(rd.entries);
    checker_.log_append(h.id, rd.entries);
    const Index from = std::max(rd.entries.front().index, h.storage.first_index());
    h.durable_conf_changes.erase(h.durable_conf_changes.lower_bound(from),
                                 h.durable_conf_changes.end());
    for (const Entry& e : rd.entries) {
      if (e.type != raft::EntryType::kConfChange || e.index < from) continue;
      if (!raft::decode_conf_change(e.data)) {
        violation(fmt::format("node {}: conf-change entry {} does not decode", h.id, describe(e)));
        return;
      }
      h.durable_conf_changes[e.index] = e.data;
    }
    sync_storage_conf(h);
  }
  bool reject_snapshot = false;
  if (rd.snapshot_chunk) {
    write_chunk(h, *rd.snapshot_chunk);
    if (!failed() && rd.snapshot_chunk->done) reject_snapshot = !verify_incoming(h);
  }
  if (rd.hard_state) {
    h.storage.set_hard_state(*rd.hard_state);
    checker_.hard_state_persisted(h.id, *rd.hard_state);
  }
  if (failed() || crash_at(CrashPoint::kAfterPersist)) return;

  // Votes and acks only leave once what they promise is durable (thesis 3.8).
  for (const Message& m : rd.messages_after_persist) send(h, m);
  if (crash_at(CrashPoint::kAfterPersistSend)) return;
  if (reject_snapshot) {
    // The acks above covered bytes that were durable; the file is bad, so it is dropped and the
    // core asks the leader again, before advance() (raft/raft.h).
    h.incoming = IncomingSnapshot{};
    h.node->snapshot_rejected();
  }

  if (rd.snapshot && !install_snapshot(h, *rd.snapshot)) return;
  if (crash_at(CrashPoint::kAfterInstall)) return;

  if (opt_.mutation == Mutation::kApplyUncommitted) {
    for (const Entry& e : rd.entries) {
      if (e.index == h.sm.applied() + 1) apply(h, e);
      if (failed()) return;
    }
  }
  for (const Entry& e : rd.committed) {
    if (opt_.mutation == Mutation::kApplyUncommitted && e.index <= h.sm.applied()) continue;
    apply(h, e);
    if (failed()) return;
  }
  for (const raft::ReadState& rs : rd.read_states) {
    ++stats_.reads_confirmed;
    checker_.read_confirmed(h.id, rs);
  }
  if (crash_at(CrashPoint::kAfterApply)) return;

  h.node->advance(rd);
  maybe_compact(h);
}

void Simulation::send(Host& h, const Message& m) {
  if (m.from != h.id || hosts_.count(m.to) == 0) {
    violation(fmt::format("node {} emitted a message with bad addresses: {}", h.id, describe(m)));
    return;
  }
  check_durable_before_ack(h, m);
  const int copies = net_.send(m, now_, rng_);
  if (opt_.trace) {
    trace("  send {}{}", describe(m), copies == 0 ? " (LOST)" : copies == 2 ? " (DUPLICATED)" : "");
  }
}

void Simulation::check_durable_before_ack(const Host& h, const Message& m) {
  // Thesis 3.8: a server answers only for what has reached its disk; otherwise a crash could
  // make it forget a vote it gave or an entry the leader counted towards a commit. A node whose
  // durable term has passed the message's term can never act in that term again, so an answer
  // for an older term (released late by an asynchronous host) is safe.
  if (m.reject) return;
  const raft::HardState hs = h.storage.initial_state().hard_state;
  if (hs.term > m.term) return;
  std::string broken;
  if (m.type == MessageType::kAppendResp && m.index > h.storage.last_index()) {
    broken = fmt::format("its durable log ends at {}", h.storage.last_index());
  } else if (m.type == MessageType::kVoteResp && (hs.term != m.term || hs.vote != m.to)) {
    broken = fmt::format("its durable term/vote is {}/{}", hs.term, hs.vote);
  } else if (m.type == MessageType::kSnapshotResp && h.storage.snapshot_meta().index < m.index) {
    auto it = h.snapshot_bytes_written.find(m.index);
    const std::uint64_t written = it == h.snapshot_bytes_written.end() ? 0 : it->second;
    if (written < m.snapshot_offset) {
      broken = fmt::format("only {} bytes of snapshot {} ever reached its disk", written, m.index);
    }
  }
  if (!broken.empty()) {
    violation(
        fmt::format("durability (thesis 3.8): node {} sent {} but {}", h.id, describe(m), broken));
  }
}

void Simulation::write_chunk(Host& h, const raft::SnapshotChunk& c) {
  ++stats_.snapshot_chunks;
  IncomingSnapshot& in = h.incoming;
  if (c.offset == 0 || in.meta != c.meta) {
    if (c.offset != 0) {
      violation(
          fmt::format("node {}: snapshot chunk for {}@{} at offset {} but no earlier chunk "
                      "of that snapshot was handed to the host",
                      h.id, c.meta.index, c.meta.term, c.offset));
      return;
    }
    in = IncomingSnapshot{};
    in.meta = c.meta;
  }
  if (c.offset > in.data.size()) {
    violation(fmt::format("node {}: snapshot chunk at offset {} leaves a gap (file has {} bytes)",
                          h.id, c.offset, in.data.size()));
    return;
  }
  in.data.resize(c.offset);
  in.data += c.data;
  std::uint64_t& written = h.snapshot_bytes_written[c.meta.index];
  written = std::max<std::uint64_t>(written, in.data.size());
  in.total = c.total_size;
  in.done = c.done;
}

bool Simulation::verify_incoming(Host& h) {
  // "Once persisted, the host verifies the file" (raft/raft.h): a disk that returns bad bytes is
  // caught here and the core asks the leader again.
  IncomingSnapshot& in = h.incoming;
  bool corrupted = false;
  const bool may_corrupt = !h.async_disk || opt_.async_snapshot_corruption;
  if (may_corrupt && p_.p_corrupt_snapshot > 0 && !in.data.empty() &&
      rng_.chance(p_.p_corrupt_snapshot)) {
    in.data[rng_.below(in.data.size())] ^= 0x5a;
    corrupted = true;
  }
  std::optional<SimStateMachine> sm;
  if (in.done && in.data.size() == in.total) sm = SimStateMachine::parse(in.data);
  if (sm && sm->applied() == in.meta.index && sm->applied_term() == in.meta.term &&
      sm->conf() == in.meta.conf) {
    return true;
  }
  if (!corrupted) {
    violation(
        fmt::format("node {}: the chunks of snapshot {}@{} handed to the host ({} of {} "
                    "bytes) do not form that snapshot",
                    h.id, in.meta.index, in.meta.term, in.data.size(), in.total));
    return true;
  }
  trace("fault: node {}'s received snapshot {} reads back corrupt; the host rejects it", h.id,
        in.meta.index);
  ++stats_.snapshots_rejected;
  return false;
}

bool Simulation::install_snapshot(Host& h, const raft::SnapshotMeta& meta) {
  IncomingSnapshot& in = h.incoming;
  std::optional<SimStateMachine> sm;
  if (in.meta == meta && in.done && in.data.size() == in.total) {
    sm = SimStateMachine::parse(in.data);
  }
  if (!sm || sm->applied() != meta.index || sm->applied_term() != meta.term ||
      sm->conf() != meta.conf) {
    violation(
        fmt::format("node {}: asked to install snapshot {}@{} but the chunks it handed over "
                    "({}@{}, {} of {} bytes, done={}) do not make that snapshot",
                    h.id, meta.index, meta.term, in.meta.index, in.meta.term, in.data.size(),
                    in.total, in.done));
    return false;
  }
  trace("node {} installs snapshot {}@{} ({} bytes, {})", h.id, meta.index, meta.term,
        in.data.size(), describe(meta.conf));
  ++stats_.snapshots_installed;
  h.storage.apply_snapshot(meta, in.data);
  checker_.log_install_snapshot(h.id, meta.index, meta.term);
  h.sm = *sm;
  checker_.snapshot_restored(h.id, meta.index, h.sm.hash());
  rebuild_conf_changes(h);
  sync_storage_conf(h);
  in = IncomingSnapshot{};
  fold(meta.index * 31 + h.id);
  return !failed();
}

void Simulation::apply(Host& h, const Entry& e) {
  std::optional<ConfState> expected;
  ConfState before;
  if (e.type == raft::EntryType::kConfChange) {
    before = h.sm.conf();
    if (std::optional<ConfChange> cc = raft::decode_conf_change(e.data)) {
      expected = raft::apply_conf_change(h.sm.conf(), *cc);
    }
  }
  if (!h.sm.apply(e)) {
    violation(fmt::format("node {}: cannot decode committed conf change {}", h.id, describe(e)));
    return;
  }
  // The membership a conf-change entry records must be its change applied to the membership
  // before it: a leader whose own view of the membership is wrong would record something else.
  if (expected && h.sm.conf() != *expected) {
    violation(fmt::format(
        "node {}: conf-change entry {} records {} but applying its change to "
        "the membership before it ({}) gives {}",
        h.id, describe(e), describe(h.sm.conf()), describe(before), describe(*expected)));
    return;
  }
  ++stats_.entries_applied;
  checker_.applied(h.id, h.node->term(), e, h.sm.hash());
  fold(h.sm.hash() ^ h.id);
  if (!watched_data_.empty() && e.data == watched_data_) watched_index_ = e.index;
  if (e.type == raft::EntryType::kConfChange && opt_.storage_conf_on_apply) {
    h.storage.set_conf_state(h.sm.conf());
  }
  if (e.type == raft::EntryType::kConfChange && e.index > committed_conf_index_) {
    ++stats_.conf_changes_applied;
    membership_committed(e.index, h.sm.conf());
  }
}

void Simulation::membership_committed(Index index, const ConfState& conf) {
  trace("membership committed at {}: {}", index, describe(conf));
  committed_conf_index_ = index;
  committed_conf_ = conf;
  for (auto& [id, h] : hosts_) {
    if (is_member(conf, id)) {
      pending_adds_.erase(id);
      pending_stops_.erase(id);
      // While healing every member runs, including one whose add just committed.
      if (healing_ && !h->up() && h->ever_started) pending_starts_.insert(id);
      continue;
    }
    auto it = pending_adds_.find(id);
    if (it != pending_adds_.end() && it->second > index) continue;  // its add is still ahead
    if (it != pending_adds_.end()) pending_adds_.erase(it);
    pending_starts_.erase(id);
    // A removed node is shut down by its operator; it keeps its disk and may be added back.
    if (h->up()) pending_stops_.insert(id);
  }
}

void Simulation::maybe_compact(Host& h) {
  if (p_.p_compact == 0 || !rng_.chance(p_.p_compact)) return;
  const Index idx = h.sm.applied();
  if (idx <= h.storage.snapshot_meta().index) return;
  if (idx > h.storage.last_index()) {
    violation(fmt::format("node {}: applied {} beyond its durable log (last {})", h.id, idx,
                          h.storage.last_index()));
    return;
  }
  Term t = 0;
  h.storage.term(idx, t);
  if (t != h.sm.applied_term()) {
    violation(fmt::format("node {}: applied {}@{} but its durable log has term {} there", h.id, idx,
                          h.sm.applied_term(), t));
    return;
  }
  const raft::SnapshotMeta meta{idx, t, h.sm.conf()};
  std::string body = h.sm.serialize();
  trace("node {} takes a snapshot at {}@{} ({} bytes) and compacts its log", h.id, idx, t,
        body.size());
  ++stats_.snapshots_taken;
  h.storage.compact(meta, std::move(body));
  checker_.log_compact(h.id, idx, t);
  h.durable_conf_changes.erase(h.durable_conf_changes.begin(),
                               h.durable_conf_changes.upper_bound(idx));
  sync_storage_conf(h);
  h.node->snapshot_taken(meta);
}

void Simulation::rebuild_conf_changes(Host& h) {
  h.durable_conf_changes.clear();
  std::vector<Entry> es;
  if (h.storage.last_index() >= h.storage.first_index()) {
    h.storage.entries(h.storage.first_index(), h.storage.last_index() + 1, SIZE_MAX, es);
  }
  for (const Entry& e : es) {
    if (e.type == raft::EntryType::kConfChange) h.durable_conf_changes[e.index] = e.data;
  }
}

void Simulation::sync_storage_conf(Host& h) {
  if (opt_.storage_conf_on_apply) return;  // apply() records it instead
  // Storage reports membership as of the last conf-change entry in the durable log, over the
  // snapshot's membership or (for a log that starts at index 1) the founding membership.
  ConfState conf;
  if (h.storage.snapshot_meta().index > 0) {
    conf = h.storage.snapshot_meta().conf;
  } else if (h.initial_member || opt_.joiner_founding_conf) {
    conf = bootstrap_;
  }
  for (const auto& [i, data] : h.durable_conf_changes) {
    if (std::optional<ConfState> recorded = raft::decode_conf_state(data)) {
      conf = std::move(*recorded);
    } else if (std::optional<ConfChange> cc = raft::decode_conf_change(data)) {
      conf = raft::apply_conf_change(conf, *cc);
    }
  }
  h.storage.set_conf_state(conf);
}

// ---------------------------------------------------------------- checks

void Simulation::violation(std::string what) {
  if (failure_.empty()) failure_ = std::move(what);
}

void Simulation::check_mirror(const Host& h, bool full) {
  const DurableLog* log = checker_.durable_log(h.id);
  if (log == nullptr) return;
  const Index first = h.storage.first_index();
  const Index last = h.storage.last_index();
  if (log->base_index + 1 != first || log->last() != last) {
    violation(fmt::format("harness: node {} storage [{}, {}] but checker mirror [{}, {}]", h.id,
                          first, last, log->base_index + 1, log->last()));
    return;
  }
  if (!full || last < first) return;
  std::vector<Entry> es;
  h.storage.entries(first, last + 1, SIZE_MAX, es);
  for (const Entry& e : es) {
    if (log->at(e.index) == nullptr || *log->at(e.index) != e) {
      violation(
          fmt::format("harness: node {} storage and checker mirror differ at {}", h.id, e.index));
      return;
    }
  }
}

void Simulation::check_step() {
  if (failed()) return;
  for (auto& [id, h] : hosts_) {
    if (!h->up()) continue;
    checker_.observe_role(id, h->node->term(), h->node->role(), h->disk.empty());
    const raft::Status s = h->node->status();
    checker_.observe_progress(id, s.hard_state.commit, s.applied);
    check_mirror(*h, false);
  }
  if (step_ % 64 == 0) checker_.check_logs_pairwise();
  if (transfer_target_ != raft::kNoNode) {
    const Host& t = *hosts_.at(transfer_target_);
    if (t.up() && t.node->role() == raft::Role::kLeader && t.node->term() > transfer_from_term_) {
      ++stats_.transfers_completed;
      trace("admin: transfer to {} completed in term {}", transfer_target_, t.node->term());
      transfer_target_ = raft::kNoNode;
    } else if (now_ > transfer_deadline_) {
      transfer_target_ = raft::kNoNode;
    }
  }
}

}  // namespace

SimResult run_simulation(const SimOptions& options) {
  Simulation sim(options);
  return sim.run();
}

}  // namespace raftsim
