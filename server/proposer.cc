#include "server/proposer.h"

#include "server/kv/state_machine.h"

namespace raftd {

void Proposer::submit_read(ReadFn run, Completion done) {
  std::string reply;
  run(reply);
  done(reply);
}

void LocalProposer::propose(std::string entry, Completion done) {
  // With one voter an entry is committed as soon as it is appended (Raft thesis 3.6: a
  // majority of one), so it is applied at once, in order.
  ++last_index_;
  state_machine_.apply(entry, reply_);
  done(reply_);
}

}  // namespace raftd
