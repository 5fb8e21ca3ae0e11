// SPDX-License-Identifier: Apache-2.0
#include "traffic/quiet_rule.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace lameduck;

namespace {

constexpr Millis kFloor{2000};
constexpr Millis kCap{25000};

// A Pod of `age` that accepted `rate` connections a second all its life, `elapsed` into
// the wait, where it saw the same rate and nothing that does not count.
RateEvidence steady(double rate, Millis age, Millis elapsed) {
  RateEvidence e;
  e.age = age;
  e.lifetime_opens = static_cast<std::uint64_t>(rate * static_cast<double>(age.count()) / 1000);
  e.elapsed = elapsed;
  e.opens = static_cast<std::uint64_t>(rate * static_cast<double>(elapsed.count()) / 1000);
  e.requests = e.opens;
  return e;
}

}  // namespace

TEST_CASE("the quiet is ln(1000)/rate, rounded up to 100 ms") {
  // 1845 connections over 41 minutes, taken low (n - 2·sqrt(n)), less (0 + 1) / 4 s that
  // might not count.
  auto c = choose_quiet(steady(0.75, Millis(41 * 60'000), Millis(4000)), kFloor, kCap);
  CHECK(c.rate == doctest::Approx((1845 - 2 * std::sqrt(1845.0)) / 2460 - 0.25));
  CHECK(c.quiet == Millis(14900));
  CHECK(c.why.find("0.75 new connections/s over 41m") != std::string::npos);
  // Later in the wait the doubt about the connections that do not count shrinks.
  c = choose_quiet(steady(0.75, Millis(41 * 60'000), Millis(20000)), kFloor, kCap);
  CHECK(c.quiet == Millis(10400));
}

TEST_CASE("a young Pod's few requests say little: the rate is taken low") {
  // 4 requests over 4 s could be 1/s or 2/s by chance: nothing is learned from them.
  RateEvidence e;
  e.age = Millis(4000);
  e.lifetime_segments = 4;
  CHECK(choose_quiet(e, kFloor, kCap).quiet == kCap);
}

TEST_CASE("a busy Pod gets the floor") {
  auto c = choose_quiet(steady(100, Millis(600'000), Millis(3000)), kFloor, kCap);
  CHECK(c.quiet == kFloor);
}

TEST_CASE("no rate learned: the cap") {
  RateEvidence unknown;
  auto c = choose_quiet(unknown, kFloor, kCap);
  CHECK(c.quiet == kCap);
  CHECK(c.rate == 0);
  CHECK(c.why.find("no request rate learned (the Pod's age is unknown") == 0);
  // The first look: every connection of the counter might be one that does not count.
  c = choose_quiet(steady(5, Millis(600'000), Millis(0)), kFloor, kCap);
  CHECK(c.quiet == kCap);
}

TEST_CASE("a rate too low for the cap: the cap, and the log says so") {
  auto c = choose_quiet(steady(0.3, Millis(3'600'000), Millis(10000)), kFloor, kCap);
  CHECK(c.quiet == kCap);
  CHECK(c.why.find("capped by --max-delay") != std::string::npos);
}

TEST_CASE("connections that do not count are taken off the lifetime rate") {
  // 1 request/s that counts and 5 probes/sidecar connections that do not.
  auto e = steady(6, Millis(600'000), Millis(10000));
  e.uncounted = 50;
  e.requests = 10;
  auto c = choose_quiet(e, kFloor, kCap);
  CHECK(c.rate == doctest::Approx((3600 - 120) / 600.0 - 5.1));
  CHECK(c.quiet == Millis(9900));
}

TEST_CASE("a lifetime rate the wait contradicts is dropped (an older namespace)") {
  // The counter says 10/s over PID 1's age, the wait saw 2 new connections in 10 s.
  auto e = steady(10, Millis(60'000), Millis(10000));
  e.opens = 2;
  e.requests = 2;
  auto c = choose_quiet(e, kFloor, kCap);
  CHECK(c.quiet == kCap);
  CHECK(c.why.find("not seen in the wait: dropped") != std::string::npos);
}

TEST_CASE("requests on open connections count over PID 1's age") {
  RateEvidence e;
  e.age = Millis(1000'000);
  e.lifetime_segments = 2000;  // 2/s
  e.elapsed = Millis(3000);
  auto c = choose_quiet(e, kFloor, kCap);
  CHECK(c.rate == doctest::Approx((2000 - 2 * std::sqrt(2000.0)) / 1000));
  CHECK(c.quiet == Millis(3700));
}

TEST_CASE("the wait's own requests, taken low, can only shorten a longer quiet") {
  RateEvidence e;
  e.elapsed = Millis(4000);
  e.requests = 400;  // 100/s, no age known
  auto c = choose_quiet(e, kFloor, kCap);
  CHECK(c.rate == doctest::Approx((400 - 40) / 4.0));
  CHECK(c.quiet == kFloor);
  e.requests = 3;  // too few to tell
  CHECK(choose_quiet(e, kFloor, kCap).quiet == kCap);
}
