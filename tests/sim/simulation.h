// A deterministic simulation of a raft/ cluster: every node's host, a lossy network, a clock of
// ticks, crashes, a client, and the invariant checker, all driven from one seed.
//
// One schedule = `steps` random steps (faults, client requests, message deliveries, ticks), then
// a heal phase that asserts liveness (a leader within a bound, new proposals commit, every
// committed entry applied everywhere). The liveness scenario forces pre-vote + check-quorum and
// adds a rejoin phase: a minority cut off from a stable leader must not disrupt it on return.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "raft/raft.h"

namespace raftsim {

enum class Scenario { kChaos, kLiveness };

struct SimOptions {
  int nodes = 3;  ///< initial voters; two spare ids can join later
  std::uint64_t seed = 1;
  int steps = 300;
  Scenario scenario = Scenario::kChaos;
  /// A joining node's host starts it with the cluster's founding membership instead of an
  /// empty one. (Before core commit f87f76f an empty one let a joiner elect itself alone,
  /// FINDINGS.md F2.)
  bool joiner_founding_conf = false;
  /// How the host keeps storage's membership (InitialState::conf). true: as raft/storage.h
  /// defines it, recorded when the host applies a conf change; false: as of the last
  /// conf-change entry in the durable log, uncommitted or not (what storage.h said before core
  /// 6009e87; the core must cope with it too, FINDINGS.md F3).
  bool storage_conf_on_apply = true;
  /// A deliberately broken host, to show the checks catch it (mutation tests):
  /// kAckBeforePersist sends votes and acks before writing the disk; kApplyUncommitted applies
  /// entries once they are durable, without waiting for them to be committed.
  enum class Mutation { kNone, kAckBeforePersist, kApplyUncommitted };
  Mutation mutation = Mutation::kNone;
  /// Hosts whose disk writes complete later, asynchronously and in order, while the node keeps
  /// running (raft/raft.h: ready() may be called again before advance()). kMixed draws, per
  /// schedule, whether none, half or all hosts have one.
  enum class Disk { kMixed, kSync, kAsync };
  Disk disk = Disk::kMixed;
  /// Inject snapshot-file corruption on hosts with an asynchronous disk too (FINDINGS.md F6 was
  /// found that way; fixed in core ea8a4a1).
  bool async_snapshot_corruption = true;
  /// raft::Config::lazy_commit on every node (what raftd runs): followers learn the commit index
  /// only with entries or heartbeats.
  bool lazy_commit = false;
  /// raft::Config::max_read_rounds on every node (raftd: 1).
  std::size_t max_read_rounds = raft::Config{}.max_read_rounds;
  /// When set, every event is described here (the replay trace).
  std::function<void(const std::string&)> trace;
};

/// What a schedule exercised; summed over schedules to show the harness reaches the paths.
struct SimStats {
  std::uint64_t steps = 0, ticks = 0;
  std::uint64_t messages_sent = 0, messages_dropped = 0, messages_duplicated = 0;
  std::uint64_t messages_delivered = 0;
  std::uint64_t leaders = 0;  ///< distinct (term, leader) pairs
  std::uint64_t crashes = 0, crashes_mid_ready = 0, restarts = 0, partitions = 0;
  std::uint64_t proposals = 0, proposals_accepted = 0, entries_applied = 0;
  std::uint64_t reads = 0, reads_confirmed = 0;
  std::uint64_t transfers = 0, transfers_completed = 0;
  std::uint64_t unreachable_reports = 0, forced_campaigns = 0;
  std::uint64_t conf_changes_proposed = 0, conf_changes_applied = 0;
  std::uint64_t snapshots_taken = 0, snapshot_chunks = 0, snapshots_installed = 0;
  std::uint64_t snapshots_rejected = 0;   ///< by the host, after an injected disk corruption
  std::uint64_t async_writes = 0;         ///< disk writes completed asynchronously
  std::uint64_t max_disk_queue = 0;       ///< most Readys in flight on one asynchronous disk
  std::uint64_t max_ticks_to_leader = 0;  ///< after healing
  /// The same as a percentage of election_ticks, the unit of the liveness bound.
  std::uint64_t max_election_pct = 0;
  std::uint64_t rejoins = 0;

  void add(const SimStats& o);
};

struct SimResult {
  bool ok = true;
  std::string failure;       ///< the first broken invariant or liveness bound
  std::uint64_t digest = 0;  ///< fingerprint of the whole run (determinism check)
  SimStats stats;
};

SimResult run_simulation(const SimOptions& options);

const char* to_string(Scenario s);

}  // namespace raftsim
