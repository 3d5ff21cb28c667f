#include "tests/raft/cluster.h"

#include <catch2/catch.hpp>

namespace rafttest {

std::uint64_t Rng::next() {
  s_ += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = s_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Solo::Solo(NodeId id, std::vector<NodeId> voters,
           const std::function<void(raft::MemoryStorage&)>& setup,
           const std::function<void(raft::Config&)>& tweak)
    : storage(raft::ConfState{std::move(voters), {}}) {
  if (setup) setup(storage);
  raft::Config c;
  c.id = id;
  c.election_ticks = 10;
  c.heartbeat_ticks = 1;
  c.rand = [this](std::uint64_t n) { return rng(n); };
  c.log = [this](raft::LogLevel, const std::string& line) { logs.push_back(line); };
  if (tweak) tweak(c);
  node = std::make_unique<raft::Node>(c, storage);
}

raft::Ready Solo::next() {
  raft::Ready rd = node->ready();
  if (rd.snapshot) storage.apply_snapshot(*rd.snapshot, "");
  if (!rd.entries.empty()) storage.append(rd.entries);
  if (rd.hard_state) storage.set_hard_state(*rd.hard_state);
  node->advance(rd);
  return rd;
}

std::vector<Message> Solo::next_msgs() {
  raft::Ready rd = next();
  std::vector<Message> out = rd.messages;
  out.insert(out.end(), rd.messages_after_persist.begin(), rd.messages_after_persist.end());
  return out;
}

void Solo::step(Message m) {
  node->step(m);
}

Message msg(MessageType type, NodeId from, NodeId to, Term term) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

std::vector<Entry> entries_with_terms(Index first, const std::vector<Term>& terms) {
  std::vector<Entry> out;
  for (std::size_t k = 0; k < terms.size(); ++k) {
    out.push_back(
        Entry{terms[k], first + k, raft::EntryType::kNormal, "e" + std::to_string(first + k)});
  }
  return out;
}

Cluster::Cluster(std::vector<NodeId> voters, std::vector<NodeId> learners,
                 std::function<void(raft::Config&)> tweak, std::uint64_t seed)
    : tweak_(std::move(tweak)), rng_(seed) {
  raft::ConfState conf{voters, learners};
  std::sort(conf.voters.begin(), conf.voters.end());
  std::sort(conf.learners.begin(), conf.learners.end());
  std::vector<NodeId> all = voters;
  all.insert(all.end(), learners.begin(), learners.end());
  for (NodeId id : all) {
    auto p = std::make_unique<Peer>();
    p->id = id;
    p->storage = std::make_unique<raft::MemoryStorage>(conf);
    make_node(*p);
    peers_.emplace(id, std::move(p));
  }
}

Cluster Cluster::of(int n, std::function<void(raft::Config&)> tweak) {
  std::vector<NodeId> v;
  for (int i = 1; i <= n; ++i) v.push_back(static_cast<NodeId>(i));
  return Cluster(v, {}, std::move(tweak));
}

std::vector<NodeId> Cluster::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, p] : peers_) out.push_back(id);
  return out;
}

void Cluster::make_node(Peer& p) {
  raft::Config c;
  c.id = p.id;
  c.election_ticks = 10;
  c.heartbeat_ticks = 1;
  c.rand = [this](std::uint64_t n) { return rng_(n); };
  if (tweak_) tweak_(c);
  p.config = c;
  p.node = std::make_unique<raft::Node>(c, *p.storage);
  p.last_commit = p.storage->initial_state().hard_state.commit;
}

void Cluster::add_empty_node(NodeId id) {
  auto p = std::make_unique<Peer>();
  p->id = id;
  p->storage = std::make_unique<raft::MemoryStorage>(raft::ConfState{});
  make_node(*p);
  peers_.emplace(id, std::move(p));
}

void Cluster::crash(NodeId id) {
  peer(id).down = true;
}

void Cluster::restart(NodeId id) {
  Peer& p = peer(id);
  p.down = false;
  p.incoming.clear();
  // An in-memory state machine restarts from the snapshot and replays the log.
  const raft::SnapshotMeta meta = p.storage->snapshot_meta();
  load_snapshot_body(p, p.storage->snapshot_data(), meta.index);
  make_node(p);
}

std::string Cluster::snapshot_body(const Peer& p) const {
  std::string body;
  for (const std::string& s : p.sm) {
    body += s;
    body += '\n';
  }
  return body;
}

void Cluster::load_snapshot_body(Peer& p, const std::string& body, Index index) {
  p.sm.clear();
  std::size_t pos = 0;
  while (pos < body.size()) {
    const std::size_t nl = body.find('\n', pos);
    p.sm.push_back(body.substr(pos, nl - pos));
    pos = nl + 1;
  }
  p.applied = index;
}

void Cluster::enqueue(const Message& m) {
  if (observe) observe(m);
  if (cuts_.count({m.from, m.to}) != 0) return;
  if (drop && drop(m)) return;
  queue_.push_back(m);
}

void Cluster::handle_ready(Peer& p, raft::Ready& rd) {
  raft::MemoryStorage& st = *p.storage;
  // 1. Persist the snapshot chunk, entries and hard state.
  if (rd.snapshot_chunk) {
    const raft::SnapshotChunk& c = *rd.snapshot_chunk;
    p.chunks_seen.push_back(c);
    if (c.offset == 0) p.incoming.clear();
    REQUIRE(p.incoming.size() == c.offset);
    p.incoming += c.data;
    if (c.done && p.corrupt_next_snapshot) {
      // The host verifies the complete file as part of persisting the last chunk.
      p.corrupt_next_snapshot = false;
      p.incoming.clear();
      p.node->snapshot_rejected();
    }
  }
  if (!rd.entries.empty()) st.append(rd.entries);
  if (rd.hard_state) st.set_hard_state(*rd.hard_state);
  // 2. Messages that may leave at once.
  for (const Message& m : rd.messages) enqueue(m);
  // 3. Messages that must wait for the persist: check they only claim durable state.
  for (const Message& m : rd.messages_after_persist) {
    INFO("after-persist " << raft::to_string(m.type) << " from " << m.from << " term " << m.term);
    // A granted pre-vote answers in the candidate's future term; everything else carries ours.
    if (m.type != MessageType::kPreVoteResp) REQUIRE(m.term <= st.initial_state().hard_state.term);
    if (m.type == MessageType::kVoteResp && !m.reject) {
      REQUIRE(st.initial_state().hard_state.vote == m.to);
    }
    if (m.type == MessageType::kAppendResp && !m.reject) REQUIRE(st.last_index() >= m.index);
    enqueue(m);
  }
  // 4. Install a received snapshot, then apply committed entries in order.
  if (rd.snapshot) {
    st.apply_snapshot(*rd.snapshot, p.incoming);
    load_snapshot_body(p, p.incoming, rd.snapshot->index);
    p.installed.push_back(*rd.snapshot);
  }
  for (const Entry& e : rd.committed) {
    REQUIRE(e.index == p.applied + 1);
    p.applied = e.index;
    if (e.type == raft::EntryType::kNormal) {
      if (!e.data.empty()) p.sm.push_back(e.data);
    } else {
      auto cc = raft::decode_conf_change(e.data);
      REQUIRE(cc.has_value());
      // Record the applied membership (what a snapshot at this index must carry).
      st.set_conf_state(raft::decode_conf_state(e.data).value_or(
          raft::apply_conf_change(st.initial_state().conf, *cc)));
    }
    auto [it, fresh] = applied_log_.emplace(e.index, std::make_pair(e.term, e.data));
    INFO("node " << p.id << " applies index " << e.index);
    REQUIRE(it->second == std::make_pair(e.term, e.data));  // state machine safety
    (void)fresh;
  }
  for (const raft::ReadState& rs : rd.read_states) p.reads.push_back(rs);
  // 5. Done.
  p.node->advance(rd);
  check_invariants(p);
}

void Cluster::check_invariants(Peer& p) {
  const raft::Node& n = *p.node;
  if (n.role() == raft::Role::kLeader) {
    auto [it, fresh] = leaders_.emplace(n.term(), p.id);
    INFO("term " << n.term());
    REQUIRE(it->second == p.id);  // election safety
    (void)fresh;
  }
  const Index commit = n.status().hard_state.commit;
  REQUIRE(commit >= p.last_commit);  // commit never decreases
  p.last_commit = commit;
}

int Cluster::process(NodeId id) {
  Peer& p = peer(id);
  if (p.down) return 0;
  int n = 0;
  while (p.node->has_ready()) {
    raft::Ready rd = p.node->ready();
    handle_ready(p, rd);
    ++n;
    REQUIRE(n < 10000);
  }
  return n;
}

bool Cluster::deliver_one() {
  for (auto& [id, p] : peers_) process(id);
  if (queue_.empty()) return false;
  std::size_t k = reorder ? static_cast<std::size_t>(rng_(queue_.size())) : 0;
  Message m = queue_[k];
  queue_.erase(queue_.begin() + static_cast<long>(k));
  auto it = peers_.find(m.to);
  if (it == peers_.end() || it->second->down) return true;
  it->second->node->step(m);
  process(m.to);
  return true;
}

void Cluster::stabilize(int max_steps) {
  for (int i = 0; i < max_steps; ++i) {
    if (!deliver_one()) return;
  }
  FAIL("network did not quiesce");
}

void Cluster::tick(NodeId id, int n) {
  for (int i = 0; i < n; ++i) {
    if (!peer(id).down) node(id).tick();
    process(id);
  }
}

void Cluster::tick_all(int n) {
  for (int i = 0; i < n; ++i) {
    for (auto& [id, p] : peers_) {
      if (!p->down) p->node->tick();
    }
    stabilize();
  }
}

bool Cluster::tick_until(const std::function<bool()>& pred, int max_ticks) {
  for (int i = 0; i < max_ticks; ++i) {
    if (pred()) return true;
    tick_all();
  }
  return pred();
}

NodeId Cluster::elect(NodeId id) {
  node(id).campaign();
  stabilize();
  return leader();
}

NodeId Cluster::leader() const {
  NodeId best = 0;
  Term best_term = 0;
  for (const auto& [id, p] : peers_) {
    if (p->down) continue;
    if (p->node->role() == raft::Role::kLeader && p->node->term() >= best_term) {
      best = id;
      best_term = p->node->term();
    }
  }
  return best;
}

Index Cluster::propose(NodeId id, const std::string& data) {
  Index idx = 0;
  if (node(id).propose(data, &idx) != raft::ProposeError::kOk) return 0;
  stabilize();
  return idx;
}

void Cluster::take_snapshot(NodeId id, Index index) {
  Peer& p = peer(id);
  if (index == 0) index = p.applied;
  REQUIRE(index == p.applied);  // the state machine is only available at `applied`
  raft::SnapshotMeta meta;
  meta.index = index;
  REQUIRE(p.storage->term(index, meta.term) == raft::StorageError::kOk);
  meta.conf = p.storage->initial_state().conf;
  p.storage->compact(meta, snapshot_body(p));
  p.node->snapshot_taken(meta);
}

void Cluster::isolate(NodeId id) {
  for (const auto& [other, p] : peers_) {
    if (other == id) continue;
    cuts_.insert({id, other});
    cuts_.insert({other, id});
  }
}

void Cluster::cut(NodeId a, NodeId b) {
  cuts_.insert({a, b});
  cuts_.insert({b, a});
}

void Cluster::heal() {
  cuts_.clear();
}

}  // namespace rafttest
