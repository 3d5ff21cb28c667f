// The error replies the node gives clients, one function per kind, so that every -CLUSTERDOWN,
// -TIMEOUT and -MOVED reads alike and a client library can act on the first word:
//   -CLUSTERDOWN  the command was not run (no leader, not formed, shutting down): retry later
//   -TIMEOUT      no answer in time, or the answer was lost: the outcome is unknown
//   -MOVED 0 a    this node takes no writes (follower-writes no): send them to the leader at a
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace raftd::replies {

/// "-<text>\r\n"; CR and LF in `text` become spaces (an error reply is one line).
inline std::string error(std::string_view text) {
  std::string line;
  line.reserve(text.size() + 3);
  line += '-';
  line += text;
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  line += "\r\n";
  return line;
}

inline std::string cluster_down(std::string_view why) {
  return error(std::string("CLUSTERDOWN ").append(why));
}

inline std::string timeout(std::string_view why) {
  return error(std::string("TIMEOUT ").append(why));
}

inline std::string moved(std::string_view leader_addr) {
  return error(std::string("MOVED 0 ").append(leader_addr));
}

}  // namespace raftd::replies
