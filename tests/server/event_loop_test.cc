// run_event_loop (server/client/event_loop.h): before_sleep runs between bounded batches of
// handlers, so work that is always ready cannot starve it, and the loop returns when the work is
// done.
#include "server/client/event_loop.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <vector>

TEST_CASE("before_sleep runs between bounded batches of always-ready work", "[event_loop]") {
  boost::asio::io_context io;
  int remaining = 10000;
  int handled = 0;
  std::function<void()> storm = [&] {
    ++handled;
    if (--remaining > 0) boost::asio::post(io, storm);  // ready again at once
  };
  boost::asio::post(io, storm);
  std::vector<int> handled_at_sleep;
  auto before_sleep = [&] {
    handled_at_sleep.push_back(handled);
    return false;
  };
  raftd::EventLoopLimits limits;
  limits.handlers_per_turn = 100;
  raftd::run_event_loop(io, before_sleep, limits);
  CHECK(handled == 10000);
  // Once per 100 handlers while the storm lasts, not once at its end.
  REQUIRE(handled_at_sleep.size() >= 100);
  CHECK(handled_at_sleep.front() == 100);
  CHECK(handled_at_sleep[1] == 200);
}

TEST_CASE("before_sleep also runs once a batch has taken its time", "[event_loop]") {
  // Slow handlers (a client's huge value being read) end a batch by time, not count: the clock
  // is injected, and each handler "takes" 4 ms of it.
  boost::asio::io_context io;
  std::int64_t clock_us = 0;
  int remaining = 50;
  int handled = 0;
  std::function<void()> slow = [&] {
    ++handled;
    clock_us += 4000;
    if (--remaining > 0) boost::asio::post(io, slow);
  };
  boost::asio::post(io, slow);
  std::vector<int> handled_at_sleep;
  raftd::EventLoopLimits limits;
  limits.max_turn = std::chrono::microseconds(10000);
  limits.now_us = [&] { return clock_us; };
  raftd::run_event_loop(
      io,
      [&] {
        handled_at_sleep.push_back(handled);
        return false;
      },
      limits);
  CHECK(handled == 50);
  // 10 ms is reached at the third handler of each batch.
  REQUIRE(handled_at_sleep.size() >= 16);
  CHECK(handled_at_sleep[0] == 3);
  CHECK(handled_at_sleep[1] == 6);
}

TEST_CASE("work queued by before_sleep runs before the loop blocks or returns", "[event_loop]") {
  boost::asio::io_context io;
  int sleeps = 0;
  bool flushed = false;
  boost::asio::steady_timer later(io, std::chrono::milliseconds(1));
  bool fired = false;
  later.async_wait([&](const boost::system::error_code&) { fired = true; });
  raftd::run_event_loop(io, [&] {
    if (++sleeps == 1) boost::asio::post(io, [&] { flushed = true; });
    return false;
  });
  CHECK(flushed);
  CHECK(fired);  // the loop blocked for the timer and returned once nothing was left
  CHECK(sleeps >= 2);
}

TEST_CASE("a stopped io_context ends the loop", "[event_loop]") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);  // would keep run_one() blocking forever
  boost::asio::post(io, [&] { io.stop(); });
  int sleeps = 0;
  raftd::run_event_loop(io, [&] {
    ++sleeps;
    return false;
  });
  CHECK(sleeps >= 1);
}

TEST_CASE("work before_sleep leaves for the next turn keeps the loop from blocking",
          "[event_loop]") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);  // nothing else to wake a blocked loop
  boost::asio::steady_timer deadline(io, std::chrono::seconds(5));
  bool timed_out = false;
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (ec) return;
    timed_out = true;
    io.stop();
  });
  int sleeps = 0;
  raftd::run_event_loop(io, [&] {
    // Work left five times in a row; then done, and the loop may block (stopped here).
    if (++sleeps == 6) io.stop();
    return sleeps < 6;
  });
  CHECK_FALSE(timed_out);
  CHECK(sleeps == 6);
}
