// The event loop (event_loop.h): bounded batches of ready handlers, then before-sleep work.
#include "server/client/event_loop.h"

namespace raftd {

void run_event_loop(boost::asio::io_context& io, const std::function<bool()>& before_sleep,
                    const EventLoopLimits& limits) {
  const auto now_us = [&limits]() -> std::int64_t {
    if (limits.now_us) return limits.now_us();
    using namespace std::chrono;
    return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
  };
  const std::int64_t max_turn = limits.max_turn.count();
  for (;;) {
    int ran = 0;
    const std::int64_t start = now_us();
    bool full = false;
    while (io.poll_one() > 0) {
      if (++ran == limits.handlers_per_turn || now_us() - start >= max_turn) {
        full = true;
        break;
      }
    }
    const bool more = before_sleep();
    if (full || more) {
      if (io.stopped()) return;
      continue;
    }
    // before_sleep() may have queued work (replies to flush): run it before blocking.
    if (io.poll_one() > 0) continue;
    if (io.run_one() == 0) return;  // stopped, or out of work
  }
}

}  // namespace raftd
