// The node host's address book (member_directory.h).
#include "server/node/member_directory.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "server/log.h"

namespace raftd {

namespace {

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool is_member(const raft::ConfState& conf, raft::NodeId id) {
  return std::binary_search(conf.voters.begin(), conf.voters.end(), id) ||
         std::binary_search(conf.learners.begin(), conf.learners.end(), id);
}

}  // namespace

raft::NodeId node_id_for(const std::string& address) {
  // 53 bits: the id stays exact in clients that parse INFO numbers as doubles.
  const raft::NodeId id = fnv1a(address) & ((1ull << 53) - 1);
  return id == raft::kNoNode ? 1 : id;
}

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

void MemberDirectory::set(raft::NodeId id, const std::string& client_addr) {
  addresses_[id] = client_addr;
  dial(id, client_addr);
}

void MemberDirectory::link_all() {
  for (const auto& [id, addr] : addresses_) dial(id, addr);
}

void MemberDirectory::dial(raft::NodeId id, const std::string& client_addr) {
  if (id == self_) return;
  std::string host;
  std::uint16_t port = 0;
  if (!split_address(client_addr, host, port)) {
    log::error("member {} has a bad address '{}'", id, client_addr);
    return;
  }
  links_.add(id, host, static_cast<std::uint16_t>(port + 1));
}

void MemberDirectory::remove(raft::NodeId id) {
  addresses_.erase(id);
  if (id != self_) links_.remove(id);
}

std::string_view MemberDirectory::address(raft::NodeId id) const {
  auto it = addresses_.find(id);
  return it == addresses_.end() ? std::string_view() : std::string_view(it->second);
}

std::string MemberDirectory::encode(const raft::ConfState& conf) const {
  std::string out;
  auto add = [&](raft::NodeId id) {
    auto it = addresses_.find(id);
    if (it == addresses_.end()) return;
    if (!out.empty()) out += ',';
    out += fmt::format("{}/{}", id, it->second);
  };
  for (raft::NodeId id : conf.voters) add(id);
  for (raft::NodeId id : conf.learners) add(id);
  return out;
}

void MemberDirectory::adopt(const raft::ConfState& conf, const std::string& context) {
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
  for (const auto& [id, addr] : found) {
    if (!is_member(conf, id)) continue;
    auto it = addresses_.find(id);
    if (it != addresses_.end() && it->second == addr) continue;
    set(id, addr);
  }
  for (auto it = addresses_.begin(); it != addresses_.end();) {
    if (is_member(conf, it->first) || it->first == self_) {
      ++it;
      continue;
    }
    links_.remove(it->first);
    it = addresses_.erase(it);
  }
}

}  // namespace raftd
