// The node host's Ready loop and client entry points (raft_host.h).
#include "server/node/raft_host.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdlib>
#include <random>

#include "raft/types.h"
#include "server/config.h"
#include "server/keyspace/state_machine.h"
#include "server/log.h"
#include "server/node/membership.h"
#include "server/node/replies.h"
#include "storage/data_dir.h"

namespace raftd {

namespace {

log::Level to_log_level(raft::LogLevel level) {
  switch (level) {
    case raft::LogLevel::kDebug:
      return log::Level::kDebug;
    case raft::LogLevel::kInfo:
      return log::Level::kInfo;
    case raft::LogLevel::kWarn:
      return log::Level::kWarn;
    case raft::LogLevel::kError:
      break;
  }
  return log::Level::kError;
}

std::uint64_t random_incarnation() {
  std::random_device entropy;
  return (static_cast<std::uint64_t>(entropy()) << 32) ^ entropy() ^
         static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
}

/// Exit status of a node that stopped at a committed entry it cannot apply (sysexits'
/// EX_SOFTWARE): a supervisor may tell it from a crash and not restart it in a loop.
constexpr int kExitCannotApply = 70;

[[noreturn]] void stop_at_unappliable(raft::Index index, std::string_view why) {
  log::error(
      "committed entry {} cannot be applied on this node: {}. Every replica must apply every "
      "entry, so this node stops rather than diverge. Its data directory is intact: start it "
      "again with the raftd version and plugins the leader runs.",
      index, why);
  std::_Exit(kExitCannotApply);
}

}  // namespace

RaftHost::RaftHost(boost::asio::io_context& io, ClusterConfig config, const Config& settings,
                   storage::DataDir& dir, StateMachine& state_machine)
    : io_(io),
      config_(std::move(config)),
      dir_(dir),
      state_machine_(state_machine),
      forward_gate_(state_machine.table(), settings),
      members_(config_.id, MemberDirectory::Links{[this](raft::NodeId id, const std::string& host,
                                                         std::uint16_t port) {
                                                    if (transport_)
                                                      transport_->add_peer(id, host, port);
                                                  },
                                                  [this](raft::NodeId id) {
                                                    if (transport_) transport_->remove_peer(id);
                                                  }}),
      // Request ids and read contexts start at a random point in every process (see
      // RequestTracker).
      requests_(random_incarnation()),
      snapshots_(dir, state_machine.keyspace(), applied_, members_),
      tick_timer_(io),
      rng_state_(config_.id ^ random_incarnation()) {
  snapshots_.set_interval(config_.snapshot_interval);
  snapshots_.set_on_taken([this] { report_snapshot_taken(); });

  Membership::Options mo;
  mo.self = config_.id;
  mo.client_addr = fmt::format("{}:{}", config_.host, config_.port);
  mo.ensemble = config_.members;
  mo.configured_secret = config_.secret;
  membership_ = std::make_unique<Membership>(dir_, std::move(mo));
  membership_->set_on_formed([this] {
    // Called from inside a handshake: start Raft from the loop, not from the transport.
    boost::asio::post(io_, [this] { on_formed(); });
  });

  storage::LogStore& log_store = dir_.log();
  disk_ = std::make_unique<DiskWriter>(
      io_, log_store, [this](std::uint64_t seq, raft::Index last) { on_durable(seq, last); });

  peer::TransportOptions to;
  to.self_id = config_.id;
  to.listen_host = config_.host;
  to.listen_port = static_cast<std::uint16_t>(config_.port + 1);
  to.rand = [this](std::uint64_t n) { return random(n); };
  to.log = [](raft::LogLevel level, const std::string& text) {
    log::log(to_log_level(level), "raft: {}", text);
  };
  peer::TransportCallbacks cb;
  cb.on_message = [this](const raft::Message& m) { on_message(m); };
  cb.on_forward = [this](raft::NodeId from, std::uint64_t id, std::vector<std::string> args) {
    on_forward(from, id, std::move(args));
  };
  cb.on_forward_reply = [this](std::uint64_t id, const std::string& reply) {
    requests_.forward_replied(id, reply);
  };
  cb.on_peer_state = [this](raft::NodeId node, bool connected) { on_peer_state(node, connected); };
  cb.admit_inbound = [this](const peer::PeerIdentity& p, bool authenticated) {
    return membership_->admit_inbound(p, authenticated);
  };
  cb.admit_outbound = [this](raft::NodeId dialed, const peer::Welcome& w, bool authenticated) {
    return membership_->admit_outbound(dialed, w, authenticated);
  };
  cb.on_refused = [this](raft::NodeId node, const peer::Refusal& r) {
    membership_->on_refused(node, r);
  };
  transport_ = std::make_unique<peer::Transport>(io_, std::move(to), std::move(cb));
}

RaftHost::~RaftHost() {
  if (transport_) transport_->stop();
  disk_.reset();  // finishes queued writes; its completions are never run (the loop is done)
}

const char* RaftHost::role_name(raft::Role role) {
  switch (role) {
    case raft::Role::kLeader:
      return "leader";
    case raft::Role::kCandidate:
    case raft::Role::kPreCandidate:
      return "candidate";
    case raft::Role::kFollower:
      break;
  }
  return "follower";
}

std::uint64_t RaftHost::random(std::uint64_t n) {
  // xorshift64*: cheap, and only election and backoff jitter depend on it.
  rng_state_ ^= rng_state_ >> 12;
  rng_state_ ^= rng_state_ << 25;
  rng_state_ ^= rng_state_ >> 27;
  return n == 0 ? 0 : (rng_state_ * 2685821657736338717ull) % n;
}

std::int64_t RaftHost::wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t RaftHost::steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// ---- Start and stop --------------------------------------------------------------------------

Status RaftHost::start() {
  if (Status st = membership_->prepare(); !st) return st;
  transport_->set_identity(membership_->identity(), membership_->secret());
  if (Status st = transport_->start(); !st) {
    return Status::error(fmt::format("peer port: {}", st.message()));
  }
  if (membership_->formed()) return start_node();
  // Not formed yet: dial every member of the list; Membership forms the cluster or adopts it.
  for (const auto& [id, addr] : config_.members) members_.dial(id, addr);
  return Status::ok();
}

void RaftHost::on_formed() {
  if (node_ || stopping_) return;
  transport_->set_identity(membership_->identity(), membership_->secret());
  if (Status st = start_node(); !st) {
    log::error("{}", st.message());
    std::_Exit(1);
  }
}

Status RaftHost::start_node() {
  storage::LogStore& log_store = dir_.log();
  const raft::InitialState initial = log_store.initial_state();
  if (initial.conf.voters.empty() && initial.conf.learners.empty() && log_store.last_index() == 0) {
    // A node of a cluster just formed starts with the founding members as voters: every member
    // reads the same founding record, so they all start from the same membership.
    raft::ConfState conf;
    for (const auto& [id, m] : membership_->members()) conf.voters.push_back(id);
    log_store.set_conf_state(conf);
    log::info("starting cluster {:016x} with {} voter(s)", membership_->cluster_id(),
              conf.voters.size());
  }
  // Linked once the snapshot is loaded (it may know newer addresses): a load that takes
  // longer than a handshake's deadline would otherwise fail every first handshake.
  for (const auto& [id, m] : membership_->members()) members_.record(id, m.client_addr);

  raft::Config rc;
  rc.id = config_.id;
  rc.election_ticks = config_.election_ticks;
  rc.heartbeat_ticks = 1;
  rc.pre_vote = true;
  rc.check_quorum = true;
  // Followers learn a new commit index with the next batch or heartbeat (at most one tick):
  // one Append and one response fewer per follower per batch.
  rc.lazy_commit = true;
  // One ReadIndex round in flight: reads arriving meanwhile share the next round, so under
  // load each round confirms more reads for the same heartbeats (GET -P 1 with 50 clients:
  // 31k -> 39k/s, 40% fewer peer frames, than with eight).
  rc.max_read_rounds = 1;
  // Raft's own flow control must keep a follower's Appends within the transport's send queue:
  // beyond it the transport drops frames, heartbeats among them, and a flood of writes (a
  // million-command --pipe) cost the leader its followers. Half the queue leaves room for
  // heartbeats, votes and snapshot chunks.
  rc.max_inflight_msgs = static_cast<int>(
      std::max<std::size_t>(4, peer::TransportOptions{}.max_queue_bytes / 2 / rc.max_msg_bytes));
  rc.rand = [this](std::uint64_t n) { return random(n); };
  rc.log = [](raft::LogLevel level, const std::string& text) {
    log::log(to_log_level(level), "raft: {}", text);
  };
  node_ = std::make_unique<raft::Node>(rc, log_store);
  persisted_hard_state_ = unsynced_hard_state_ = log_store.hard_state();
  const raft::SnapshotMeta& log_start = log_store.snapshot_meta();
  applied_.index = std::max(log_start.index, node_->status().applied);
  applied_.term = log_start.term;
  applied_.conf = log_start.index > 0 ? log_start.conf : log_store.initial_state().conf;
  snapshots_.set_replay_until(log_store.hard_state().commit);

  // The log may start at an older snapshot; its entries up to this one are skipped on replay.
  auto loaded = snapshots_.load_at_start();
  if (!loaded) return loaded.status();
  if (loaded->meta.index > 0) adopt_snapshot(*loaded);
  members_.link_all();
  if (lone_voter()) node_->campaign();  // a single-voter cluster needs nobody's vote
  update_log_context();
  tick_timer_.expires_after(std::chrono::milliseconds(config_.tick_ms));
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_tick();
  });
  schedule_ready();
  return Status::ok();
}

std::string RaftHost::not_formed_error() const {
  return replies::cluster_down(membership_->not_formed_reason());
}

void RaftHost::shutdown(std::function<void()> done) {
  if (stopped_ || !node_) {
    stopped_ = true;
    stopping_ = true;
    transport_->stop();
    done();
    return;
  }
  stopping_ = true;
  shutdown_done_ = std::move(done);
  shutdown_deadline_ms_ = steady_ms() + 2LL * config_.election_ticks * config_.tick_ms;
  if (is_leader()) {
    const raft::Status st = node_->status();
    raft::NodeId best = raft::kNoNode;
    raft::Index best_match = 0;
    for (const auto& p : st.progress) {
      if (p.id == config_.id || p.learner || !p.recent_active) continue;
      if (best == raft::kNoNode || p.match > best_match) {
        best = p.id;
        best_match = p.match;
      }
    }
    if (best != raft::kNoNode) {
      log::info("shutting down: handing leadership to {} (match {})", best, best_match);
      node_->transfer_leadership(best);
      schedule_ready();
      return;  // on_tick finishes once we are no longer leader, or at the deadline
    }
  }
  shutdown_deadline_ms_ = 0;  // nothing to hand over: stop at the next tick
}

// ---- The loop: tick, Ready, persist, send, apply, advance ------------------------------------

void RaftHost::on_tick() {
  if (stopped_) return;
  node_->tick();
  const std::int64_t now = steady_ms();
  requests_.expire(now);
  if (stopping_ && (!is_leader() || now >= shutdown_deadline_ms_)) {
    stopped_ = true;
    disk_->drain();
    // Every client still waiting gets its answer now: a session waiting for a completion keeps
    // itself alive, and nothing would ever complete it once we stop.
    const std::string not_done = replies::cluster_down("node is shutting down");
    requests_.fail_all(replies::timeout("node is shutting down; the command's outcome is unknown"),
                       not_done);
    snapshots_.fail_waiting(not_done);
    if (unsynced_hard_state_ != persisted_hard_state_) {
      dir_.log().save(&unsynced_hard_state_, {});  // a clean stop restarts at its commit index
    }
    transport_->stop();
    auto done = std::move(shutdown_done_);
    if (done) done();
    return;
  }
  snapshots_.tick();
  report_snapshot_taken();
  schedule_ready();
  tick_timer_.expires_after(std::chrono::milliseconds(config_.tick_ms));
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_tick();
  });
}

bool RaftHost::before_sleep() {
  if (!node_) return false;
  // Two rounds: the sync of what the loop gathered, then the apply it commits. Completions may
  // propose again at once (a client's parked commands) and set the flag anew; those wait for
  // the next turn, after the loop has served its other sockets, rather than looping here.
  for (int round = 0; round < 2 && ready_deferred_ && !stopped_; ++round) {
    ready_deferred_ = false;
    handle_ready();
  }
  return ready_deferred_ && !stopped_;
}

bool RaftHost::is_leader() const {
  return node_ && node_->role() == raft::Role::kLeader;
}

bool RaftHost::lone_voter() const {
  if (!node_) return false;
  const raft::ConfState& conf = node_->conf();
  return conf.voters.size() == 1 && conf.voters.front() == config_.id;
}

bool RaftHost::syncs_before_sleep() const {
  return loop_calls_before_sleep_ && lone_voter();
}

void RaftHost::schedule_ready() {
  if (stopped_ || !node_) return;
  // A lone voter syncs on the loop (see submit_persist), so its batch is whatever the loop
  // gathered before the sync: wait until the loop has drained the input it has (Redis's
  // beforeSleep) instead of syncing after the handlers queued so far. 3x fewer syncs per
  // request at -P 1 (18 -> 33 entries each), single-node SET -P 1 +25-40%. Leaders of larger
  // clusters send their Appends at once and sync on the disk thread meanwhile.
  if (syncs_before_sleep()) {
    ready_deferred_ = true;
    return;
  }
  if (ready_scheduled_) return;
  ready_scheduled_ = true;
  // Posted, not run inline: everything else already queued in this loop turn (other clients'
  // commands, peer frames) gets into the same Ready, hence the same fsync and Append.
  boost::asio::post(io_, [this] {
    ready_scheduled_ = false;
    handle_ready();
  });
}

void RaftHost::handle_ready() {
  if (stopped_) return;
  // One ReadIndex request for every read that arrived in this loop turn (thesis 6.4).
  if (auto ctx = requests_.open_read_round(node_->leader() != raft::kNoNode)) {
    node_->read_index(std::to_string(*ctx));
  }

  // A bound on Readys waiting for the disk: beyond it the core keeps collecting, so the next
  // Ready is simply bigger.
  static constexpr std::size_t kMaxInflight = 64;
  while (node_->has_ready() && inflight_.size() < kMaxInflight) {
    raft::Ready rd = node_->ready();
    if (rd.soft_state) {
      const raft::NodeId old_leader = soft_.leader;
      soft_ = *rd.soft_state;
      update_log_context();
      log::info("role {} leader {}", role_name(soft_.role), soft_.leader);
      if (soft_.leader != old_leader && requests_.leader_changed()) schedule_ready();
    }
    // The leader sends before its own disk write: replication and the local fsync overlap
    // (thesis 10.2.1); the core only counts its own entries once advance() says they are durable.
    for (const raft::Message& m : rd.messages) {
      if (m.type == raft::MessageType::kSnapshot) snapshots_.on_chunk_sent(m);
      transport_->send(m);
    }

    if (rd.snapshot_chunk || rd.snapshot) {
      handle_snapshot_ready(rd);
      continue;
    }
    // Committed entries are applied at once, even those this node has not synced yet: committed
    // means a majority holds them durably, which is what makes acknowledging them safe (the
    // leader's own copy is not needed, thesis 10.2.1). A crash before our sync only means
    // replaying them from the leader.
    for (const raft::Entry& e : rd.committed) apply_entry(e);
    confirm_reads(rd.read_states);
    // Before a sync on the loop: they need nothing from it.
    requests_.run_confirmed_reads(applied_.index, reply_);
    const std::uint64_t seq = submit_persist(rd);
    inflight_.push_back(InFlight{std::move(rd), seq});
  }
  finish_durable();
}

void RaftHost::confirm_reads(const std::vector<raft::ReadState>& states) {
  for (const raft::ReadState& rs : states) {
    requests_.read_round_confirmed(std::strtoull(rs.context.c_str(), nullptr, 10), rs.index);
  }
}

std::uint64_t RaftHost::submit_persist(const raft::Ready& rd) {
  if (rd.hard_state) unsynced_hard_state_ = *rd.hard_state;
  if (rd.entries.empty()) {
    // A change of the commit index alone need not be durable: it is only a cache of what a
    // quorum holds, re-learned from the leader (or re-established by the next election) after a
    // restart. Term and vote must be durable before any message depending on them leaves
    // (thesis 3.8), so those are written at once. Skipping the commit-only write halves the
    // fsyncs per batch: it rides along with the next append instead.
    if (!rd.hard_state || (rd.hard_state->term == persisted_hard_state_.term &&
                           rd.hard_state->vote == persisted_hard_state_.vote)) {
      return disk_->last_submitted();
    }
  }
  std::optional<raft::HardState> hs;
  if (unsynced_hard_state_ != persisted_hard_state_) hs = unsynced_hard_state_;
  persisted_hard_state_ = unsynced_hard_state_;
  if (soft_.role != raft::Role::kLeader || syncs_before_sleep()) {
    // A follower (or candidate) writes on the loop thread: nothing it could do meanwhile needs
    // the loop as much as the leader's clients do, its acks wait for this sync anyway, and
    // Appends that arrive during the sync queue in the socket and merge into the next write.
    // That saves two thread handoffs (context switches) per batch on every follower. A lone
    // voter does the same, as Redis's appendfsync always does: nothing is replicated in the
    // meantime, and with its Ready deferred to before_sleep() the batch is everything the loop
    // read (with a disk thread, the loop kept handing it small groups: more, slower syncs).
    if (before_sync_) before_sync_();
    if (auto seq = disk_->write_now(hs, rd.entries)) {
      durable_seq_ = std::max(durable_seq_, *seq);
      return *seq;
    }
    return disk_->last_submitted();
  }
  return disk_->submit(hs, rd.entries);
}

void RaftHost::on_durable(std::uint64_t seq, raft::Index last_index) {
  (void)last_index;
  if (stopped_ || seq <= durable_seq_) return;
  durable_seq_ = seq;
  finish_durable();
  if (node_->has_ready()) schedule_ready();
}

void RaftHost::finish_durable() {
  bool advanced = false;
  while (!inflight_.empty() && inflight_.front().seq <= durable_seq_) {
    raft::Ready& rd = inflight_.front().rd;
    // Votes and acks only once what they promise is durable (thesis 3.8).
    for (const raft::Message& m : rd.messages_after_persist) transport_->send(m);
    node_->advance(rd);
    inflight_.pop_front();
    advanced = true;
  }
  if (advanced) report_snapshot_taken();
  if (advanced && node_->has_ready()) schedule_ready();
  requests_.run_confirmed_reads(applied_.index, reply_);
  // A single voter that has applied its whole log serves reads from local state (see
  // reads_need_confirmation); everything it appended is committed by its own vote.
  local_reads_linearizable_ = node_->role() == raft::Role::kLeader && lone_voter() &&
                              applied_.index == node_->last_index() && inflight_.empty();
}

void RaftHost::handle_snapshot_ready(raft::Ready& rd) {
  // Snapshot files and the log's snapshot metadata change together: let every queued log write
  // land and advance those Readys first, then handle this one synchronously.
  durable_seq_ = std::max(durable_seq_, disk_->drain());
  finish_durable();
  if (rd.snapshot_chunk && !snapshots_.receive_chunk(*rd.snapshot_chunk)) {
    node_->snapshot_rejected();
  }
  submit_persist(rd);
  durable_seq_ = std::max(durable_seq_, disk_->drain());
  for (const raft::Message& m : rd.messages_after_persist) transport_->send(m);
  if (rd.snapshot) {
    auto installed = snapshots_.install(*rd.snapshot);
    if (installed) {
      adopt_snapshot(*installed);
      // Writes proposed here (as leader, earlier) and decided inside the snapshot.
      requests_.writes_replaced(installed->meta.index);
    } else {
      log::warn("{}", installed.message());
      node_->snapshot_rejected();
    }
  }
  for (const raft::Entry& e : rd.committed) apply_entry(e);
  confirm_reads(rd.read_states);
  node_->advance(rd);
}

void RaftHost::adopt_snapshot(const LoadedSnapshot& snapshot) {
  applied_.index = snapshot.meta.index;
  applied_.term = snapshot.meta.term;
  applied_.conf = snapshot.meta.conf;
  members_.adopt(snapshot.meta.conf, snapshot.members);
}

void RaftHost::report_snapshot_taken() {
  if (!node_) return;
  if (auto meta = snapshots_.take_report(node_->status().applied)) node_->snapshot_taken(*meta);
}

void RaftHost::apply_entry(const raft::Entry& e) {
  if (e.index <= applied_.index) return;
  applied_.index = e.index;
  applied_.term = e.term;
  if (e.type == raft::EntryType::kConfChange) {
    apply_conf_change(e);
    reply_.clear();
  } else if (Status st = state_machine_.apply(e.data, reply_); !st) {
    stop_at_unappliable(e.index, st.message());
  }
  // Proposals at or below this index are decided now.
  requests_.write_applied(e.index, e.term, reply_);
}

void RaftHost::apply_conf_change(const raft::Entry& e) {
  const auto cc = raft::decode_conf_change(e.data);
  if (!cc) stop_at_unappliable(e.index, "the configuration change does not decode");
  // The entry records the membership it results in (raft/types.h); older encodings carry only
  // the change, applied to the membership before it.
  std::optional<raft::ConfState> recorded = raft::decode_conf_state(e.data);
  const raft::ConfState conf =
      recorded ? *recorded : raft::apply_conf_change(node_->status().conf, *cc);
  dir_.log().set_conf_state(conf);
  applied_.conf = conf;
  if (cc->type == raft::ConfChangeType::kRemoveNode) {
    members_.remove(cc->node);
  } else if (!cc->context.empty()) {
    members_.set(cc->node, cc->context);
  }
  log::info("membership change at {}: node {} {}", e.index, cc->node,
            cc->type == raft::ConfChangeType::kRemoveNode ? "removed" : "added");
}

void RaftHost::update_log_context() {
  log::Logger::instance().set_context(
      fmt::format("n{} t{} {}", config_.id, node_->term(), role_name(node_->role())));
}

// ---- Peers -----------------------------------------------------------------------------------

Status RaftHost::check_entry(const raft::Entry& e) const {
  if (e.type != raft::EntryType::kConfChange) return state_machine_.check(e.data);
  if (!raft::decode_conf_change(e.data)) {
    return Status::error("a configuration change that does not decode");
  }
  return Status::ok();
}

void RaftHost::on_message(const raft::Message& m) {
  if (!node_) return;
  if (m.type == raft::MessageType::kAppend) {
    // Entries are checked before the core sees them: one this node could not apply is refused
    // before it is durable or acknowledged, never found at apply time (where the only choice
    // left is to stop).
    for (const raft::Entry& e : m.entries) {
      const Status problem = check_entry(e);
      if (problem) continue;
      ++refused_appends_;
      // Said loudly once, then at every power of two: the leader resends the same entries.
      const bool loud = (refused_appends_ & (refused_appends_ - 1)) == 0;
      log::log(loud ? log::Level::kError : log::Level::kDebug,
               "refusing entries from node {} (term {}): entry {} cannot be applied here: {} "
               "(refusal #{}; this node stays behind until it runs what the leader runs)",
               m.from, m.term, e.index, problem.message(), refused_appends_);
      return;
    }
  }
  node_->step(m);
  schedule_ready();
}

void RaftHost::on_peer_state(raft::NodeId node, bool connected) {
  if (connected || !node_) return;
  node_->report_unreachable(node);
  // Commands in flight to a leader we lost: they may or may not have been proposed.
  requests_.forwards_lost(
      node, replies::timeout("connection to the leader lost; the command's outcome is unknown"));
  schedule_ready();
}

// ---- Client requests (Proposer) --------------------------------------------------------------

void RaftHost::propose(std::string entry, Completion done) {
  propose_entry(std::move(entry), std::move(done));
}

void RaftHost::propose_entry(std::string entry, Completion done) {
  if (!node_) {
    done(not_formed_error());
    return;
  }
  if (stopping_) {
    done(replies::cluster_down("node is shutting down"));
    return;
  }
  raft::Index index = 0;
  switch (node_->propose(std::move(entry), &index)) {
    case raft::ProposeError::kOk:
      requests_.add_write(index, node_->term(), std::move(done), request_deadline());
      schedule_ready();
      return;
    case raft::ProposeError::kNotLeader:
      done(replies::cluster_down(node_->leader() == raft::kNoNode ? "no leader"
                                                                  : "not the leader any more"));
      return;
    case raft::ProposeError::kTransferring:
      done(replies::cluster_down("leadership transfer in progress, retry"));
      return;
    case raft::ProposeError::kConfChangePending:
    case raft::ProposeError::kDropped:
      break;
  }
  done(replies::cluster_down("proposal dropped, retry"));
}

void RaftHost::submit_write(const CommandSpec& spec, Args args, std::string entry,
                            Completion done) {
  (void)spec;
  if (!node_) {
    done(not_formed_error());
    return;
  }
  if (is_leader() || stopping_) {  // propose_entry refuses once stopping
    propose_entry(std::move(entry), std::move(done));
    return;
  }
  forward_write(args, std::move(done));
}

void RaftHost::forward_write(Args args, Completion done) {
  const raft::NodeId leader = node_->leader();
  if (leader == raft::kNoNode) {
    done(replies::cluster_down("no leader"));
    return;
  }
  if (!config_.forward_writes) {
    done(replies::moved(members_.address(leader)));
    return;
  }
  // Forwarded as the client sent it: the leader runs prepare with its own clock, so relative
  // TTLs and the entry's timestamp come from one clock.
  if (!transport_->connected(leader)) {
    done(replies::cluster_down("no connection to the leader"));
    return;
  }
  std::vector<std::string> owned(args.begin(), args.end());
  const std::uint64_t id = requests_.next_forward_id();
  if (!transport_->send_forward(leader, id, owned)) {
    done(replies::cluster_down("cannot reach the leader"));
    return;
  }
  requests_.add_forward(id, leader, std::move(done), request_deadline());
}

void RaftHost::on_forward(raft::NodeId from, std::uint64_t request_id,
                          std::vector<std::string> args) {
  auto reply = [this, from, request_id](std::string_view r) {
    transport_->send_forward_reply(from, request_id, std::string(r));
  };
  // The same gate as a client's command on this node (lookup, arity, entry size, and later
  // access checks); only writes are ever forwarded.
  std::vector<std::string_view> views(args.begin(), args.end());
  auto admitted = forward_gate_.admit(Args(views));
  if (!admitted) {
    reply(replies::error(admitted.message()));
    return;
  }
  const CommandSpec* spec = *admitted;
  if (!(spec->flags & kCmdWrite)) {
    reply(replies::error(fmt::format("ERR command '{}' cannot be forwarded", spec->name)));
    return;
  }
  if (!is_leader()) {
    reply(node_ ? replies::cluster_down("not the leader any more") : not_formed_error());
    return;
  }
  std::string entry;
  std::string error;
  resp::Writer out(error);
  if (!prepare_write(*spec, Args(views), wall_ms(), entry, out)) {
    reply(error);
    return;
  }
  propose_entry(std::move(entry), reply);
}

bool RaftHost::reads_need_confirmation() const {
  return !node_ || (config_.linearizable_reads && !local_reads_linearizable_);
}

void RaftHost::submit_read(ReadFn run, Completion done) {
  if (!node_) {
    done(not_formed_error());
    return;
  }
  if (stopping_) {
    done(replies::cluster_down("node is shutting down"));
    return;
  }
  requests_.add_read(std::move(run), std::move(done), request_deadline());
  schedule_ready();
}

// ---- Operator side (NodeAdmin; info() is in raft_host_info.cc) --------------------------------

void RaftHost::reconfigure(const Config& config) {
  config_.forward_writes = config.forward_writes;
  config_.linearizable_reads = config.linearizable_reads;
  config_.request_timeout_ms = config.request_timeout_ms;
  snapshots_.set_interval(config.snapshot_interval);
}

void RaftHost::checkpoint(Completion done) {
  if (!node_) {
    done(not_formed_error());
    return;
  }
  if (stopping_) {
    done("-ERR node is shutting down\r\n");
    return;
  }
  snapshots_.checkpoint(std::move(done));
}

}  // namespace raftd
