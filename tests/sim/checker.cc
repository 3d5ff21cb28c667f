#include "tests/sim/checker.h"

#include <fmt/format.h>

#include <algorithm>

#include "tests/sim/entry_hash.h"

namespace raftsim {

using raft::Entry;
using raft::Index;
using raft::NodeId;
using raft::Term;

std::string describe(const Entry& e) {
  std::string data = e.data.size() > 24 ? e.data.substr(0, 24) + "..." : e.data;
  for (char& c : data) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '.';
  }
  const char* kind = e.type == raft::EntryType::kConfChange ? "conf:" : "";
  return fmt::format("{}@{}[{}{}]", e.index, e.term, kind, e.data.empty() ? "noop" : data);
}

// ---------------------------------------------------------------- DurableLog

DurableLog::DurableLog() : base_hash(kEmptyPrefixHash) {}

const Entry* DurableLog::at(Index i) const {
  if (i <= base_index || i > last()) return nullptr;
  return &entries[i - base_index - 1];
}

bool DurableLog::term_at(Index i, Term& out) const {
  if (i == base_index) {
    out = base_term;
    return true;
  }
  const Entry* e = at(i);
  if (e == nullptr) return false;
  out = e->term;
  return true;
}

bool DurableLog::hash_at(Index i, std::uint64_t& out) const {
  if (i == base_index) {
    out = base_hash;
    return true;
  }
  if (i <= base_index || i > last()) return false;
  out = hashes[i - base_index - 1];
  return true;
}

// ---------------------------------------------------------------- Checker

void Checker::fail(std::string what) {
  violations_.push_back(std::move(what));
}

const DurableLog* Checker::durable_log(NodeId id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second.log;
}

bool Checker::committed_hash(Index i, std::uint64_t& out) const {
  if (i == 0) {
    out = kEmptyPrefixHash;
    return true;
  }
  auto it = committed_.find(i);
  if (it == committed_.end()) return false;
  out = it->second.prefix_hash;
  return true;
}

void Checker::register_entry(NodeId id, const Entry& e, std::uint64_t prefix_hash) {
  auto [it, inserted] = registry_.try_emplace({e.index, e.term}, Registered{e, prefix_hash, id});
  if (inserted) return;
  const Registered& r = it->second;
  if (r.entry != e) {
    fail(
        fmt::format("log matching: node {} holds {} but node {} held {} at the same index and term",
                    id, describe(e), r.writer, describe(r.entry)));
  } else if (r.prefix_hash != prefix_hash) {
    fail(fmt::format(
        "log matching: node {} and node {} both hold {} but their logs differ before it", id,
        r.writer, describe(e)));
  }
}

void Checker::log_append(NodeId id, const std::vector<Entry>& entries) {
  if (entries.empty()) return;
  NodeRecord& n = nodes_[id];
  DurableLog& log = n.log;
  // A committed entry must survive every append (thesis 3.6.2): remember the durable committed
  // range this batch may rewrite, and compare it afterwards.
  std::vector<Entry> committed_before;
  const Index first = entries.front().index;
  for (Index i = std::max(first, log.base_index + 1); i <= std::min(n.commit_recorded, log.last());
       ++i) {
    committed_before.push_back(*log.at(i));
  }

  for (const Entry& e : entries) {
    if (e.index <= log.base_index) continue;  // covered by the snapshot (storage ignores it)
    if (e.index > log.last() + 1) {
      fail(fmt::format("node {}: append of {} leaves a gap after last index {}", id, describe(e),
                       log.last()));
      return;
    }
    const std::size_t pos = e.index - log.base_index - 1;
    log.entries.resize(pos);
    log.hashes.resize(pos);
    const std::uint64_t prev = pos == 0 ? log.base_hash : log.hashes[pos - 1];
    const std::uint64_t h = chain_hash(prev, e);
    log.entries.push_back(e);
    log.hashes.push_back(h);
    register_entry(id, e, h);
  }

  for (const Entry& old : committed_before) {
    const Entry* now = log.at(old.index);
    if (now == nullptr || *now != old) {
      fail(fmt::format(
          "node {}: committed entry {} was {} in its durable log", id, describe(old),
          now == nullptr ? std::string("truncated") : "overwritten by " + describe(*now)));
      break;
    }
  }
  observe_commits(id, n);
}

void Checker::log_compact(NodeId id, Index index, Term term) {
  NodeRecord& n = nodes_[id];
  DurableLog& log = n.log;
  if (index <= log.base_index) return;  // storage ignores an older snapshot
  const Entry* e = log.at(index);
  if (e == nullptr || e->term != term) {
    fail(fmt::format("node {}: snapshot at {}@{} does not match its durable log (last {})", id,
                     index, term, log.last()));
    return;
  }
  std::uint64_t want = 0;
  const std::uint64_t h = log.hashes[index - log.base_index - 1];
  if (!committed_hash(index, want) || want != h) {
    fail(fmt::format("node {}: snapshot at {}@{} is not of the committed log", id, index, term));
  }
  const std::size_t drop = index - log.base_index;
  log.entries.erase(log.entries.begin(), log.entries.begin() + static_cast<long>(drop));
  log.hashes.erase(log.hashes.begin(), log.hashes.begin() + static_cast<long>(drop));
  log.base_index = index;
  log.base_term = term;
  log.base_hash = h;
}

void Checker::log_install_snapshot(NodeId id, Index index, Term term) {
  NodeRecord& n = nodes_[id];
  DurableLog& log = n.log;
  std::uint64_t h = 0;
  if (!committed_hash(index, h)) {
    fail(fmt::format("node {}: installed snapshot {}@{} covers entries never reported committed",
                     id, index, term));
    auto it = registry_.find({index, term});
    h = it == registry_.end() ? 0 : it->second.prefix_hash;
  } else if (committed_.count(index) != 0 && committed_.at(index).term != term) {
    fail(fmt::format("node {}: installed snapshot {}@{} but the committed entry there has term {}",
                     id, index, term, committed_.at(index).term));
  }
  const Entry* e = log.at(index);
  if (e != nullptr && e->term == term) {
    // MemoryStorage keeps the suffix after a matching entry.
    const std::size_t drop = index - log.base_index;
    log.entries.erase(log.entries.begin(), log.entries.begin() + static_cast<long>(drop));
    log.hashes.erase(log.hashes.begin(), log.hashes.begin() + static_cast<long>(drop));
  } else {
    log.entries.clear();
    log.hashes.clear();
  }
  log.base_index = index;
  log.base_term = term;
  log.base_hash = h;
  if (n.hs.commit < index) n.hs.commit = index;  // MemoryStorage raises the durable commit too
  if (n.commit_recorded < index) n.commit_recorded = index;
  observe_commits(id, n);
}

void Checker::hard_state_persisted(NodeId id, const raft::HardState& hs) {
  NodeRecord& n = nodes_[id];
  const raft::HardState prev = n.hs;
  if (hs.term < prev.term) {
    fail(fmt::format("node {}: durable term went back from {} to {}", id, prev.term, hs.term));
  } else if (hs.term == prev.term && prev.vote != raft::kNoNode && hs.vote != prev.vote) {
    // A second vote in one term could elect two leaders (thesis 3.4).
    fail(fmt::format("node {}: vote changed within term {} from {} to {}", id, hs.term, prev.vote,
                     hs.vote));
  }
  if (hs.commit < prev.commit) {
    fail(
        fmt::format("node {}: durable commit went back from {} to {}", id, prev.commit, hs.commit));
  }
  n.hs = hs;
  observe_commits(id, n);
}

void Checker::observe_commits(NodeId id, NodeRecord& n) {
  const Index upto = std::min(n.hs.commit, n.log.last());
  for (Index i = std::max(n.commit_recorded, n.log.base_index) + 1; i <= upto; ++i) {
    const Entry* e = n.log.at(i);
    record_committed(i, e->term, n.log.hashes[i - n.log.base_index - 1], n.hs.term, id, e->data);
  }
  n.commit_recorded = std::max(n.commit_recorded, upto);
}

void Checker::record_committed(Index i, Term term, std::uint64_t prefix_hash, Term observed_term,
                               NodeId reporter, const std::string& data) {
  auto [it, inserted] =
      committed_.try_emplace(i, Committed{term, prefix_hash, observed_term, reporter, data});
  if (inserted) {
    max_committed_ = std::max(max_committed_, i);
    return;
  }
  Committed& c = it->second;
  if (c.term != term || c.prefix_hash != prefix_hash) {
    fail(fmt::format(
        "state machine safety: node {} has index {} committed as term {} '{}' but node {} "
        "reported term {} '{}'{}",
        reporter, i, term, data, c.reporter, c.term, c.data,
        c.term == term && c.data == data ? " (same entry, different prefix)" : ""));
    return;
  }
  c.observed_term = std::min(c.observed_term, observed_term);
}

void Checker::incarnation_started(NodeId id, Index applied, std::uint64_t state_hash) {
  NodeRecord& n = nodes_[id];
  n.applied = applied;
  n.status_commit = 0;
  n.status_applied = 0;
  if (n.hs.commit > n.log.last()) {
    fail(fmt::format("node {}: restarts with durable commit {} beyond its durable log (last {})",
                     id, n.hs.commit, n.log.last()));
  }
  std::uint64_t want = 0;
  if (!committed_hash(applied, want) || want != state_hash) {
    fail(fmt::format("node {}: restarts from a snapshot at {} that is not the committed state", id,
                     applied));
  }
}

void Checker::observe_role(NodeId id, Term term, raft::Role role, bool log_is_durable) {
  if (role != raft::Role::kLeader) return;
  auto [it, inserted] = leaders_.try_emplace(term, id);
  if (!inserted && it->second != id) {
    fail(fmt::format("election safety: nodes {} and {} are both leader in term {}", it->second, id,
                     term));
    return;
  }
  // A host with an asynchronous disk may still be writing entries the leader holds in memory
  // (it can win on the other nodes' votes alone); its log is judged once the writes land.
  if (!log_is_durable) return;
  // Leader completeness (thesis 3.6.3): every entry committed in an earlier term is in our log,
  // which with no write in flight is the durable log. (Entries of its own term may be committed
  // by followers' acks before its own parallel write lands, thesis 10.2.1.)
  // Committed entries form one chain, so the highest such index (compared by prefix hash) stands
  // for all of them.
  auto c = committed_.rbegin();
  while (c != committed_.rend() && c->second.observed_term >= term) ++c;
  if (c == committed_.rend()) return;
  const Index i = c->first;
  const DurableLog& log = nodes_[id].log;
  std::uint64_t h = 0;
  bool ok = false;
  if (i >= log.base_index) {
    ok = log.hash_at(i, h) && h == c->second.prefix_hash;
  } else {
    ok = committed_hash(log.base_index, h) && h == log.base_hash;
  }
  if (!ok) {
    fail(fmt::format(
        "leader completeness: node {} leads term {} but its durable log (snapshot {}, last {}) "
        "lacks committed entry {}@{} (committed by term {})",
        id, term, log.base_index, log.last(), i, c->second.term, c->second.observed_term));
  }
}

void Checker::observe_progress(NodeId id, Index commit, Index applied) {
  NodeRecord& n = nodes_[id];
  if (commit < n.status_commit) {
    fail(fmt::format("node {}: commit index went back from {} to {}", id, n.status_commit, commit));
  }
  if (applied < n.status_applied) {
    fail(fmt::format("node {}: applied index went back from {} to {}", id, n.status_applied,
                     applied));
  }
  n.status_commit = commit;
  n.status_applied = applied;
}

void Checker::applied(NodeId id, Term term, const Entry& e, std::uint64_t state_hash) {
  NodeRecord& n = nodes_[id];
  if (e.index != n.applied + 1) {
    fail(fmt::format("node {}: applied {} after {} (entries must be applied in order, once)", id,
                     describe(e), n.applied));
  }
  if (e.index > n.hs.commit) {
    fail(fmt::format("node {}: applied {} beyond its durable commit {}", id, describe(e),
                     n.hs.commit));
  }
  // The state hash chains every applied entry exactly like a log prefix hash, so this one record
  // compares both the entry and the whole state before it with every other node's.
  record_committed(e.index, e.term, state_hash, term, id, e.data);
  n.applied = e.index;
}

void Checker::snapshot_restored(NodeId id, Index index, std::uint64_t state_hash) {
  NodeRecord& n = nodes_[id];
  if (index < n.applied) {
    fail(fmt::format("node {}: installed a snapshot at {} below its applied index {}", id, index,
                     n.applied));
  }
  std::uint64_t want = 0;
  if (!committed_hash(index, want) || want != state_hash) {
    fail(fmt::format("node {}: installed snapshot at {} is not the committed state", id, index));
  }
  n.applied = index;
}

void Checker::read_issued(const std::string& context) {
  reads_[context] = max_committed_;
}

void Checker::read_confirmed(NodeId id, const raft::ReadState& rs) {
  auto it = reads_.find(rs.context);
  if (it == reads_.end()) {
    fail(fmt::format("node {}: read state for unknown context '{}'", id, rs.context));
    return;
  }
  if (rs.index < it->second) {
    fail(fmt::format(
        "ReadIndex linearizability: node {} confirmed read '{}' at index {} but index {} was "
        "committed before the read was issued",
        id, rs.context, rs.index, it->second));
  }
}

void Checker::check_logs_pairwise() {
  for (auto a = nodes_.begin(); a != nodes_.end(); ++a) {
    for (auto b = std::next(a); b != nodes_.end(); ++b) {
      const DurableLog& la = a->second.log;
      const DurableLog& lb = b->second.log;
      const Index lo = std::max(la.base_index, lb.base_index);
      const Index hi = std::min(la.last(), lb.last());
      // The highest index where both logs hold the same term: everything up to it must match.
      Index match = 0;
      bool found = false;
      for (Index i = hi; i >= lo && i <= hi; --i) {
        Term ta = 0, tb = 0;
        la.term_at(i, ta);
        lb.term_at(i, tb);
        if (ta == tb) {
          match = i;
          found = true;
          break;
        }
        if (i == 0) break;
      }
      if (!found) continue;
      for (Index i = lo; i <= match; ++i) {
        std::uint64_t ha = 0, hb = 0;
        la.hash_at(i, ha);
        lb.hash_at(i, hb);
        const Entry* ea = la.at(i);
        const Entry* eb = lb.at(i);
        if (ha != hb || (ea != nullptr && eb != nullptr && *ea != *eb)) {
          fail(fmt::format(
              "log matching: nodes {} and {} agree on the term at index {} but differ at {} "
              "({} vs {})",
              a->first, b->first, match, i, ea ? describe(*ea) : "snapshot",
              eb ? describe(*eb) : "snapshot"));
          return;
        }
      }
    }
  }
}

void Checker::check_converged(NodeId id, Index applied) {
  if (applied < max_committed_) {
    fail(fmt::format("node {}: after healing applied only {} of {} committed entries", id, applied,
                     max_committed_));
  }
}

}  // namespace raftsim
