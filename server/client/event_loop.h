// The daemon's event loop, run as Redis's ae loop runs: handle what is ready (a bounded batch,
// so a stream of events cannot starve the rest), then the "before sleep" work, then block for
// the next event.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>  // before boost/asio (g++ 12 + Boost 1.74)

namespace raftd {

struct EventLoopLimits {
  /// A batch ends after this many handlers...
  int handlers_per_turn = 1024;
  /// ... or once it has run this long: a few slow handlers (a client sending a value of
  /// hundreds of MB) must not hold back before_sleep, where a lone voter syncs and commits
  /// everyone else's writes.
  std::chrono::microseconds max_turn{10000};
  /// Microseconds on a steady clock; empty: std::chrono::steady_clock (tests inject one).
  std::function<std::int64_t()> now_us;
};

/// Runs `io` until it is stopped or out of work. `before_sleep` runs after every batch of
/// handlers (see EventLoopLimits), and whenever the loop is about to block; it returns true
/// when it left work for the next turn, and the loop then does not block. Work it posts runs
/// before the loop blocks - unless `io` has already run out of work (Asio has then stopped it).
void run_event_loop(boost::asio::io_context& io, const std::function<bool()>& before_sleep,
                    const EventLoopLimits& limits = {});

}  // namespace raftd
