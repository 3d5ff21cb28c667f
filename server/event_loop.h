// The daemon's event loop, run as Redis's ae loop runs: handle what is ready (a bounded batch,
// so a stream of events cannot starve the rest), then the "before sleep" work, then block for
// the next event.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <utility>  // before boost/asio (g++ 12 + Boost 1.74)

namespace raftd {

/// Runs `io` until it is stopped or out of work. `before_sleep` runs after every batch of at
/// most `handlers_per_turn` handlers, and whenever the loop is about to block; it returns true
/// when it left work for the next turn, and the loop then does not block. Work it posts runs
/// before the loop blocks - unless `io` has already run out of work (Asio has then stopped it).
void run_event_loop(boost::asio::io_context& io, const std::function<bool()>& before_sleep,
                    int handlers_per_turn = 1024);

}  // namespace raftd
