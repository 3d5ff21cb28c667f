// The single-node proposer and the default read path (proposer.h).
#include "server/node/proposer.h"

#include <cstdio>
#include <cstdlib>

#include "server/keyspace/state_machine.h"

namespace raftd {

// By value as the interface has it: an override keeps both until the read is confirmed.
// NOLINTBEGIN(performance-unnecessary-value-param)
void Proposer::submit_read(ReadFn run, Completion done) {
  // NOLINTEND(performance-unnecessary-value-param)
  std::string reply;
  run(reply);
  done(reply);
}

void LocalProposer::propose(std::string entry, Completion done) {
  // With one voter an entry is committed as soon as it is appended (Raft thesis 3.6: a
  // majority of one), so it is applied at once, in order.
  ++last_index_;
  if (Status st = state_machine_.apply(entry, reply_); !st) {
    // This node made the entry itself: one it cannot apply is a bug.
    std::fprintf(stderr, "raftd: cannot apply entry %llu: %s\n",
                 static_cast<unsigned long long>(last_index_), st.message().c_str());
    std::abort();
  }
  done(reply_);
}

}  // namespace raftd
