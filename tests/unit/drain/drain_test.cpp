// SPDX-License-Identifier: Apache-2.0
#include "drain/drain.h"

#include <doctest/doctest.h>

#include <csignal>

#include "support.h"

using namespace lameduck;
using Kind = DrainAction::Kind;
using namespace std::chrono_literals;

namespace {

const TimePoint t0 = TimePoint(1000s);
const WaitOutcome gone{WaitOutcome::Kind::done, "Pod left every EndpointSlice"};
const WaitOutcome failed{WaitOutcome::Kind::failed, "403 Forbidden"};

std::vector<Kind> kinds(const std::vector<DrainAction>& actions) {
  std::vector<Kind> out;
  for (const auto& a : actions) out.push_back(a.kind);
  return out;
}

bool has(const std::vector<DrainAction>& actions, Kind kind) {
  for (const auto& a : actions) {
    if (a.kind == kind) return true;
  }
  return false;
}

DrainConfig fixed(Millis delay) {
  DrainConfig c;
  c.delay = delay;
  c.max_delay = 25s;
  return c;
}

}  // namespace

TEST_CASE("no delay: SIGTERM is forwarded at once, like tini") {
  Drain d(fixed(0ms));
  auto a = d.on_signal(SIGTERM, t0);
  CHECK(has(a, Kind::send_stop));
  CHECK(d.phase() == DrainPhase::stopping);
  CHECK_FALSE(d.deadline());
}

TEST_CASE("fixed delay: the stop waits for the deadline") {
  Drain d(fixed(15s));
  CHECK(d.on_signal(SIGTERM, t0).empty());
  CHECK(d.phase() == DrainPhase::waiting_delay);
  CHECK(d.deadline() == t0 + 15s);
  CHECK(d.on_tick(t0 + 14999ms).empty());
  CHECK(has(d.on_tick(t0 + 15s), Kind::send_stop));
  CHECK(d.phase() == DrainPhase::stopping);
}

TEST_CASE("max-delay caps the fixed delay") {
  auto c = fixed(60s);
  c.max_delay = 10s;
  Drain d(c);
  d.on_signal(SIGTERM, t0);
  CHECK(d.deadline() == t0 + 10s);
}

TEST_CASE("a second SIGTERM or a SIGINT skips the wait") {
  SUBCASE("SIGTERM") {
    Drain d(fixed(15s));
    d.on_signal(SIGTERM, t0);
    CHECK(has(d.on_signal(SIGTERM, t0 + 1s), Kind::send_stop));
  }
  SUBCASE("SIGINT") {
    Drain d(fixed(15s));
    d.on_signal(SIGTERM, t0);
    CHECK(has(d.on_signal(SIGINT, t0 + 1s), Kind::send_stop));
  }
}

TEST_CASE("SIGINT while serving, and signals after the stop, are plain forwards") {
  Drain d(fixed(15s));
  CHECK(kinds(d.on_signal(SIGINT, t0)) == std::vector{Kind::forward});
  CHECK(d.phase() == DrainPhase::serving);
  d.on_signal(SIGTERM, t0);
  d.on_tick(t0 + 15s);
  CHECK(kinds(d.on_signal(SIGTERM, t0 + 16s)) == std::vector{Kind::forward});
  auto forwarded = d.on_signal(SIGINT, t0 + 16s);
  CHECK(kinds(forwarded) == std::vector{Kind::forward});
  CHECK(forwarded.front().sig == SIGINT);
  CHECK_FALSE(d.handles(SIGTERM));
  CHECK(kinds(d.on_signal(SIGHUP, t0 + 16s)) == std::vector{Kind::forward});
}

TEST_CASE("handles() says which signals are drain events") {
  Drain d(fixed(15s));
  CHECK(d.handles(SIGTERM));
  CHECK_FALSE(d.handles(SIGINT));
  CHECK_FALSE(d.handles(SIGHUP));
  d.on_signal(SIGTERM, t0);
  CHECK(d.handles(SIGTERM));
  CHECK(d.handles(SIGINT));
}

TEST_CASE("kill-after arms a SIGKILL deadline after the stop signal") {
  auto c = fixed(1s);
  c.kill_after = 3s;
  Drain d(c);
  d.on_signal(SIGTERM, t0);
  d.on_tick(t0 + 1s);
  CHECK(d.deadline() == t0 + 4s);
  CHECK(d.on_tick(t0 + 3s).empty());
  CHECK(kinds(d.on_tick(t0 + 4s)) == std::vector{Kind::send_kill});
  CHECK(d.phase() == DrainPhase::killed);
  CHECK_FALSE(d.deadline());
}

TEST_CASE("endpoints: watch, gone, settle, stop") {
  Drain d(test::endpoints_drain());
  CHECK(kinds(d.on_signal(SIGTERM, t0)) == std::vector{Kind::start_wait});
  CHECK(d.phase() == DrainPhase::waiting_endpoints);
  CHECK(d.deadline() == t0 + 25s);
  CHECK(d.on_tick(t0 + 2s).empty());
  auto a = d.on_wait(WaitKind::endpoints, gone, t0 + 2s);
  CHECK(has(a, Kind::stop_wait));
  CHECK(d.phase() == DrainPhase::settling);
  CHECK(d.deadline() == t0 + 7s);
  CHECK(has(d.on_tick(t0 + 7s), Kind::send_stop));
}

TEST_CASE("endpoints: settle 0 stops at once") {
  auto c = test::endpoints_drain();
  c.settle = 0s;
  Drain d(c);
  d.on_signal(SIGTERM, t0);
  auto a = d.on_wait(WaitKind::endpoints, gone, t0 + 1s);
  CHECK(has(a, Kind::send_stop));
}

TEST_CASE("endpoints: settle never passes max-delay") {
  Drain d(test::endpoints_drain());
  d.on_signal(SIGTERM, t0);
  d.on_wait(WaitKind::endpoints, gone, t0 + 23s);
  CHECK(d.deadline() == t0 + 25s);
}

TEST_CASE("endpoints: the watch is bounded by max-delay") {
  Drain d(test::endpoints_drain());
  d.on_signal(SIGTERM, t0);
  auto a = d.on_tick(t0 + 25s);
  CHECK(has(a, Kind::stop_wait));
  CHECK(has(a, Kind::send_stop));
}

TEST_CASE("endpoints: an API failure falls back to the delay counted from the start") {
  Drain d(test::endpoints_drain());
  d.on_signal(SIGTERM, t0);
  d.on_wait(WaitKind::endpoints, failed, t0 + 1s);
  CHECK(d.phase() == DrainPhase::waiting_delay);
  CHECK(d.deadline() == t0 + 15s);
  SUBCASE("late failure past the delay stops at once") {
    Drain late(test::endpoints_drain());
    late.on_signal(SIGTERM, t0);
    CHECK(has(late.on_wait(WaitKind::endpoints, failed, t0 + 20s), Kind::send_stop));
  }
}

TEST_CASE("preStop drain reports done and waits for the kubelet's SIGTERM") {
  Drain d(fixed(3s));
  CHECK(d.on_prestop(t0).empty());
  auto a = d.on_tick(t0 + 3s);
  CHECK(kinds(a) == std::vector{Kind::report_drained});
  CHECK(d.phase() == DrainPhase::drained);
  // The SIGTERM that follows the hook is forwarded at once: no second wait.
  CHECK(has(d.on_signal(SIGTERM, t0 + 3100ms), Kind::send_stop));
}

TEST_CASE("a preStop drain with no SIGTERM after it expires: the next SIGTERM drains again") {
  // --max-delay 25s: the drained state holds until 25s (the cap) + 25s.
  Drain d(fixed(3s));
  d.on_prestop(t0);
  d.on_tick(t0 + 3s);
  REQUIRE(d.phase() == DrainPhase::drained);
  CHECK(d.deadline() == t0 + 50s);
  CHECK(d.on_tick(t0 + 50s - 1ms).empty());
  CHECK(d.phase() == DrainPhase::drained);
  auto a = d.on_tick(t0 + 50s);
  REQUIRE(kinds(a) == std::vector{Kind::expired});
  CHECK(a[0].why == "preStop drained 47s ago and no SIGTERM followed");
  CHECK(d.phase() == DrainPhase::serving);
  CHECK_FALSE(d.deadline());
  // A real termination, later: a full drain again, not a stop at once.
  a = d.on_signal(SIGTERM, t0 + 3600s);
  CHECK_FALSE(has(a, Kind::send_stop));
  CHECK(d.phase() == DrainPhase::waiting_delay);
  CHECK(d.deadline() == t0 + 3603s);
  CHECK(has(d.on_tick(t0 + 3603s), Kind::send_stop));
  SUBCASE("a short --max-delay holds at least 5s") {
    DrainConfig c = fixed(0s);
    c.max_delay = 1s;
    Drain e(c);
    e.on_prestop(t0);
    CHECK(e.phase() == DrainPhase::drained);
    CHECK(e.deadline() == t0 + 1s + kMinDrainedHold);
    CHECK(kinds(e.on_tick(t0 + 6s)) == std::vector{Kind::expired});
  }
  SUBCASE("a SIGTERM in time stops at once, without an expiry") {
    Drain e(fixed(3s));
    e.on_prestop(t0);
    e.on_tick(t0 + 3s);
    CHECK(has(e.on_signal(SIGTERM, t0 + 49s), Kind::send_stop));
    CHECK(e.phase() == DrainPhase::stopping);
    CHECK_FALSE(e.deadline());
  }
}

TEST_CASE("a hook that waited on its own: PID 1 skips its wait after SIGTERM") {
  Drain d(fixed(3s));
  CHECK(d.on_prestop_waited(t0).empty());
  CHECK(d.phase() == DrainPhase::drained);
  CHECK(d.deadline() == t0 + 50s);  // it expires like any preStop drain
  CHECK(has(d.on_signal(SIGTERM, t0 + 1s), Kind::send_stop));
  SUBCASE("a preStop-started wait ends") {
    Drain e(fixed(3s));
    e.on_prestop(t0);
    auto a = e.on_prestop_waited(t0 + 1s);
    CHECK(has(a, Kind::report_drained));
    CHECK(e.phase() == DrainPhase::drained);
  }
  SUBCASE("after a SIGTERM, PID 1's own wait goes on") {
    Drain e(fixed(3s));
    e.on_signal(SIGTERM, t0);
    CHECK(e.on_prestop_waited(t0 + 1s).empty());
    CHECK(e.phase() == DrainPhase::waiting_delay);
  }
}

TEST_CASE("SIGTERM during a preStop drain finishes that one drain, then stops") {
  Drain d(fixed(3s));
  d.on_prestop(t0);
  CHECK(d.on_signal(SIGTERM, t0 + 1s).empty());
  auto a = d.on_tick(t0 + 3s);
  CHECK(has(a, Kind::report_drained));
  CHECK(has(a, Kind::send_stop));
  SUBCASE("and a second SIGTERM then skips") {
    Drain e(fixed(3s));
    e.on_prestop(t0);
    e.on_signal(SIGTERM, t0 + 1s);
    CHECK(has(e.on_signal(SIGTERM, t0 + 2s), Kind::send_stop));
  }
}

TEST_CASE("a preStop after the drain answers at once") {
  Drain d(fixed(0s));
  d.on_signal(SIGTERM, t0);
  CHECK(kinds(d.on_prestop(t0 + 1s)) == std::vector{Kind::report_drained});
}

TEST_CASE("events out of phase are ignored") {
  Drain d(fixed(5s));
  CHECK(d.on_wait(WaitKind::endpoints, gone, t0).empty());
  CHECK(d.on_wait(WaitKind::endpoints, failed, t0).empty());
  CHECK(d.on_tick(t0).empty());
  CHECK(d.phase() == DrainPhase::serving);
}

namespace {

const WaitOutcome quiet{WaitOutcome::Kind::done, "quiet for 2s since t=+7400ms"};

DrainConfig with_traffic(DrainConfig c) {
  c.wait_traffic = true;
  c.quiet = 2s;
  return c;
}

bool starts(const std::vector<DrainAction>& actions, WaitKind wait) {
  for (const auto& a : actions) {
    if (a.kind == Kind::start_wait && a.wait == wait) return true;
  }
  return false;
}

bool stops(const std::vector<DrainAction>& actions, WaitKind wait) {
  for (const auto& a : actions) {
    if (a.kind == Kind::stop_wait && a.wait == wait) return true;
  }
  return false;
}

std::string stop_why(const std::vector<DrainAction>& actions) {
  for (const auto& a : actions) {
    if (a.kind == Kind::send_stop) return a.why;
  }
  return "";
}

}  // namespace

TEST_CASE("traffic: after the slices, watched from settle - quiet, so never before settle") {
  Drain d(with_traffic(test::endpoints_drain()));
  CHECK(starts(d.on_signal(SIGTERM, t0), WaitKind::endpoints));
  auto a = d.on_wait(WaitKind::endpoints, gone, t0 + 1s);
  CHECK(stops(a, WaitKind::endpoints));
  CHECK_FALSE(starts(a, WaitKind::traffic));
  CHECK(d.phase() == DrainPhase::settling);
  CHECK(d.deadline() == t0 + 4s);  // gone + settle 5s - quiet 2s
  a = d.on_tick(t0 + 4s);
  CHECK(starts(a, WaitKind::traffic));
  CHECK_FALSE(has(a, Kind::send_stop));
  CHECK(d.phase() == DrainPhase::waiting_traffic);
  CHECK(d.deadline() == t0 + 25s);
  a = d.on_wait(WaitKind::traffic, quiet, t0 + 9400ms);
  CHECK(stops(a, WaitKind::traffic));
  CHECK(stop_why(a) == "quiet for 2s since t=+7400ms");
  CHECK(d.phase() == DrainPhase::stopping);
}

TEST_CASE("traffic: a settle shorter than the quiet period starts the traffic wait at once") {
  auto c = with_traffic(test::endpoints_drain());
  c.settle = 1s;
  Drain d(c);
  d.on_signal(SIGTERM, t0);
  auto a = d.on_wait(WaitKind::endpoints, gone, t0 + 1s);
  CHECK(starts(a, WaitKind::traffic));
  CHECK(d.phase() == DrainPhase::waiting_traffic);
}

TEST_CASE("traffic: never after --max-delay; the cap is the reason") {
  Drain d(with_traffic(test::endpoints_drain()));
  d.on_signal(SIGTERM, t0);
  d.on_wait(WaitKind::endpoints, gone, t0 + 1s);
  d.on_tick(t0 + 4s);
  CHECK(d.on_tick(t0 + 24999ms).empty());
  auto a = d.on_tick(t0 + 25s);
  CHECK(stops(a, WaitKind::traffic));
  CHECK(stop_why(a) == "max-delay 25s reached");
  // A late report changes nothing.
  CHECK(d.on_wait(WaitKind::traffic, quiet, t0 + 26s).empty());
}

TEST_CASE("traffic: slices gone close to the cap: the cap still holds") {
  Drain d(with_traffic(test::endpoints_drain()));
  d.on_signal(SIGTERM, t0);
  d.on_wait(WaitKind::endpoints, gone, t0 + 23s);
  CHECK(d.phase() == DrainPhase::settling);
  CHECK(d.deadline() == t0 + 25s);
  auto a = d.on_tick(t0 + 25s);
  CHECK_FALSE(starts(a, WaitKind::traffic));
  CHECK(stop_why(a) == "max-delay 25s reached");
}

TEST_CASE("traffic: without the API it starts with the drain, capped by --delay") {
  Drain d(with_traffic(fixed(15s)));
  auto a = d.on_signal(SIGTERM, t0);
  CHECK(starts(a, WaitKind::traffic));
  CHECK(d.phase() == DrainPhase::waiting_traffic);
  CHECK(d.deadline() == t0 + 15s);
  a = d.on_tick(t0 + 15s);
  CHECK(stops(a, WaitKind::traffic));
  CHECK(stop_why(a) == "delay 15s over");
}

TEST_CASE("traffic: quiet ends the wait without the API too") {
  Drain d(with_traffic(fixed(15s)));
  d.on_signal(SIGTERM, t0);
  auto a = d.on_wait(WaitKind::traffic, quiet, t0 + 2s);
  CHECK(stop_why(a) == "quiet for 2s since t=+7400ms");
}

TEST_CASE("traffic: --delay 0 outside Kubernetes still forwards at once, like tini") {
  Drain d(with_traffic(fixed(0ms)));
  auto a = d.on_signal(SIGTERM, t0);
  CHECK_FALSE(starts(a, WaitKind::traffic));
  CHECK(has(a, Kind::send_stop));
}

TEST_CASE("traffic: after an API failure, capped by the fallback delay from the start") {
  Drain d(with_traffic(test::endpoints_drain()));
  d.on_signal(SIGTERM, t0);
  auto a = d.on_wait(WaitKind::endpoints, failed, t0 + 2s);
  CHECK(stops(a, WaitKind::endpoints));
  CHECK(starts(a, WaitKind::traffic));
  CHECK(d.deadline() == t0 + 15s);
  CHECK(stop_why(d.on_tick(t0 + 15s)) == "fallback delay 15s over");
}

TEST_CASE("traffic: an API failure after the fallback delay ends the wait at once") {
  Drain d(with_traffic(test::endpoints_drain()));
  d.on_signal(SIGTERM, t0);
  auto a = d.on_wait(WaitKind::endpoints, failed, t0 + 16s);
  CHECK_FALSE(starts(a, WaitKind::traffic));
  CHECK(has(a, Kind::send_stop));
}

TEST_CASE("traffic: a second SIGTERM or SIGINT skips it and stops the traffic wait") {
  for (int sig : {SIGTERM, SIGINT}) {
    Drain d(with_traffic(fixed(15s)));
    d.on_signal(SIGTERM, t0);
    auto a = d.on_signal(sig, t0 + 1s);
    CHECK(stops(a, WaitKind::traffic));
    CHECK(has(a, Kind::send_stop));
  }
}

TEST_CASE("traffic: a preStop drain waits for the traffic, then releases the hook") {
  Drain d(with_traffic(fixed(15s)));
  auto a = d.on_prestop(t0);
  CHECK(starts(a, WaitKind::traffic));
  a = d.on_wait(WaitKind::traffic, quiet, t0 + 2s);
  CHECK(has(a, Kind::report_drained));
  CHECK_FALSE(has(a, Kind::send_stop));
  CHECK(d.phase() == DrainPhase::drained);
}
