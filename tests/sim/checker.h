// The invariant checker (LogCabin's "invariants after every operation", thesis 3.6.3 figure 3.2).
//
// It sees a history, not a Node: what each host wrote to its durable storage, what each node
// applied, which roles and terms it took, which reads it confirmed. That keeps it testable on
// its own (checker_test.cc feeds it broken histories) and lets it judge any implementation.
//
// Checked, per observation:
//  - election safety: at most one leader per term (thesis 3.6.3);
//  - log matching over durable logs: an (index, term) pair names one entry, and one prefix, in
//    every log that ever held it (a chained hash over the prefix makes this incremental);
//  - leader completeness: a leader's durable log holds every entry committed in an earlier term;
//  - state machine safety: no two nodes apply different entries (or reach different states)
//    at one index; a node applies in index order, only entries its durable commit covers;
//  - durable hard state: term never decreases, a vote is never changed within a term, the
//    persisted commit never decreases; a committed entry is never overwritten in a durable log;
//  - per incarnation, the commit and applied indexes reported by the node never decrease;
//  - ReadIndex linearizability (thesis 6.4): a confirmed read index covers every entry committed
//    before the read was issued.
// On demand: pairwise log matching over all durable logs, and convergence after healing.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "raft/raft.h"
#include "raft/types.h"

namespace raftsim {

/// A mirror of one host's durable log, with the chained prefix hash through every entry.
struct DurableLog {
  raft::Index base_index = 0;  ///< snapshot index (0: none)
  raft::Term base_term = 0;
  std::uint64_t base_hash;  ///< prefix hash through base_index
  std::vector<raft::Entry> entries;
  std::vector<std::uint64_t> hashes;

  DurableLog();
  raft::Index last() const { return base_index + entries.size(); }
  /// Entry at i, or nullptr if i is not in (base_index, last()].
  const raft::Entry* at(raft::Index i) const;
  /// Term at i for i in [base_index, last()]; false otherwise.
  bool term_at(raft::Index i, raft::Term& out) const;
  bool hash_at(raft::Index i, std::uint64_t& out) const;
};

class Checker {
 public:
  // ---- Durable state, reported after the host wrote it. ----
  /// The host appended `entries` (same semantics as MemoryStorage::append).
  void log_append(raft::NodeId id, const std::vector<raft::Entry>& entries);
  /// The host compacted its log through `index` after taking a snapshot there.
  void log_compact(raft::NodeId id, raft::Index index, raft::Term term);
  /// The host installed a snapshot received from the leader (MemoryStorage::apply_snapshot).
  void log_install_snapshot(raft::NodeId id, raft::Index index, raft::Term term);
  void hard_state_persisted(raft::NodeId id, const raft::HardState& hs);

  // ---- Volatile state of the running incarnation. ----
  /// A node (re)started; its state machine was restored to `applied` with hash `state_hash`.
  void incarnation_started(raft::NodeId id, raft::Index applied, std::uint64_t state_hash);
  /// `log_is_durable`: the node's durable log is its whole log (no write in flight). Leader
  /// completeness is judged on durable logs, so only then; election safety always.
  void observe_role(raft::NodeId id, raft::Term term, raft::Role role, bool log_is_durable = true);
  void observe_progress(raft::NodeId id, raft::Index commit, raft::Index applied);
  /// The node applied `e`, after which its state hash is `state_hash`; `term` is its current term.
  void applied(raft::NodeId id, raft::Term term, const raft::Entry& e, std::uint64_t state_hash);
  /// The node replaced its state machine with a snapshot received from the leader.
  void snapshot_restored(raft::NodeId id, raft::Index index, std::uint64_t state_hash);
  void read_issued(const std::string& context);
  void read_confirmed(raft::NodeId id, const raft::ReadState& rs);

  // ---- Whole-history checks. ----
  /// Log matching over every pair of durable logs, entry by entry.
  void check_logs_pairwise();
  /// After healing: `id` has applied every entry ever reported committed.
  void check_converged(raft::NodeId id, raft::Index applied);

  bool ok() const { return violations_.empty(); }
  const std::vector<std::string>& violations() const { return violations_; }
  raft::Index max_committed() const { return max_committed_; }
  std::size_t leaders_seen() const { return leaders_.size(); }
  /// The mirror of `id`'s durable log (nullptr if nothing was ever reported for it).
  const DurableLog* durable_log(raft::NodeId id) const;

 private:
  struct Registered {
    raft::Entry entry;
    std::uint64_t prefix_hash = 0;
    raft::NodeId writer = raft::kNoNode;
  };
  struct Committed {
    raft::Term term = 0;
    std::uint64_t prefix_hash = 0;
    raft::Term observed_term = 0;  ///< smallest term in which a node reported it committed
    raft::NodeId reporter = raft::kNoNode;
    std::string data;
  };
  struct NodeRecord {
    DurableLog log;
    raft::HardState hs;  ///< durable
    raft::Index commit_recorded = 0;
    // Current incarnation.
    raft::Index applied = 0;
    raft::Index status_commit = 0;
    raft::Index status_applied = 0;
  };

  void fail(std::string what);
  void observe_commits(raft::NodeId id, NodeRecord& n);
  void record_committed(raft::Index i, raft::Term term, std::uint64_t prefix_hash,
                        raft::Term observed_term, raft::NodeId reporter, const std::string& data);
  void register_entry(raft::NodeId id, const raft::Entry& e, std::uint64_t prefix_hash);
  /// Prefix hash of the committed log through i (i == 0: the empty log); false if unknown.
  bool committed_hash(raft::Index i, std::uint64_t& out) const;

  std::map<raft::NodeId, NodeRecord> nodes_;
  std::map<std::pair<raft::Index, raft::Term>, Registered> registry_;
  std::map<raft::Index, Committed> committed_;
  std::map<raft::Term, raft::NodeId> leaders_;
  std::map<std::string, raft::Index> reads_;
  raft::Index max_committed_ = 0;
  std::vector<std::string> violations_;
};

/// Short human-readable form of an entry for traces and violation messages.
std::string describe(const raft::Entry& e);

}  // namespace raftsim
