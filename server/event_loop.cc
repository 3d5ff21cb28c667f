#include "server/event_loop.h"

namespace raftd {

void run_event_loop(boost::asio::io_context& io, const std::function<bool()>& before_sleep,
                    int handlers_per_turn) {
  for (;;) {
    int ran = 0;
    while (ran < handlers_per_turn && io.poll_one() > 0) ++ran;
    const bool more = before_sleep();
    if (ran == handlers_per_turn || more) {
      if (io.stopped()) return;
      continue;
    }
    // before_sleep() may have queued work (replies to flush): run it before blocking.
    if (io.poll_one() > 0) continue;
    if (io.run_one() == 0) return;  // stopped, or out of work
  }
}

}  // namespace raftd
