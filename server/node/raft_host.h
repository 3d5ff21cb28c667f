// The node host: drives raft::Node on the daemon's io_context and connects it to the world.
//
//   ticks (a steady timer)        -> node.tick()
//   peer frames (Transport)       -> node.step()
//   client writes (Dispatcher)    -> prepare + node.propose()   (followers forward to the leader)
//   client reads (Dispatcher)     -> node.read_index() for the whole batch of one loop turn
//   once per loop turn: drain Ready -> send, apply committed entries (answering clients),
//                                     persist entries + hard state: the leader hands them to
//                                     the disk thread, a follower writes them itself, and so
//                                     does a lone voter (in before_sleep(), see below)
//   disk thread reports durable    -> send what waited for it (votes, acks), advance
//
// Group commit: everything proposed during one loop turn is one Ready, so one Append per
// follower; the disk thread merges every Ready that queued up during its last fsync into one
// synced RocksDB batch. The leader's loop never waits for the disk (except around snapshots),
// so the next batch is collected and replicated while the previous one syncs. A follower syncs
// on its loop (see submit_persist): Appends arriving meanwhile wait in the socket and become
// one write, and no thread handoff is paid per batch. A lone voter (a single-node cluster)
// replicates nothing, so it works like Redis's appendfsync always: its Ready waits until the
// event loop has drained its input (before_sleep(), server/client/event_loop.h) and syncs there, on
// the loop, covering everything read in that turn.
//
// RaftHost is that loop and nothing more; each other concern is a collaborator:
//   RequestTracker       (requests.h)        pending writes, read rounds, forwards, deadlines
//   SnapshotCoordinator  (snapshot_coordinator.h)  take, stream, receive, install, load
//   MemberDirectory      (member_directory.h)      who is where, and the peer links
//   Membership           (membership.h)      node identity, cluster id, formation, admission
//   AdmissionGate        (client/admission.h)      the one gate forwarded writes pass
//   Transport            (peer/transport.h)  authenticated peer links
//   DiskWriter           (disk_writer.h)     the leader's log writes on a thread
// INFO's "# Raft" section is in raft_host_info.cc.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>  // before boost/asio: Boost 1.74 + g++ 12 (asio/awaitable.hpp)
#include <vector>

#include "raft/raft.h"
#include "server/client/admission.h"
#include "server/commands/command_table.h"
#include "server/node/disk_writer.h"
#include "server/node/member_directory.h"
#include "server/node/proposer.h"
#include "server/node/requests.h"
#include "server/node/snapshot_coordinator.h"
#include "server/peer/transport.h"

namespace storage {
class DataDir;
}  // namespace storage

namespace raftd {

class Membership;
class StateMachine;

struct ClusterConfig {
  raft::NodeId id = raft::kNoNode;
  std::string host;        ///< this node's client host; peers listen on the same host
  std::uint16_t port = 0;  ///< this node's client port; peers use port + 1
  /// The member list it was started with (-e), this node included: node id -> client address
  /// "host:port". It forms a new cluster with exactly these nodes; a formed node finds its
  /// members in its own data (the founding record, the log and snapshots).
  std::map<raft::NodeId, std::string> members;
  int tick_ms = 100;
  int election_ticks = 10;
  bool forward_writes = true;      ///< false: a follower answers writes with -MOVED
  bool linearizable_reads = true;  ///< false: reads are served from local state at once
  int request_timeout_ms = 10000;  ///< a write or read not answered by then gets -TIMEOUT
  /// Applied entries between snapshots; 0: never. The start value: live changes go to the
  /// snapshot coordinator, which holds the value in effect.
  std::uint64_t snapshot_interval = 100000;
  /// The cluster secret peers prove in handshakes (--peer-secret); empty: the one generated when
  /// the cluster was formed (DIR/SECRET).
  std::string secret;
};

class RaftHost final : public Proposer, public NodeAdmin {
 public:
  /// `settings` are the live option values (ServerState::config): the gate forwarded writes
  /// pass reads max-entry-size there.
  RaftHost(boost::asio::io_context& io, ClusterConfig config, const Config& settings,
           storage::DataDir& dir, StateMachine& state_machine);
  ~RaftHost() override;
  RaftHost(const RaftHost&) = delete;
  RaftHost& operator=(const RaftHost&) = delete;

  /// Listens for peers and starts ticking; an error when the peer port is taken or the data
  /// directory cannot take part.
  Status start();
  /// Clean stop (SIGTERM): a leader first hands leadership to a caught-up follower (thesis
  /// 3.10), waiting at most two election timeouts; then `done` runs and nothing more happens.
  void shutdown(std::function<void()> done);

  // Proposer.
  void propose(std::string entry, Completion done) override;
  void submit_write(const CommandSpec& spec, Args args, std::string entry,
                    Completion done) override;
  /// Linearizable reads need a ReadIndex round, except on a single voter: it is always the
  /// leader and acknowledges a write only after applying it, so local state is never stale.
  bool reads_need_confirmation() const override;
  void submit_read(ReadFn run, Completion done) override;
  bool may_reap() const override { return is_leader(); }

  // NodeAdmin.
  void info(std::string& out) const override;
  void checkpoint(Completion done) override;
  void reconfigure(const Config& config) override;

  bool is_leader() const;
  /// The event loop calls before_sleep() after each bounded batch of handlers and before it
  /// blocks (server/client/event_loop.h). Then a lone voter handles its Ready there, batching
  /// everything the loop read into one sync on the loop, instead of in a posted handler with
  /// the disk thread.
  void set_loop_calls_before_sleep(bool on) { loop_calls_before_sleep_ = on; }
  /// Returns true when it left work for the next turn (the loop must not block).
  bool before_sleep();

  /// Runs before the loop thread blocks on a log sync (a follower's), so that replies completed
  /// by then reach their clients first (main flushes client output).
  void set_before_sync(std::function<void()> hook) { before_sync_ = std::move(hook); }

 private:
  /// Creates the Raft core and starts it: at start for a formed node, else once formed.
  Status start_node();
  void on_formed();
  /// The -CLUSTERDOWN reply while the node is not a formed member.
  std::string not_formed_error() const;
  std::uint64_t random(std::uint64_t n);
  void on_tick();
  void schedule_ready();
  void handle_ready();
  /// Hands rd's entries and hard state to the disk thread; returns the job's sequence number
  /// (the last one submitted when there is nothing to write).
  std::uint64_t submit_persist(const raft::Ready& rd);
  /// Ready whose chunk or snapshot touches the snapshot files: handled start to end here, after
  /// the disk thread drained.
  void handle_snapshot_ready(raft::Ready& rd);
  void on_durable(std::uint64_t seq, raft::Index last_index);
  /// Sends what waited for the disk and advances every Ready whose write is durable.
  void finish_durable();
  void apply_entry(const raft::Entry& e);
  void apply_conf_change(const raft::Entry& e);
  void confirm_reads(const std::vector<raft::ReadState>& states);
  /// The state machine now holds `snapshot` (loaded at start or installed from the leader).
  void adopt_snapshot(const LoadedSnapshot& snapshot);
  /// Tells the core about the newest snapshot taken once it has applied that far.
  void report_snapshot_taken();
  void update_log_context();
  /// "leader", "candidate" (pre-candidates too) or "follower": the words of INFO and the log.
  static const char* role_name(raft::Role role);
  /// This node is the only voter of the membership in effect.
  bool lone_voter() const;
  /// A lone voter whose loop calls before_sleep(): it defers its Ready there and syncs on the
  /// loop.
  bool syncs_before_sleep() const;
  /// Whether this node could apply `e` (a command it knows, a membership change that decodes).
  Status check_entry(const raft::Entry& e) const;
  /// A Raft message from a peer: Appends whose entries this node cannot apply are refused.
  void on_message(const raft::Message& m);
  /// A write a follower forwarded: it passes the clients' gate, then is prepared and proposed.
  void on_forward(raft::NodeId from, std::uint64_t request_id, std::vector<std::string> args);
  /// A follower's write goes to the leader as the client sent it.
  void forward_write(Args args, Completion done);
  void on_peer_state(raft::NodeId node, bool connected);
  void propose_entry(std::string entry, Completion done);
  /// Wall-clock milliseconds: the time a write is stamped with (expiry is wall-clock, as in
  /// Redis).
  static std::int64_t wall_ms();
  /// Steady-clock milliseconds: request deadlines and the shutdown deadline.
  static std::int64_t steady_ms();
  std::int64_t request_deadline() const { return steady_ms() + config_.request_timeout_ms; }

  boost::asio::io_context& io_;
  ClusterConfig config_;
  storage::DataDir& dir_;
  StateMachine& state_machine_;
  AdmissionGate forward_gate_;  ///< writes forwarded by followers pass the clients' gate
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<raft::Node> node_;  ///< null until the node is a formed member
  std::unique_ptr<peer::Transport> transport_;
  MemberDirectory members_;
  RequestTracker requests_;
  AppliedState applied_;
  SnapshotCoordinator snapshots_;
  boost::asio::steady_timer tick_timer_;
  std::uint64_t rng_state_;

  raft::SoftState soft_;
  raft::HardState persisted_hard_state_;  ///< what the log store holds (or will, once queued
                                          ///< writes finish)
  raft::HardState unsynced_hard_state_;   ///< newest from the core (commit may run ahead)
  bool ready_scheduled_ = false;
  bool loop_calls_before_sleep_ = false;
  bool ready_deferred_ = false;            // a lone voter's Ready, for before_sleep()
  bool local_reads_linearizable_ = false;  ///< single voter, whole log applied
  std::function<void()> before_sync_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::function<void()> shutdown_done_;
  std::int64_t shutdown_deadline_ms_ = 0;  ///< steady clock

  struct InFlight {
    raft::Ready rd;
    std::uint64_t seq = 0;  ///< durable once the disk thread reports this sequence number
  };
  std::deque<InFlight> inflight_;  ///< handed out, not yet advanced; in order
  std::uint64_t durable_seq_ = 0;
  std::unique_ptr<DiskWriter> disk_;
  std::string reply_;                  ///< reused by apply
  std::uint64_t refused_appends_ = 0;  ///< Appends refused for entries we cannot apply
};

}  // namespace raftd
