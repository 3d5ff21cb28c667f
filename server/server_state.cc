// State shared by every part of the daemon (server_state.h): config, counters, clients.
#include "server/server_state.h"

#include <random>

namespace raftd {

void InstantaneousMetric::sample(std::uint64_t value, std::int64_t now_ms) {
  if (last_ms_ != 0 && now_ms > last_ms_) {
    const std::uint64_t delta = value >= last_value_ ? value - last_value_ : 0;
    rates_[next_] = delta * 1000 / static_cast<std::uint64_t>(now_ms - last_ms_);
    next_ = (next_ + 1) % kSamples;
  }
  last_value_ = value;
  last_ms_ = now_ms;
}

std::uint64_t InstantaneousMetric::per_second() const {
  std::uint64_t sum = 0;
  for (std::uint64_t r : rates_) sum += r;
  return sum / kSamples;
}

ServerState::ServerState(Config cfg, const CommandTable& table, StateMachine& sm)
    : config(std::move(cfg)),
      commands(table),
      state_machine(sm),
      start_ms_(wall_ms()),
      start_steady_(std::chrono::steady_clock::now()) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  run_id.reserve(40);
  for (int i = 0; i < 40; ++i) run_id += kHex[rd() % 16];
}

std::int64_t ServerState::uptime_seconds() const {
  using namespace std::chrono;
  return duration_cast<seconds>(steady_clock::now() - start_steady_).count();
}

}  // namespace raftd
