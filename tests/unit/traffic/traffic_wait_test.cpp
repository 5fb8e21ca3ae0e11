// SPDX-License-Identifier: Apache-2.0
#include "traffic/traffic_wait.h"

#include <doctest/doctest.h>

using namespace lameduck;

namespace {

const TimePoint t0{};
TimePoint at(int ms) {
  return t0 + Millis(ms);
}

// The namespace as a test sets it: each look is stamped with `stamp`.
class ScriptedLooks final : public LookSource {
 public:
  TimePoint stamp{};
  std::uint64_t opens = 0;
  std::vector<SocketSample> sockets;
  std::optional<Millis> age;
  TrafficLook take() override { return {stamp, opens, sockets, std::vector<SocketSample>{}, ""}; }
  void close() override {}
  std::optional<Millis> pod_age() override { return age; }
};

SocketSample listener() {
  SocketSample s;
  s.cookie = 1;
  s.local = *parse_ip("0.0.0.0");
  s.local_port = 8080;
  s.state = TcpState::listen;
  return s;
}

SocketSample pooled(std::uint64_t bytes) {
  SocketSample s;
  s.cookie = 2;
  s.local = *parse_ip("10.0.0.5");
  s.local_port = 8080;
  s.peer = *parse_ip("10.0.3.7");
  s.peer_port = 41000;
  s.state = TcpState::established;
  s.bytes_received = bytes;
  s.data_segments = static_cast<std::uint32_t>(bytes / 100);
  return s;
}

// Looks at `now`; the reads end at `stamp`.
std::optional<WaitOutcome> look(TrafficWait& wait, ScriptedLooks& ns, int now, int stamp) {
  ns.stamp = at(stamp);
  REQUIRE(wait.next_timeout());
  CHECK(*wait.next_timeout() <= at(now));
  return wait.on_ready({}, at(now));
}

}  // namespace

TEST_CASE("bytes are dated when the look read them, not when the loop woke up") {
  // Issue 20 item 2: on a busy machine the reads of a look can start long after the loop
  // woke up; bytes that arrived meanwhile were dated to the wake-up, so the quiet period
  // was cut short by that delay.
  TrafficOptions options;
  options.quiet = Millis(1000);
  options.auto_quiet = false;
  auto probe = std::make_unique<ScriptedLooks>();
  auto& ns = *probe;
  ns.sockets = {listener(), pooled(0)};
  TrafficWait wait(options, "test", std::nullopt, Millis(25000), std::move(probe));
  Timeline timeline;
  timeline.start(at(0));
  wait.set_timeline(timeline);
  CHECK_FALSE(wait.start(at(0)));

  ns.sockets[1] = pooled(1000);
  CHECK_FALSE(look(wait, ns, 250, 490));  // woke at 250, read at 490
  CHECK(wait.policy().quiet_since() == at(490));
  for (int now : {500, 750, 1000, 1250}) CHECK_FALSE(look(wait, ns, now, now));
  auto done = look(wait, ns, 1490, 1490);
  REQUIRE(done);
  CHECK(done->reason == "quiet for 1s since t=+490ms");
  wait.stop();
}

TEST_CASE("--quiet auto learns the rate from the Pod's lifetime and sets the quiet") {
  TrafficOptions options;  // --quiet auto: the default
  auto probe = std::make_unique<ScriptedLooks>();
  auto& ns = *probe;
  ns.sockets = {listener(), pooled(100'000)};  // 1000 requests on one pooled connection
  ns.age = Millis(1000'000);                   // over 1000 s: 1 request a second
  TrafficWait wait(options, "test", std::nullopt, Millis(25000), std::move(probe));
  wait.start(at(0));
  // (1000 - 2·sqrt(1000)) / 1000 s = 0.94/s: ln(1000)/0.94 = 7.37 s, up to 100 ms.
  CHECK(wait.policy().quiet() == Millis(7400));

  SUBCASE("an unknown age: the cap") {
    auto unknown = std::make_unique<ScriptedLooks>();
    unknown->sockets = {listener()};
    TrafficWait blind(options, "test", std::nullopt, Millis(25000), std::move(unknown));
    blind.start(at(0));
    CHECK(blind.policy().quiet() == Millis(25000));
  }
  wait.stop();
}
