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
#include "storage/data_dir.h"

namespace raftd {

namespace {

constexpr std::string_view kNoLeader = "-CLUSTERDOWN no leader\r\n";

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string error_reply(std::string_view text) {
  std::string line(text);
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return fmt::format("-{}\r\n", line);
}

// Splits "host:port" (host may be "[v6]").
bool split_address(const std::string& addr, std::string& host, std::uint16_t& port) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const int p = std::atoi(addr.c_str() + colon + 1);
  if (p <= 0 || p >= 65535) return false;
  port = static_cast<std::uint16_t>(p);
  return true;
}

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

const char* role_name(raft::Role role) {
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

/// Empties `c` and returns what it held. A completion may re-enter the host: the session it
/// answers runs its next parked command at once, which can submit a new read or write into the
/// very container being walked. So containers of completions are moved out before any is
/// called, and new requests land, untouched, in the emptied member.
template <class Container>
Container take(Container& c) {
  Container out;
  out.swap(c);
  return out;
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

raft::NodeId node_id_for(const std::string& address) {
  // 53 bits: the id stays exact in clients that parse INFO numbers as doubles.
  const raft::NodeId id = fnv1a(address) & ((1ull << 53) - 1);
  return id == raft::kNoNode ? 1 : id;
}

RaftHost::RaftHost(boost::asio::io_context& io, ClusterConfig config, const Config& settings,
                   storage::DataDir& dir, StateMachine& state_machine)
    : io_(io),
      config_(std::move(config)),
      dir_(dir),
      state_machine_(state_machine),
      forward_gate_(state_machine.table(), settings),
      tick_timer_(io),
      rng_state_(config_.id ^ static_cast<std::uint64_t>(now_ms())) {
  // Request ids and read contexts start at a random point in every process: a reply or
  // ReadIndex answer queued for this node's previous incarnation must never match a request of
  // this one (a restarted follower would otherwise hand it to the wrong client).
  std::random_device entropy;
  const std::uint64_t incarnation = (static_cast<std::uint64_t>(entropy()) << 32) ^ entropy() ^
                                    static_cast<std::uint64_t>(now_ms());
  next_forward_id_ = incarnation | 1;
  next_read_ctx_ = (incarnation * 0x9E3779B97F4A7C15ull) | 1;

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
  snapshotter_ = std::make_unique<Snapshotter>(dir_);

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
  cb.on_forward_reply = [this](std::uint64_t id, std::string reply) {
    on_forward_reply(id, std::move(reply));
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

std::uint64_t RaftHost::random(std::uint64_t n) {
  // xorshift64*: cheap, and only election and backoff jitter depend on it.
  rng_state_ ^= rng_state_ >> 12;
  rng_state_ ^= rng_state_ << 25;
  rng_state_ ^= rng_state_ >> 27;
  return n == 0 ? 0 : (rng_state_ * 2685821657736338717ull) % n;
}

std::optional<std::string> RaftHost::start_node() {
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
  for (const auto& [id, m] : membership_->members()) addresses_[id] = m.client_addr;

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
  applied_ = std::max(log_store.snapshot_meta().index, node_->status().applied);
  applied_term_ = log_store.snapshot_meta().term;
  applied_conf_ = log_store.snapshot_meta().index > 0 ? log_store.snapshot_meta().conf
                                                      : log_store.initial_state().conf;
  replay_until_ = log_store.hard_state().commit;

  if (auto err = load_snapshot_at_start()) return err;
  for (const auto& [id, addr] : addresses_) add_peer(id, addr);
  if (lone_voter()) node_->campaign();  // a single-voter cluster needs nobody's vote
  update_log_context();
  tick_timer_.expires_after(std::chrono::milliseconds(config_.tick_ms));
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_tick();
  });
  schedule_ready();
  return std::nullopt;
}

void RaftHost::on_formed() {
  if (node_ || stopping_) return;
  transport_->set_identity(membership_->identity(), membership_->secret());
  if (auto err = start_node()) {
    log::error("{}", *err);
    std::_Exit(1);
  }
}

std::string RaftHost::not_formed_error() const {
  return error_reply("CLUSTERDOWN " + membership_->not_formed_reason());
}

RaftHost::~RaftHost() {
  if (transport_) transport_->stop();
  disk_.reset();  // finishes queued writes; its completions are never run (the loop is done)
}

std::optional<std::string> RaftHost::start() {
  if (auto err = membership_->prepare()) return err;
  transport_->set_identity(membership_->identity(), membership_->secret());
  if (auto err = transport_->start()) return fmt::format("peer port: {}", *err);
  if (membership_->formed()) return start_node();
  // Not formed yet: dial every member of the list; Membership forms the cluster or adopts it.
  for (const auto& [id, addr] : config_.members) add_peer(id, addr);
  return std::nullopt;
}

void RaftHost::add_peer(raft::NodeId id, const std::string& client_addr) {
  if (id == config_.id) return;
  std::string host;
  std::uint16_t port = 0;
  if (!split_address(client_addr, host, port)) {
    log::error("member {} has a bad address '{}'", id, client_addr);
    return;
  }
  transport_->add_peer(id, host, static_cast<std::uint16_t>(port + 1));
}

std::int64_t RaftHost::now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool RaftHost::is_leader() const {
  return node_ && node_->role() == raft::Role::kLeader;
}

void RaftHost::on_tick() {
  if (stopped_) return;
  node_->tick();
  ++ticks_;
  const std::int64_t now = now_ms();
  expire_requests(now);
  if (stopping_ && (!is_leader() || now >= shutdown_deadline_ms_)) {
    stopped_ = true;
    disk_->drain();
    // Every client still waiting gets its answer now: a session waiting for a completion keeps
    // itself alive, and nothing would ever complete it once we stop.
    fail_outstanding("-TIMEOUT node is shutting down; the command's outcome is unknown\r\n",
                     "-CLUSTERDOWN node is shutting down\r\n");
    if (unsynced_hard_state_ != persisted_hard_state_) {
      dir_.log().save(&unsynced_hard_state_, {});  // a clean stop restarts at its commit index
    }
    transport_->stop();
    auto done = std::move(shutdown_done_);
    if (done) done();
    return;
  }
  maybe_snapshot();
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
  if (!reads_awaiting_leader_.empty() && node_->leader() != raft::kNoNode) {
    // Asked again after a leader change: they arrived before anything unsent, so they go first.
    std::vector<PendingRead> reads = take(reads_awaiting_leader_);
    for (auto& r : unsent_reads_) reads.push_back(std::move(r));
    unsent_reads_ = std::move(reads);
  }
  if (!unsent_reads_.empty()) {
    if (node_->leader() == raft::kNoNode) {
      for (auto& r : take(unsent_reads_)) r.done(kNoLeader);
    } else {
      // One ReadIndex request for every read that arrived in this loop turn (thesis 6.4).
      const std::uint64_t ctx = next_read_ctx_++;
      ++read_index_requests_;
      ReadBatch& batch = read_batches_[ctx];
      batch.reads = std::move(unsent_reads_);
      // Reads are in arrival order (those asked again after a leader change first), so the
      // first one's deadline is the batch's, and deadlines still grow along read_batches_.
      batch.deadline_ms = batch.reads.front().deadline_ms;
      unsent_reads_.clear();
      node_->read_index(std::to_string(ctx));
    }
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
      if (soft_.leader != old_leader) resend_unconfirmed_reads();
    }
    // The leader sends before its own disk write: replication and the local fsync overlap
    // (thesis 10.2.1); the core only counts its own entries once advance() says they are durable.
    for (const raft::Message& m : rd.messages) {
      if (m.type == raft::MessageType::kSnapshot) note_snapshot_sent(m);
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
    for (const raft::ReadState& rs : rd.read_states) {
      const std::uint64_t ctx = std::strtoull(rs.context.c_str(), nullptr, 10);
      auto it = read_batches_.find(ctx);
      if (it == read_batches_.end()) continue;  // timed out meanwhile
      for (auto& r : it->second.reads) confirmed_reads_.emplace(rs.index, std::move(r));
      read_batches_.erase(it);
    }
    run_confirmed_reads();  // before a sync on the loop: they need nothing from it
    const std::uint64_t seq = submit_persist(rd);
    inflight_.push_back(InFlight{std::move(rd), seq});
  }
  finish_durable();
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
  run_confirmed_reads();
  // A single voter that has applied its whole log serves reads from local state (see
  // reads_need_confirmation); everything it appended is committed by its own vote.
  local_reads_linearizable_ = node_->role() == raft::Role::kLeader && lone_voter() &&
                              applied_ == node_->last_index() && inflight_.empty();
}

void RaftHost::handle_snapshot_ready(raft::Ready& rd) {
  // Snapshot files and the log's snapshot metadata change together: let every queued log write
  // land and advance those Readys first, then handle this one synchronously.
  durable_seq_ = std::max(durable_seq_, disk_->drain());
  finish_durable();
  if (rd.snapshot_chunk && !receive_snapshot_chunk(*rd.snapshot_chunk)) {
    node_->snapshot_rejected();
  }
  const std::uint64_t seq = submit_persist(rd);
  durable_seq_ = std::max(durable_seq_, disk_->drain());
  (void)seq;
  for (const raft::Message& m : rd.messages_after_persist) transport_->send(m);
  if (rd.snapshot && !install_snapshot(*rd.snapshot)) node_->snapshot_rejected();
  for (const raft::Entry& e : rd.committed) apply_entry(e);
  for (const raft::ReadState& rs : rd.read_states) {
    const std::uint64_t ctx = std::strtoull(rs.context.c_str(), nullptr, 10);
    auto it = read_batches_.find(ctx);
    if (it == read_batches_.end()) continue;
    for (auto& r : it->second.reads) confirmed_reads_.emplace(rs.index, std::move(r));
    read_batches_.erase(it);
  }
  node_->advance(rd);
}

void RaftHost::apply_entry(const raft::Entry& e) {
  if (e.index <= applied_) return;
  applied_ = e.index;
  applied_term_ = e.term;
  if (e.type == raft::EntryType::kConfChange) {
    apply_conf_change(e);
    reply_.clear();
  } else if (Status st = state_machine_.apply(e.data, reply_); !st) {
    stop_at_unappliable(e.index, st.message());
  }
  // Proposals at or below this index are decided now.
  while (!pending_writes_.empty() && pending_writes_.begin()->first <= e.index) {
    auto node = pending_writes_.extract(pending_writes_.begin());
    PendingWrite& w = node.mapped();
    if (node.key() == e.index && w.term == e.term) {
      w.done(reply_);
    } else {
      // Another entry took our index: ours was cut from the log and can never be applied
      // (log matching: an index holds one entry per term, and we never re-propose).
      w.done(
          "-CLUSTERDOWN leader changed before the command was committed; it was not applied\r\n");
    }
  }
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
  applied_conf_ = conf;
  if (cc->type == raft::ConfChangeType::kRemoveNode) {
    addresses_.erase(cc->node);
    if (cc->node != config_.id) transport_->remove_peer(cc->node);
  } else if (!cc->context.empty()) {
    addresses_[cc->node] = cc->context;
    add_peer(cc->node, cc->context);
  }
  log::info("membership change at {}: node {} {}", e.index, cc->node,
            cc->type == raft::ConfChangeType::kRemoveNode ? "removed" : "added");
}

bool RaftHost::receive_snapshot_chunk(const raft::SnapshotChunk& chunk) {
  if (chunk.offset == 0 || !incoming_snapshot_ || incoming_snapshot_->meta() != chunk.meta) {
    incoming_snapshot_ = dir_.snapshots().receive(chunk.meta, chunk.total_size);
    received_snapshot_path_.clear();
  }
  if (storage::Status st = incoming_snapshot_->write(chunk.offset, chunk.data); !st) {
    log::warn("snapshot chunk at offset {} refused: {}", chunk.offset, st.message());
    incoming_snapshot_.reset();
    return false;
  }
  if (!chunk.done) return true;
  // The last chunk: the whole file is checked (header, body CRC, that it is the snapshot the
  // leader announced) before the core is told it arrived; a bad one is asked for again.
  auto path = incoming_snapshot_->finish();
  incoming_snapshot_.reset();
  if (!path) {
    log::warn("snapshot {} from the leader failed verification, asking again: {}", chunk.meta.index,
              path.message());
    return false;
  }
  received_snapshot_path_ = *path;
  return true;
}

bool RaftHost::install_snapshot(const raft::SnapshotMeta& meta) {
  if (received_snapshot_path_.empty()) {
    log::error("asked to install snapshot {} but no verified file was received", meta.index);
    return false;
  }
  const auto started = std::chrono::steady_clock::now();
  // Our own snapshot in progress is older than this one: adopting it would be refused anyway.
  if (snapshotter_->running()) snapshotter_->cancel();
  std::string path = std::move(received_snapshot_path_);
  received_snapshot_path_.clear();
  // The file first, then the log (DataDir::install_snapshot's order): a crash in between leaves
  // a snapshot ahead of the log, which DataDir::open repairs.
  auto file = dir_.snapshots().adopt_finished(path);
  if (!file) {
    log::warn("received snapshot {} not adopted: {}", meta.index, file.message());
    return false;
  }
  dir_.log().install_snapshot(meta);
  dir_.log().set_snapshot_file(*file);
  // The log now starts after the snapshot, so the state machine must hold exactly its state:
  // replace it in place (no second copy of the keyspace in memory).
  Keyspace& ks = state_machine_.keyspace();
  ks.clear();
  if (auto err = load_snapshot(**file, ks)) {
    // The file passed its checksums, so it is what the leader wrote; a body we cannot decode
    // means a raftd that writes another format. Serving anything now would be wrong.
    log::error("snapshot {} passed verification but cannot be loaded: {}; stopping",
               (*file)->path(), *err);
    std::abort();
  }
  applied_ = meta.index;
  applied_term_ = meta.term;
  adopt_members(meta.conf, (*file)->header().context);
  replay_until_ = 0;
  // Writes proposed here (as leader, earlier) and decided inside the snapshot: their replies
  // are gone with the log that held them.
  while (!pending_writes_.empty() && pending_writes_.begin()->first <= meta.index) {
    pending_writes_.extract(pending_writes_.begin())
        .mapped()
        .done("-TIMEOUT the command's outcome is unknown (the log was replaced by a snapshot)\r\n");
  }
  ++snapshots_installed_;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  log::info("installed snapshot {} term {} from the leader ({} keys, {} bytes) in {} ms",
            meta.index, meta.term, ks.size(), (*file)->file_size(), ms);
  return true;
}

std::optional<std::string> RaftHost::load_snapshot_at_start() {
  auto file = dir_.snapshots().current();
  if (!file) return std::nullopt;
  const auto started = std::chrono::steady_clock::now();
  Keyspace& ks = state_machine_.keyspace();
  if (auto err = load_snapshot(*file, ks)) {
    return fmt::format("snapshot {} cannot be loaded: {}", file->path(), *err);
  }
  adopt_members(file->meta().conf, file->header().context);
  // The log may start at an older snapshot; its entries up to this one are skipped on replay.
  applied_ = file->meta().index;
  applied_term_ = file->meta().term;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  log::info("loaded snapshot {} term {} ({} keys, {} bytes) in {} ms; replaying the log after it",
            file->meta().index, file->meta().term, ks.size(), file->file_size(), ms);
  return std::nullopt;
}

std::string RaftHost::encode_members() const {
  std::string out;
  for (raft::NodeId id : applied_conf_.voters) {
    auto it = addresses_.find(id);
    if (it == addresses_.end()) continue;
    if (!out.empty()) out += ',';
    out += fmt::format("{}/{}", id, it->second);
  }
  for (raft::NodeId id : applied_conf_.learners) {
    auto it = addresses_.find(id);
    if (it == addresses_.end()) continue;
    if (!out.empty()) out += ',';
    out += fmt::format("{}/{}", id, it->second);
  }
  return out;
}

void RaftHost::adopt_members(const raft::ConfState& conf, const std::string& context) {
  applied_conf_ = conf;
  std::map<raft::NodeId, std::string> found;
  std::size_t pos = 0;
  while (pos < context.size()) {
    std::size_t end = context.find(',', pos);
    if (end == std::string::npos) end = context.size();
    const std::string item = context.substr(pos, end - pos);
    pos = end + 1;
    const auto slash = item.find('/');
    if (slash == std::string::npos) continue;
    const raft::NodeId id = std::strtoull(item.c_str(), nullptr, 10);
    if (id != raft::kNoNode) found[id] = item.substr(slash + 1);
  }
  auto member = [&](raft::NodeId id) {
    return std::binary_search(conf.voters.begin(), conf.voters.end(), id) ||
           std::binary_search(conf.learners.begin(), conf.learners.end(), id);
  };
  for (const auto& [id, addr] : found) {
    if (!member(id)) continue;
    auto it = addresses_.find(id);
    if (it != addresses_.end() && it->second == addr) continue;
    addresses_[id] = addr;
    if (transport_ && id != config_.id) add_peer(id, addr);
  }
  for (auto it = addresses_.begin(); it != addresses_.end();) {
    if (member(it->first) || it->first == config_.id) {
      ++it;
      continue;
    }
    if (transport_) transport_->remove_peer(it->first);
    it = addresses_.erase(it);
  }
}

void RaftHost::reconfigure(const Config& config) {
  config_.forward_writes = config.forward_writes;
  config_.linearizable_reads = config.linearizable_reads;
  config_.request_timeout_ms = config.request_timeout_ms;
  config_.snapshot_interval = config.snapshot_interval;
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
  if (applied_ <= newest_snapshot_index() && !snapshotter_->running()) {
    done("+OK\r\n");  // the current snapshot already holds everything applied
    return;
  }
  checkpoint_next_.push_back(std::move(done));
  maybe_snapshot();
}

void RaftHost::maybe_snapshot() {
  if (snapshotter_->running()) {
    if (auto outcome = snapshotter_->poll()) finish_snapshot(*outcome);
    if (snapshotter_->running()) return;
  }
  const raft::Index snap = newest_snapshot_index();
  const bool due =
      (config_.snapshot_interval > 0 && applied_ >= snap + config_.snapshot_interval) ||
      streamed_damaged_;
  if (!due && checkpoint_next_.empty()) return;
  if (applied_ < replay_until_ || applied_ <= snap) return;  // nothing new, or still replaying
  if (auto err = start_snapshot()) {
    log::debug("snapshot at {} not started: {}", applied_, *err);
    return;  // tried again at the next tick
  }
  checkpoint_waiting_ = std::move(checkpoint_next_);
  checkpoint_next_.clear();
}

raft::Index RaftHost::newest_snapshot_index() const {
  auto file = dir_.snapshots().current();
  return std::max(file ? file->meta().index : 0, dir_.log().snapshot_meta().index);
}

std::optional<std::string> RaftHost::start_snapshot() {
  // The log is compacted to the snapshot when it is adopted, which needs our entry at that
  // index durable (we apply committed entries before our own copy is synced).
  raft::Term t = 0;
  if (dir_.log().term(applied_, t) != raft::StorageError::kOk || t != applied_term_) {
    return "the applied entry is not durable in the local log yet";
  }
  storage::SnapshotHeader header;
  header.meta.index = applied_;
  header.meta.term = applied_term_;
  header.meta.conf = applied_conf_;
  header.context = encode_members();
  if (auto err = snapshotter_->start(header, state_machine_.keyspace())) return err;
  log::info("snapshot at index {} started ({} keys)", applied_, state_machine_.keyspace().size());
  return std::nullopt;
}

void RaftHost::finish_snapshot(const Snapshotter::Outcome& o) {
  auto ms = [](std::chrono::microseconds us) { return static_cast<double>(us.count()) / 1000.0; };
  std::vector<Completion> waiting = std::move(checkpoint_waiting_);
  checkpoint_waiting_.clear();
  if (o.ok()) {
    ++snapshots_taken_;
    last_snapshot_info_ =
        fmt::format("index={},bytes={},fork_ms={:.1f},write_ms={:.1f}", o.meta.index, o.body_bytes,
                    ms(o.fork_time), ms(o.child_time));
    log::info(
        "snapshot at index {} term {} done: {} bytes, fork {:.1f} ms, child {:.1f} ms{}; log "
        "compacted",
        o.meta.index, o.meta.term, o.body_bytes, ms(o.fork_time), ms(o.child_time),
        o.raised ? " (raised from idle to normal priority: the CPU was busy all along)" : "");
    snapshot_to_report_ = o.meta;
    report_snapshot_taken();
    for (auto& done : waiting) done("+OK\r\n");
    if (streamed_damaged_) compact_past_damaged_file();
  } else {
    log::error("snapshot at index {} failed: {}", o.meta.index, o.error);
    const std::string reply = error_reply(fmt::format("ERR snapshot failed: {}", o.error));
    for (auto& done : waiting) done(reply);
  }
}

void RaftHost::note_snapshot_sent(const raft::Message& m) {
  if (m.snapshot_offset != 0) return;
  if (m.snapshot.index != streamed_index_) {
    streamed_index_ = m.snapshot.index;
    streamed_restarts_ = 0;
  }
  // A transfer starts over when the follower rejected the whole file (or lost its copy). A few
  // restarts are normal (a follower restarting mid-transfer); many mean the file itself may be
  // bad, and resending it forever would never help the follower.
  if (++streamed_restarts_ < 4 || streamed_verified_ == m.snapshot.index || streamed_damaged_) {
    return;
  }
  auto file = dir_.snapshots().open_verified(m.snapshot);
  if (file) {
    streamed_verified_ = m.snapshot.index;
    return;
  }
  log::error("the snapshot streamed to followers is damaged: {}; taking a new one", file.message());
  streamed_damaged_ = true;
  compact_past_damaged_file();
}

void RaftHost::compact_past_damaged_file() {
  auto now_streamed = dir_.compact_to_current();
  if (now_streamed) {
    log::warn("log compacted to snapshot {}, which followers get from now on",
              (*now_streamed)->path());
    streamed_damaged_ = false;
    streamed_restarts_ = 0;
    snapshot_to_report_ = (*now_streamed)->meta();
    report_snapshot_taken();
    return;
  }
  // No newer good snapshot yet: take one; finish_snapshot() comes back here.
  if (!snapshotter_->running()) {
    if (auto err = start_snapshot()) log::warn("cannot start a snapshot: {}", *err);
  }
}

void RaftHost::report_snapshot_taken() {
  if (!snapshot_to_report_ || node_->status().applied < snapshot_to_report_->index) return;
  node_->snapshot_taken(*snapshot_to_report_);
  snapshot_to_report_.reset();
}

void RaftHost::run_confirmed_reads() {
  while (!confirmed_reads_.empty() && confirmed_reads_.begin()->first <= applied_) {
    auto node = confirmed_reads_.extract(confirmed_reads_.begin());
    reply_.clear();
    node.mapped().run(reply_);
    node.mapped().done(reply_);
  }
}

void RaftHost::fail_outstanding(std::string_view unknown, std::string_view not_done) {
  for (auto& [index, w] : take(pending_writes_)) w.done(unknown);
  for (auto& [id, f] : take(forwards_)) f.done(unknown);
  fail_all_reads(not_done);
  for (auto& r : take(unsent_reads_)) r.done(not_done);
  for (auto& r : take(reads_awaiting_leader_)) r.done(not_done);
  for (auto& [index, r] : take(confirmed_reads_)) r.done(not_done);
  for (auto& done : take(checkpoint_waiting_)) done(not_done);
  for (auto& done : take(checkpoint_next_)) done(not_done);
}

void RaftHost::resend_unconfirmed_reads() {
  if (read_batches_.empty()) return;
  // The old leader (or we, as one) will never confirm these: the core dropped its rounds when
  // the term changed, and a follower's ReadIndex request went to a node that no longer leads.
  // A fresh read index from the new leader is at least as new as any write acknowledged before
  // the reads arrived, so asking again keeps them linearizable (thesis 6.4). Until a leader is
  // known they wait (each until its own deadline): a client whose read was already under way
  // gets its answer after the election rather than an error at its start.
  for (auto& [ctx, batch] : take(read_batches_)) {
    for (auto& r : batch.reads) reads_awaiting_leader_.push_back(std::move(r));
  }
  schedule_ready();
}

void RaftHost::fail_all_reads(std::string_view reply) {
  for (auto& [ctx, batch] : take(read_batches_)) {
    for (auto& r : batch.reads) r.done(reply);
  }
}

void RaftHost::expire_requests(std::int64_t now) {
  // Each map is keyed by a number handed out in arrival order and each deadline is arrival time
  // plus the same timeout, so deadlines only grow along a map: stop at the first one not due.
  // (A scan of every request per tick took the loop's whole time with a million writes in
  // flight, and replication stalled behind it.)
  static constexpr std::string_view kWriteTimeout =
      "-TIMEOUT the command was proposed but its outcome is unknown (no commit in time)\r\n";
  // Each request leaves its map before its completion runs (see take()).
  while (!pending_writes_.empty() && pending_writes_.begin()->second.deadline_ms <= now) {
    pending_writes_.extract(pending_writes_.begin()).mapped().done(kWriteTimeout);
  }
  while (!read_batches_.empty() && read_batches_.begin()->second.deadline_ms <= now) {
    auto batch = read_batches_.extract(read_batches_.begin());
    for (auto& r : batch.mapped().reads) {
      r.done("-TIMEOUT the read could not be confirmed in time\r\n");
    }
  }
  // In arrival order too (see resend_unconfirmed_reads).
  std::size_t due = 0;
  while (due < reads_awaiting_leader_.size() && reads_awaiting_leader_[due].deadline_ms <= now) {
    ++due;
  }
  if (due > 0) {
    std::vector<PendingRead> expired(
        std::make_move_iterator(reads_awaiting_leader_.begin()),
        std::make_move_iterator(reads_awaiting_leader_.begin() + static_cast<std::ptrdiff_t>(due)));
    reads_awaiting_leader_.erase(reads_awaiting_leader_.begin(),
                                 reads_awaiting_leader_.begin() + static_cast<std::ptrdiff_t>(due));
    for (auto& r : expired) r.done("-TIMEOUT no leader to confirm the read in time\r\n");
  }
  while (!forwards_.empty() && forwards_.begin()->second.deadline_ms <= now) {
    forwards_.extract(forwards_.begin())
        .mapped()
        .done("-TIMEOUT no reply from the leader; the command's outcome is unknown\r\n");
  }
}

void RaftHost::update_log_context() {
  log::Logger::instance().set_context(
      fmt::format("n{} t{} {}", config_.id, node_->term(), role_name(node_->role())));
}

std::string RaftHost::leader_client_addr() const {
  auto it = addresses_.find(node_->leader());
  return it == addresses_.end() ? std::string() : it->second;
}

void RaftHost::propose(std::string entry, Completion done) {
  propose_entry(std::move(entry), std::move(done));
}

void RaftHost::propose_entry(std::string entry, Completion done) {
  if (!node_) {
    done(not_formed_error());
    return;
  }
  if (stopping_) {
    done("-CLUSTERDOWN node is shutting down\r\n");
    return;
  }
  raft::Index index = 0;
  switch (node_->propose(std::move(entry), &index)) {
    case raft::ProposeError::kOk:
      pending_writes_[index] =
          PendingWrite{node_->term(), std::move(done), now_ms() + config_.request_timeout_ms};
      schedule_ready();
      return;
    case raft::ProposeError::kNotLeader:
      done(node_->leader() == raft::kNoNode ? kNoLeader
                                            : "-CLUSTERDOWN not the leader any more\r\n");
      return;
    case raft::ProposeError::kTransferring:
      done("-CLUSTERDOWN leadership transfer in progress, retry\r\n");
      return;
    case raft::ProposeError::kConfChangePending:
    case raft::ProposeError::kDropped:
      break;
  }
  done("-CLUSTERDOWN proposal dropped, retry\r\n");
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
  const raft::NodeId leader = node_->leader();
  if (leader == raft::kNoNode) {
    done(kNoLeader);
    return;
  }
  if (!config_.forward_writes) {
    done(fmt::format("-MOVED 0 {}\r\n", leader_client_addr()));
    return;
  }
  // Forwarded as the client sent it: the leader runs prepare with its own clock, so relative
  // TTLs and the entry's timestamp come from one clock.
  if (!transport_->connected(leader)) {
    done("-CLUSTERDOWN no connection to the leader\r\n");
    return;
  }
  std::vector<std::string> owned(args.begin(), args.end());
  const std::uint64_t id = next_forward_id_++;
  if (!transport_->send_forward(leader, id, owned)) {
    done("-CLUSTERDOWN cannot reach the leader\r\n");
    return;
  }
  forwards_[id] = PendingForward{leader, std::move(done), now_ms() + config_.request_timeout_ms};
}

void RaftHost::on_message(const raft::Message& m) {
  if (!node_) return;
  if (m.type == raft::MessageType::kAppend) {
    // Entries are checked before the core sees them: one this node could not apply is refused
    // before it is durable or acknowledged, never found at apply time (where the only choice
    // left is to stop).
    for (const raft::Entry& e : m.entries) {
      std::optional<std::string> problem;
      if (e.type == raft::EntryType::kConfChange) {
        if (!raft::decode_conf_change(e.data))
          problem = "a configuration change that does not decode";
      } else {
        if (Status st = state_machine_.check(e.data); !st) problem = st.message();
      }
      if (!problem) continue;
      ++refused_appends_;
      // Said loudly once, then at every power of two: the leader resends the same entries.
      const bool loud = (refused_appends_ & (refused_appends_ - 1)) == 0;
      log::log(loud ? log::Level::kError : log::Level::kDebug,
               "refusing entries from node {} (term {}): entry {} cannot be applied here: {} "
               "(refusal #{}; this node stays behind until it runs what the leader runs)",
               m.from, m.term, e.index, *problem, refused_appends_);
      return;
    }
  }
  node_->step(m);
  schedule_ready();
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
    reply(error_reply(admitted.message()));
    return;
  }
  const CommandSpec* spec = *admitted;
  if (!(spec->flags & kCmdWrite)) {
    reply(error_reply(fmt::format("ERR command '{}' cannot be forwarded", spec->name)));
    return;
  }
  if (!is_leader()) {
    reply(node_ ? "-CLUSTERDOWN not the leader any more\r\n" : not_formed_error());
    return;
  }
  std::string entry;
  std::string error;
  resp::Writer out(error);
  if (!prepare_write(*spec, Args(views), now_ms(), entry, out)) {
    reply(error);
    return;
  }
  propose_entry(std::move(entry), reply);
}

void RaftHost::on_forward_reply(std::uint64_t request_id, std::string reply) {
  auto it = forwards_.find(request_id);
  if (it == forwards_.end()) return;  // already timed out
  auto done = std::move(it->second.done);
  forwards_.erase(it);
  done(reply);
}

void RaftHost::on_peer_state(raft::NodeId node, bool connected) {
  if (connected || !node_) return;
  node_->report_unreachable(node);
  // Commands in flight to a leader we lost: they may or may not have been proposed.
  std::vector<PendingForward> lost;
  for (auto it = forwards_.begin(); it != forwards_.end();) {
    if (it->second.to == node) {
      lost.push_back(std::move(it->second));
      it = forwards_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& f : lost) {
    f.done("-TIMEOUT connection to the leader lost; the command's outcome is unknown\r\n");
  }
  schedule_ready();
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
    done("-CLUSTERDOWN node is shutting down\r\n");
    return;
  }
  unsent_reads_.push_back(
      PendingRead{std::move(run), std::move(done), now_ms() + config_.request_timeout_ms});
  schedule_ready();
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
  shutdown_deadline_ms_ = now_ms() + 2LL * config_.election_ticks * config_.tick_ms;
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

void RaftHost::info(std::string& out) const {
  if (!node_) {
    fmt::format_to(std::back_inserter(out),
                   "# Raft\r\n"
                   "raft_node_id:{}\r\n"
                   "raft_cluster_id:{:016x}\r\n"
                   "raft_role:none\r\n"
                   "raft_state:{}\r\n",
                   config_.id, membership_->cluster_id(), membership_->not_formed_reason());
    return;
  }
  const raft::Status st = node_->status();
  const char* role = role_name(st.role);
  if (std::binary_search(st.conf.learners.begin(), st.conf.learners.end(), config_.id)) {
    role = "learner";
  }
  fmt::format_to(std::back_inserter(out),
                 "# Raft\r\n"
                 "raft_node_id:{}\r\n"
                 "raft_cluster_id:{:016x}\r\n"
                 "raft_role:{}\r\n"
                 "raft_current_term:{}\r\n"
                 "raft_leader_id:{}\r\n"
                 "raft_leader_addr:{}\r\n"
                 "raft_commit_index:{}\r\n"
                 "raft_last_applied_index:{}\r\n"
                 "raft_last_log_index:{}\r\n"
                 "raft_snapshot_index:{}\r\n"
                 "raft_log_first_index:{}\r\n"
                 "raft_num_nodes:{}\r\n"
                 "raft_num_voting_nodes:{}\r\n"
                 "raft_pending_writes:{}\r\n"
                 "raft_pending_reads:{}\r\n"
                 "raft_read_index_requests:{}\r\n"
                 "raft_local_reads:{}\r\n"
                 "raft_snapshot_interval:{}\r\n"
                 "raft_snapshot_in_progress:{}\r\n"
                 "raft_snapshots_taken:{}\r\n"
                 "raft_snapshots_installed:{}\r\n"
                 "raft_last_snapshot:{}\r\n"
                 "raft_log_writes:{}\r\n",
                 config_.id, membership_->cluster_id(), role, st.hard_state.term, st.leader,
                 leader_client_addr(), st.hard_state.commit, applied_, st.last_index,
                 newest_snapshot_index(), dir_.log().first_index(),
                 st.conf.voters.size() + st.conf.learners.size(), st.conf.voters.size(),
                 pending_writes_.size(),
                 read_batches_.size() + confirmed_reads_.size() + unsent_reads_.size() +
                     reads_awaiting_leader_.size(),
                 read_index_requests_, local_reads_linearizable_ ? "yes" : "no",
                 config_.snapshot_interval, snapshotter_->running() ? 1 : 0, snapshots_taken_,
                 snapshots_installed_, last_snapshot_info_, disk_->writes());
  std::vector<raft::NodeId> members = st.conf.voters;
  members.insert(members.end(), st.conf.learners.begin(), st.conf.learners.end());
  std::sort(members.begin(), members.end());
  int n = 0;
  for (raft::NodeId id : members) {
    const bool voting = std::binary_search(st.conf.voters.begin(), st.conf.voters.end(), id);
    raft::Index match = 0;
    for (const auto& p : st.progress) {
      if (p.id == id) match = p.match;
    }
    auto addr = addresses_.find(id);
    std::string member_role = id == st.leader ? "leader" : (voting ? "follower" : "learner");
    if (id == config_.id) member_role = role;
    const char* conn = id == config_.id            ? "self"
                       : transport_->connected(id) ? "connected"
                                                   : "disconnected";
    fmt::format_to(std::back_inserter(out),
                   "raft_node{}:id={},addr={},role={},voting={},match_index={},connection={}", n++,
                   id, addr == addresses_.end() ? "" : addr->second, member_role,
                   voting ? "yes" : "no", id == config_.id ? st.last_index : match, conn);
    // Beyond RedisRaft's fields: peer traffic, to see batching and loss at a glance.
    if (auto ps = id == config_.id ? std::nullopt : transport_->peer_stats(id)) {
      fmt::format_to(std::back_inserter(out),
                     ",frames_sent={},frames_received={},frames_dropped={}", ps->frames_sent,
                     ps->frames_received, ps->frames_dropped);
    }
    out += "\r\n";
  }
}

}  // namespace raftd
