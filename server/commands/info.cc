// INFO: the server, clients, memory, persistence, stats, replication, cpu, keyspace and raft
// sections, with Redis's field names where Redis has the field.
#include <fmt/core.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "server/client/client_context.h"
#include "server/commands/connection_commands.h"
#include "server/commands/families.h"
#include "server/config.h"
#include "server/keyspace/glob.h"
#include "server/keyspace/keyspace.h"
#include "server/keyspace/numbers.h"
#include "server/keyspace/state_machine.h"
#include "server/log.h"
#include "server/node/proposer.h"
#include "server/server_state.h"
#include "server/text.h"

namespace raftd {

namespace {

/// Redis's bytesToHuman.
std::string bytes_to_human(std::uint64_t n) {
  const double d = static_cast<double>(n);
  if (n < 1024) return fmt::format("{}B", n);
  if (n < 1024ull * 1024) return fmt::format("{:.2f}K", d / 1024);
  if (n < 1024ull * 1024 * 1024) return fmt::format("{:.2f}M", d / (1024.0 * 1024));
  if (n < 1024ull * 1024 * 1024 * 1024) return fmt::format("{:.2f}G", d / (1024.0 * 1024 * 1024));
  return fmt::format("{:.2f}T", d / (1024.0 * 1024 * 1024 * 1024));
}

std::uint64_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

std::string executable_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::string section_server(const ServerState& s) {
  struct utsname name {};
  uname(&name);
  struct timeval tv {};
  gettimeofday(&tv, nullptr);
  const std::int64_t uptime = s.uptime_seconds();
  return fmt::format(
      "# Server\r\n"
      "redis_version:{}\r\n"
      "raftd_version:{}\r\n"
      "redis_git_sha1:00000000\r\n"
      "redis_git_dirty:0\r\n"
      "redis_build_id:0\r\n"
      "redis_mode:standalone\r\n"
      "os:{} {} {}\r\n"
      "arch_bits:{}\r\n"
      "multiplexing_api:epoll\r\n"
      "gcc_version:{}.{}.{}\r\n"
      "process_id:{}\r\n"
      "run_id:{}\r\n"
      "tcp_port:{}\r\n"
      "server_time_usec:{}\r\n"
      "uptime_in_seconds:{}\r\n"
      "uptime_in_days:{}\r\n"
      "hz:10\r\n"
      "executable:{}\r\n"
      "config_file:{}\r\n"
      "raftd_node_id:{}\r\n"
      "raftd_data_dir:{}\r\n",
      kRedisCompatVersion, version_string(), name.sysname, name.release, name.machine,
      sizeof(void*) * 8, __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__, getpid(), s.run_id,
      s.bound_port, static_cast<std::int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec, uptime,
      uptime / 86400, executable_path(), s.config.config_file, s.config.id, s.config.data_dir);
}

std::string section_clients(const ServerState& s) {
  std::size_t max_in = 0, max_out = 0;
  for (const auto& [id, client] : s.clients) {
    max_in = std::max(max_in, client->query_buffer_used() + client->query_buffer_free());
    max_out = std::max(max_out, client->output_buffer_used());
  }
  return fmt::format(
      "# Clients\r\n"
      "connected_clients:{}\r\n"
      "cluster_connections:0\r\n"
      "maxclients:{}\r\n"
      "client_recent_max_input_buffer:{}\r\n"
      "client_recent_max_output_buffer:{}\r\n"
      "blocked_clients:0\r\n"
      "tracking_clients:0\r\n"
      "clients_in_timeout_table:0\r\n",
      s.clients.size(), s.config.max_clients, max_in, max_out);
}

std::string section_memory(const ServerState& s) {
  const std::uint64_t used = heap_in_use();
  const std::uint64_t rss = resident_bytes();
  const KeyspaceStats ks = s.state_machine.keyspace().stats();
  return fmt::format(
      "# Memory\r\n"
      "used_memory:{}\r\n"
      "used_memory_human:{}\r\n"
      "used_memory_rss:{}\r\n"
      "used_memory_rss_human:{}\r\n"
      "used_memory_dataset:{}\r\n"
      "used_memory_dataset_human:{}\r\n"
      "maxmemory:0\r\n"
      "maxmemory_human:0B\r\n"
      "maxmemory_policy:noeviction\r\n"
      "mem_allocator:libc\r\n",
      used, bytes_to_human(used), rss, bytes_to_human(rss), ks.used_bytes,
      bytes_to_human(ks.used_bytes));
}

std::string section_persistence(const ServerState&) {
  // The Raft log (next issues) is the persistence; there is no RDB or AOF.
  return "# Persistence\r\n"
         "loading:0\r\n"
         "rdb_bgsave_in_progress:0\r\n"
         "aof_enabled:0\r\n"
         "aof_rewrite_in_progress:0\r\n";
}

std::string section_stats(const ServerState& s) {
  const KeyspaceStats ks = s.state_machine.keyspace().stats();
  const ServerStats& st = s.stats;
  return fmt::format(
      "# Stats\r\n"
      "total_connections_received:{}\r\n"
      "total_commands_processed:{}\r\n"
      "instantaneous_ops_per_sec:{}\r\n"
      "total_net_input_bytes:{}\r\n"
      "total_net_output_bytes:{}\r\n"
      "rejected_connections:{}\r\n"
      "expired_keys:{}\r\n"
      "evicted_keys:0\r\n"
      "keyspace_hits:{}\r\n"
      "keyspace_misses:{}\r\n"
      "total_error_replies:{}\r\n"
      "total_reads_processed:{}\r\n"
      "total_writes_processed:{}\r\n"
      "client_query_buffer_limit_disconnections:{}\r\n",
      st.total_connections_received, st.total_commands_processed, s.ops_per_sec.per_second(),
      st.total_net_input_bytes, st.total_net_output_bytes, st.rejected_connections, ks.expired_keys,
      ks.hits, ks.misses, st.total_error_replies, st.total_reads_processed,
      st.total_writes_processed, st.client_query_buffer_limit_disconnections);
}

std::string section_replication(const ServerState&) {
  return "# Replication\r\n"
         "role:master\r\n"
         "connected_slaves:0\r\n";
}

std::string section_cpu(const ServerState&) {
  struct rusage self {};
  getrusage(RUSAGE_SELF, &self);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return fmt::format(
      "# CPU\r\n"
      "used_cpu_sys:{:.6f}\r\n"
      "used_cpu_user:{:.6f}\r\n",
      secs(self.ru_stime), secs(self.ru_utime));
}

std::string section_keyspace(const ServerState& s) {
  const KeyspaceStats ks = s.state_machine.keyspace().stats();
  std::string text = "# Keyspace\r\n";
  if (ks.keys > 0) text += fmt::format("db0:keys={},expires={},avg_ttl=0\r\n", ks.keys, ks.expires);
  return text;
}

std::string section_raft(const ServerState& s) {
  std::string text;
  if (s.admin != nullptr) s.admin->info(text);
  return text;
}

struct InfoSection {
  std::string_view name;
  std::string (*render)(const ServerState&);
  bool in_default;
};

constexpr InfoSection kInfoSections[] = {
    {"server", section_server, true},     {"clients", section_clients, true},
    {"memory", section_memory, true},     {"persistence", section_persistence, true},
    {"stats", section_stats, true},       {"replication", section_replication, true},
    {"cpu", section_cpu, true},           {"raft", section_raft, true},
    {"keyspace", section_keyspace, true},
};

void info_command(ClientContext& c, Args args, resp::Writer& out) {
  std::set<std::string_view> wanted;
  bool all = false;
  if (args.size() == 1) {
    for (const InfoSection& s : kInfoSections) {
      if (s.in_default) wanted.insert(s.name);
    }
  }
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (iequals(args[i], "all") || iequals(args[i], "everything")) {
      all = true;
    } else if (iequals(args[i], "default")) {
      for (const InfoSection& s : kInfoSections) {
        if (s.in_default) wanted.insert(s.name);
      }
    } else {
      for (const InfoSection& s : kInfoSections) {
        if (iequals(args[i], s.name)) wanted.insert(s.name);
      }
    }
  }
  std::string text;
  for (const InfoSection& s : kInfoSections) {
    if (!all && !wanted.count(s.name)) continue;
    std::string section = s.render(c.server());
    if (section.empty()) continue;
    if (!text.empty()) text += "\r\n";
    text += section;
  }
  out.bulk(text);
}

}  // namespace

void register_info_commands(CommandTable& table) {
  table.add({
      {.name = "info",
       .arity = -1,
       .flags = "loading stale",
       .group = CommandGroup::kServer,
       .summary = "Get information and statistics about the server",
       .acl = "@dangerous",
       .connection = info_command},
  });
}

}  // namespace raftd
