// raft_sim: runs randomized simulation schedules of the raft/ core and checks its invariants.
//
//   raft_sim [--nodes N] [--seed S] [--schedules K] [--steps M] [--scenario chaos|liveness]
//            [--verbose] [--check-determinism] [--require-coverage] [--max-failures F]
//            [--joiner-conf empty|founding] [--storage-conf log|apply]
//            [--mutate ack-before-persist|apply-uncommitted] [--disk mixed|sync|async]
//            [--async-snapshot-corruption] [--lazy-commit] [--max-read-rounds R]
//
// --joiner-conf and --storage-conf choose how the simulated host starts a joining node and
// keeps storage's membership (see FINDINGS.md F2, F3); the defaults follow raft/storage.h.
// --disk chooses synchronous or asynchronous host disks (mixed: drawn per schedule).
// --lazy-commit and --max-read-rounds set those raft::Config fields on every node (raftd runs
// with lazy_commit and one read round).
// --mutate runs a deliberately broken host: the run must fail (ctest raft_sim_mutation_*).
// Schedule i uses seed S+i and is replayed exactly by
//   raft_sim --scenario <sc> --nodes N --seed S+i --steps M --verbose
// which every failure prints. Environment: RAFT_SIM_SCALE multiplies --schedules (e.g. 0.25
// under sanitizers); RAFT_SIM_SEED overrides --seed ("random" draws one and prints it).
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>

#include "tests/sim/simulation.h"

#if defined(__SANITIZE_ADDRESS__)
#define RAFT_SIM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RAFT_SIM_SANITIZED 1
#endif
#endif
#ifdef RAFT_SIM_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

namespace {

using raftsim::Scenario;
using raftsim::SimOptions;
using raftsim::SimResult;
using raftsim::SimStats;

// The replay command of the schedule in progress, for a core that aborts mid-schedule.
char g_replay[512] = "";

void write_replay_note() {
  if (g_replay[0] == '\0') return;
  static const char kHead[] = "\nraft_sim: died during a schedule; replay it with:\n  ";
  ssize_t ignored = write(2, kHead, sizeof(kHead) - 1);
  ignored = write(2, g_replay, std::strlen(g_replay));
  ignored = write(2, "\n", 1);
  (void)ignored;
}

extern "C" void on_fatal_signal(int sig) {
  write_replay_note();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

struct Args {
  int nodes = 3;
  std::uint64_t seed = 1;
  bool seed_random = false;
  long schedules = 1;
  int steps = 300;
  Scenario scenario = Scenario::kChaos;
  bool verbose = false;
  bool check_determinism = false;
  bool require_coverage = false;
  bool joiner_founding_conf = false;
  bool storage_conf_on_apply = true;
  raftsim::SimOptions::Mutation mutation = raftsim::SimOptions::Mutation::kNone;
  raftsim::SimOptions::Disk disk = raftsim::SimOptions::Disk::kMixed;
  bool async_snapshot_corruption = true;
  bool lazy_commit = false;
  std::size_t max_read_rounds = raft::Config{}.max_read_rounds;
  int max_failures = 5;
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "raft_sim: %s\nusage: raft_sim [--nodes N] [--seed S|random] [--schedules K] "
               "[--steps M]\n                [--scenario chaos|liveness] [--verbose] "
               "[--check-determinism]\n                [--require-coverage] [--max-failures F] "
               "[--joiner-conf empty|founding]\n                [--storage-conf log|apply] "
               "[--mutate ack-before-persist|apply-uncommitted]\n"
               "                [--disk mixed|sync|async] [--async-snapshot-corruption] "
               "[--lazy-commit] [--max-read-rounds R]\n",
               msg);
  std::exit(2);
}

std::uint64_t parse_u64(const char* s, const char* what) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') usage(fmt::format("bad {}: '{}'", what, s).c_str());
  return v;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(("missing value for " + arg).c_str());
      return argv[++i];
    };
    if (arg == "--nodes") {
      a.nodes = static_cast<int>(parse_u64(value(), "--nodes"));
      if (a.nodes < 1 || a.nodes > 9) usage("--nodes must be 1..9");
    } else if (arg == "--seed") {
      const char* v = value();
      if (std::strcmp(v, "random") == 0) {
        a.seed_random = true;
      } else {
        a.seed = parse_u64(v, "--seed");
      }
    } else if (arg == "--schedules") {
      a.schedules = static_cast<long>(parse_u64(value(), "--schedules"));
    } else if (arg == "--steps") {
      a.steps = static_cast<int>(parse_u64(value(), "--steps"));
    } else if (arg == "--scenario") {
      const std::string v = value();
      if (v == "chaos") {
        a.scenario = Scenario::kChaos;
      } else if (v == "liveness") {
        a.scenario = Scenario::kLiveness;
      } else {
        usage("--scenario must be chaos or liveness");
      }
    } else if (arg == "--verbose") {
      a.verbose = true;
    } else if (arg == "--check-determinism") {
      a.check_determinism = true;
    } else if (arg == "--joiner-conf") {
      const std::string v = value();
      if (v == "empty") {
        a.joiner_founding_conf = false;
      } else if (v == "founding") {
        a.joiner_founding_conf = true;
      } else {
        usage("--joiner-conf must be empty or founding");
      }
    } else if (arg == "--disk") {
      const std::string v = value();
      if (v == "mixed") {
        a.disk = raftsim::SimOptions::Disk::kMixed;
      } else if (v == "sync") {
        a.disk = raftsim::SimOptions::Disk::kSync;
      } else if (v == "async") {
        a.disk = raftsim::SimOptions::Disk::kAsync;
      } else {
        usage("--disk must be mixed, sync or async");
      }
    } else if (arg == "--async-snapshot-corruption") {
      a.async_snapshot_corruption = true;  // the default now; kept for old replay commands
    } else if (arg == "--lazy-commit") {
      a.lazy_commit = true;
    } else if (arg == "--max-read-rounds") {
      a.max_read_rounds = parse_u64(value(), "--max-read-rounds");
    } else if (arg == "--no-async-snapshot-corruption") {
      a.async_snapshot_corruption = false;
    } else if (arg == "--mutate") {
      const std::string v = value();
      if (v == "ack-before-persist") {
        a.mutation = raftsim::SimOptions::Mutation::kAckBeforePersist;
      } else if (v == "apply-uncommitted") {
        a.mutation = raftsim::SimOptions::Mutation::kApplyUncommitted;
      } else {
        usage("--mutate must be ack-before-persist or apply-uncommitted");
      }
    } else if (arg == "--storage-conf") {
      const std::string v = value();
      if (v == "log") {
        a.storage_conf_on_apply = false;
      } else if (v == "apply") {
        a.storage_conf_on_apply = true;
      } else {
        usage("--storage-conf must be log or apply");
      }
    } else if (arg == "--require-coverage") {
      a.require_coverage = true;
    } else if (arg == "--max-failures") {
      a.max_failures = static_cast<int>(parse_u64(value(), "--max-failures"));
    } else {
      usage(("unknown argument " + arg).c_str());
    }
  }
  if (const char* s = std::getenv("RAFT_SIM_SEED"); s != nullptr && *s != '\0') {
    if (std::strcmp(s, "random") == 0) {
      a.seed_random = true;
    } else {
      a.seed = parse_u64(s, "RAFT_SIM_SEED");
    }
  }
  if (a.seed_random) {
    a.seed =
        static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) %
        1000000000ULL;
  }
  if (const char* s = std::getenv("RAFT_SIM_SCALE"); s != nullptr && *s != '\0') {
    const double scale = std::atof(s);
    if (scale <= 0) usage("RAFT_SIM_SCALE must be a positive number");
    a.schedules = std::max(1L, static_cast<long>(static_cast<double>(a.schedules) * scale));
  }
  return a;
}

std::string mutation_flag(raftsim::SimOptions::Mutation m) {
  switch (m) {
    case raftsim::SimOptions::Mutation::kNone:
      return "";
    case raftsim::SimOptions::Mutation::kAckBeforePersist:
      return " --mutate ack-before-persist";
    case raftsim::SimOptions::Mutation::kApplyUncommitted:
      return " --mutate apply-uncommitted";
  }
  return "";
}

std::string replay_command(const char* argv0, const Args& a, std::uint64_t seed) {
  return fmt::format("{} --scenario {} --nodes {} --seed {} --steps {}{} --verbose", argv0,
                     raftsim::to_string(a.scenario), a.nodes, seed, a.steps,
                     std::string(a.joiner_founding_conf ? " --joiner-conf founding" : "") +
                         (a.storage_conf_on_apply ? "" : " --storage-conf log") +
                         mutation_flag(a.mutation) +
                         (a.disk == raftsim::SimOptions::Disk::kSync    ? " --disk sync"
                          : a.disk == raftsim::SimOptions::Disk::kAsync ? " --disk async"
                                                                        : "") +
                         (a.async_snapshot_corruption ? "" : " --no-async-snapshot-corruption") +
                         (a.lazy_commit ? " --lazy-commit" : "") +
                         (a.max_read_rounds == raft::Config{}.max_read_rounds
                              ? std::string()
                              : fmt::format(" --max-read-rounds {}", a.max_read_rounds)));
}

SimOptions options_for(const Args& a, std::uint64_t seed) {
  SimOptions o;
  o.nodes = a.nodes;
  o.seed = seed;
  o.steps = a.steps;
  o.scenario = a.scenario;
  o.joiner_founding_conf = a.joiner_founding_conf;
  o.storage_conf_on_apply = a.storage_conf_on_apply;
  o.mutation = a.mutation;
  o.disk = a.disk;
  o.async_snapshot_corruption = a.async_snapshot_corruption;
  o.lazy_commit = a.lazy_commit;
  o.max_read_rounds = a.max_read_rounds;
  return o;
}

/// Re-runs a failed schedule with tracing on and returns the trace's last lines.
std::deque<std::string> trace_tail(const Args& a, std::uint64_t seed, std::size_t keep) {
  std::deque<std::string> tail;
  SimOptions o = options_for(a, seed);
  o.trace = [&](const std::string& line) {
    tail.push_back(line);
    if (tail.size() > keep) tail.pop_front();
  };
  raftsim::run_simulation(o);
  return tail;
}

void print_coverage(const SimStats& s) {
  std::printf(
      "  coverage: %llu steps, %llu ticks; messages %llu sent, %llu delivered, %llu dropped, "
      "%llu duplicated\n"
      "            %llu leaders; %llu crashes (%llu inside a Ready), %llu restarts, %llu "
      "partitions\n"
      "            %llu proposals (%llu accepted), %llu entries applied; %llu reads (%llu "
      "confirmed)\n"
      "            %llu transfers (%llu completed); %llu conf changes proposed, %llu applied\n"
      "            %llu unreachable reports, %llu forced campaigns\n"
      "            %llu snapshots taken, %llu chunks received, %llu installed, %llu rejected "
      "as corrupt; %llu rejoins\n"
      "            %llu asynchronous disk writes (up to %llu queued on one disk)\n"
      "            slowest election after healing: %llu ticks, %.1f x election_ticks\n",
      (unsigned long long)s.steps, (unsigned long long)s.ticks, (unsigned long long)s.messages_sent,
      (unsigned long long)s.messages_delivered, (unsigned long long)s.messages_dropped,
      (unsigned long long)s.messages_duplicated, (unsigned long long)s.leaders,
      (unsigned long long)s.crashes, (unsigned long long)s.crashes_mid_ready,
      (unsigned long long)s.restarts, (unsigned long long)s.partitions,
      (unsigned long long)s.proposals, (unsigned long long)s.proposals_accepted,
      (unsigned long long)s.entries_applied, (unsigned long long)s.reads,
      (unsigned long long)s.reads_confirmed, (unsigned long long)s.transfers,
      (unsigned long long)s.transfers_completed, (unsigned long long)s.conf_changes_proposed,
      (unsigned long long)s.conf_changes_applied, (unsigned long long)s.unreachable_reports,
      (unsigned long long)s.forced_campaigns, (unsigned long long)s.snapshots_taken,
      (unsigned long long)s.snapshot_chunks, (unsigned long long)s.snapshots_installed,
      (unsigned long long)s.snapshots_rejected, (unsigned long long)s.rejoins,
      (unsigned long long)s.async_writes, (unsigned long long)s.max_disk_queue,
      (unsigned long long)s.max_ticks_to_leader, static_cast<double>(s.max_election_pct) / 100.0);
}

/// A run that never reached a path proves nothing about it: with --require-coverage the
/// schedules as a whole must have exercised every feature the harness drives.
std::string missing_coverage(const Args& a, const SimStats& s) {
  std::string missing;
  auto need = [&](std::uint64_t v, const char* what) {
    if (v == 0) missing += fmt::format(" {}", what);
  };
  need(s.leaders, "elections");
  need(s.crashes_mid_ready, "crashes-inside-Ready");
  need(s.restarts, "restarts");
  need(s.entries_applied, "applied-entries");
  need(s.reads_confirmed, "confirmed-reads");
  need(s.snapshots_installed, "snapshot-installs");
  if (a.disk != raftsim::SimOptions::Disk::kSync) need(s.async_writes, "asynchronous-disks");
  if (a.scenario == Scenario::kChaos) {
    need(s.partitions, "partitions");
    need(s.transfers_completed, "completed-transfers");
    need(s.conf_changes_applied, "conf-changes");
    need(s.messages_duplicated, "duplicates");
    need(s.snapshots_rejected, "rejected-snapshots");
  } else {
    need(s.rejoins, "rejoins");
  }
  return missing;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  std::signal(SIGABRT, on_fatal_signal);
  std::signal(SIGSEGV, on_fatal_signal);
  std::signal(SIGBUS, on_fatal_signal);
  std::signal(SIGFPE, on_fatal_signal);
#ifdef RAFT_SIM_SANITIZED
  __sanitizer_set_death_callback(write_replay_note);
#endif
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  const auto t0 = std::chrono::steady_clock::now();
  SimStats total;
  long passed = 0, failed = 0;
  for (long i = 0; i < a.schedules && failed < a.max_failures; ++i) {
    const std::uint64_t seed = a.seed + static_cast<std::uint64_t>(i);
    const std::string replay = replay_command(argv[0], a, seed);
    std::snprintf(g_replay, sizeof(g_replay), "%s", replay.c_str());

    SimOptions o = options_for(a, seed);
    if (a.verbose) o.trace = [](const std::string& line) { std::printf("%s\n", line.c_str()); };
    SimResult r = raftsim::run_simulation(o);
    if (r.ok && a.check_determinism) {
      const SimResult again = raftsim::run_simulation(options_for(a, seed));
      if (again.digest != r.digest || !again.ok) {
        r.ok = false;
        r.failure = fmt::format(
            "non-deterministic: the same seed ran differently (digest {:x} "
            "vs {:x})",
            r.digest, again.digest);
      }
    }
    total.add(r.stats);
    if (r.ok) {
      ++passed;
      continue;
    }
    ++failed;
    std::printf("FAILED schedule seed=%llu: %s\n  replay: %s\n",
                static_cast<unsigned long long>(seed), r.failure.c_str(), replay.c_str());
    if (!a.verbose) {
      std::printf("  last events of the trace:\n");
      for (const std::string& line : trace_tail(a, seed, 40)) {
        std::printf("    %s\n", line.c_str());
      }
    }
  }
  g_replay[0] = '\0';
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "raft_sim: scenario=%s nodes=%d steps=%d seeds [%llu, %llu): %ld schedules passed, "
      "%ld failed in %.1f s\n",
      raftsim::to_string(a.scenario), a.nodes, a.steps, static_cast<unsigned long long>(a.seed),
      static_cast<unsigned long long>(a.seed + static_cast<std::uint64_t>(passed + failed)), passed,
      failed, secs);
  print_coverage(total);
  if (failed == 0 && a.require_coverage) {
    const std::string missing = missing_coverage(a, total);
    if (!missing.empty()) {
      std::printf("raft_sim: FAILED: the schedules never exercised:%s\n", missing.c_str());
      return 1;
    }
  }
  return failed == 0 ? 0 : 1;
}
