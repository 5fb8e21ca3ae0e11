// SPDX-License-Identifier: Apache-2.0
#include "drain/drain_runner.h"

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <csignal>
#include <sstream>
#include <thread>

#include "support.h"

using namespace lameduck;
using namespace std::chrono_literals;

namespace {

// A wait source with scripted outcomes; its one "descriptor" is fd 42.
class FakeSource final : public WaitSource {
 public:
  std::optional<WaitOutcome> at_start;  // returned by start()
  std::optional<WaitOutcome> next;      // returned by the next on_ready()
  Millis busy{0};                       // how long on_ready takes
  int starts = 0;
  int stops = 0;
  std::size_t last_fds = 0;

  std::optional<WaitOutcome> start(TimePoint) override {
    ++starts;
    return std::exchange(at_start, std::nullopt);
  }
  void stop() override { ++stops; }
  void add_fds(std::vector<pollfd>& fds) override { fds.push_back({42, POLLIN, 0}); }
  std::optional<TimePoint> next_timeout() const override { return std::nullopt; }
  std::optional<WaitOutcome> on_ready(std::span<const pollfd> fds, TimePoint) override {
    last_fds = fds.size();
    if (!fds.empty()) CHECK(fds.front().fd == 42);
    if (busy.count() > 0) std::this_thread::sleep_for(busy);
    return std::exchange(next, std::nullopt);
  }
};

class FakeEffects final : public DrainEffects {
 public:
  explicit FakeEffects(const Timeline& timeline) : timeline_(timeline) {}
  std::vector<std::string> calls;
  Millis stopped_at{-1};  // the timeline's reading when send_stop ran

  void send_stop(std::string_view why) override {
    calls.push_back("stop: " + std::string(why));
    stopped_at = timeline_.elapsed();
  }
  void send_kill(std::string_view why) override { calls.push_back("kill: " + std::string(why)); }
  void forward(int sig) override { calls.push_back("forward " + std::to_string(sig)); }
  void report_draining(TimePoint) override { calls.push_back("draining"); }
  void report_drained(std::string_view why) override {
    calls.push_back("drained: " + std::string(why));
  }
  std::string after_wait(bool stopping) const override { return stopping ? "stop" : "release"; }

 private:
  const Timeline& timeline_;
};

// Captures the log lines of one test.
struct CapturedLog {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  CapturedLog() {
    auto logger = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous); }
  std::string text() const { return out.str(); }
};

// One loop round with no descriptor ready: the sources' slices, then the deadline.
void round(DrainRunner& runner) {
  std::vector<pollfd> fds;
  runner.add_fds(fds);
  runner.on_ready(fds, Clock::now());
}

const WaitOutcome gone{WaitOutcome::Kind::done, "Pod left every EndpointSlice"};

}  // namespace

TEST_CASE("runner: no delay stops the app at once, and the timeline starts with SIGTERM") {
  CapturedLog log;
  Timeline timeline;
  FakeEffects effects(timeline);
  DrainConfig config;
  config.delay = 0ms;
  DrainRunner runner(config, {nullptr}, effects, timeline);
  CHECK_FALSE(timeline.started());
  runner.on_signal(SIGTERM, 0);
  CHECK(timeline.started());
  CHECK(effects.calls == std::vector<std::string>{"drained: delay 0s over", "stop: delay 0s over"});
  // The stamp is read as the line is written: 0 ms, or a few on a busy machine (a CI run
  // once wrote t=+1ms), never the time since some earlier start.
  std::string text = log.text();
  CHECK(text.starts_with("t=+"));
  auto ms = text.find("ms SIGTERM received from pid 0 (outside the container), app keeps serving");
  REQUIRE(ms != std::string::npos);
  CHECK(std::stoi(text.substr(3, ms - 3)) < 1000);
}

TEST_CASE("runner: the endpoint wait, then the settle, then the stop") {
  CapturedLog log;
  Timeline timeline;
  FakeEffects effects(timeline);
  FakeSource source;
  auto config = test::endpoints_drain();
  config.settle = 20ms;
  DrainRunner runner(config, {&source}, effects, timeline);
  runner.on_signal(SIGTERM, 7);
  CHECK(source.starts == 1);
  CHECK(runner.drain().phase() == DrainPhase::waiting_endpoints);

  std::vector<pollfd> fds{{3, POLLIN, 0}};  // another source's descriptor first
  runner.add_fds(fds);
  REQUIRE(fds.size() == 2);
  source.next = gone;
  runner.on_ready(std::span<const pollfd>(fds).subspan(1), Clock::now());
  CHECK(source.last_fds == 1);
  CHECK(source.stops == 1);
  CHECK(runner.drain().phase() == DrainPhase::settling);
  CHECK(effects.calls.empty());

  // Stopped: it is no longer polled.
  fds.clear();
  runner.add_fds(fds);
  CHECK(fds.empty());
  auto text = log.text();
  CHECK(text.find("waiting until the Pod left every EndpointSlice (at most 25s)") !=
        std::string::npos);
  CHECK(text.find("settling 20ms so consumers catch up") != std::string::npos);

  REQUIRE(runner.next_timeout());
  std::this_thread::sleep_until(*runner.next_timeout());
  round(runner);
  CHECK(effects.calls ==
        std::vector<std::string>{"drained: settle 20ms over", "stop: settle 20ms over"});
}

TEST_CASE("runner: a source that fails at start falls back to --delay, logged once") {
  CapturedLog log;
  Timeline timeline;
  FakeEffects effects(timeline);
  FakeSource source;
  source.at_start = WaitOutcome{WaitOutcome::Kind::failed, "no namespace"};
  auto config = test::endpoints_drain();
  config.delay = 0ms;
  DrainRunner runner(config, {&source}, effects, timeline);
  runner.on_signal(SIGTERM, 7);
  CHECK(source.stops == 1);
  CHECK(runner.drain().phase() == DrainPhase::stopping);
  CHECK(effects.calls.back() == "stop: fallback delay 0s over");
}

TEST_CASE("runner: a wait with no source set up is a failed one, not a hang") {
  CapturedLog log;  // quiet
  Timeline timeline;
  FakeEffects effects(timeline);
  auto config = test::endpoints_drain();
  config.delay = 0ms;
  DrainRunner runner(config, {nullptr}, effects, timeline);
  runner.on_signal(SIGTERM, 7);
  CHECK(runner.drain().phase() == DrainPhase::stopping);
}

TEST_CASE("runner: preStop answers 'draining' before 'done', and never stops the app") {
  CapturedLog log;  // quiet
  Timeline timeline;
  FakeEffects effects(timeline);
  DrainConfig config;
  config.delay = 0ms;
  DrainRunner runner(config, {nullptr}, effects, timeline);
  runner.on_prestop();
  CHECK(effects.calls == std::vector<std::string>{"draining", "drained: delay 0s over"});
  CHECK(runner.drain().phase() == DrainPhase::drained);
  // The kubelet's SIGTERM then stops the app at once.
  runner.on_signal(SIGTERM, 0);
  CHECK(effects.calls.back() == "stop: preStop drain already done");
}

TEST_CASE("runner: signals the drain does not act on are forwarded") {
  CapturedLog log;  // quiet
  Timeline timeline;
  FakeEffects effects(timeline);
  DrainRunner runner(DrainConfig{}, {nullptr}, effects, timeline);
  runner.on_signal(SIGINT, 0);  // serving: a plain forward
  CHECK(effects.calls == std::vector<std::string>{"forward " + std::to_string(SIGINT)});
  CHECK_FALSE(timeline.started());
}

TEST_CASE("runner: the wait is checked, and logged, with the clock after a slow source") {
  CapturedLog log;  // quiet
  // Issue 14 item 6: the log said 't=+12841ms max-delay 12s reached' when 28.4 s had
  // passed, because one 'now' taken after poll() served the whole round.
  Timeline timeline;
  FakeEffects effects(timeline);
  FakeSource source;
  auto config = test::endpoints_drain();
  config.max_delay = 30ms;
  DrainRunner runner(config, {&source}, effects, timeline);
  runner.on_signal(SIGTERM, 7);
  std::vector<pollfd> fds;
  runner.add_fds(fds);
  auto woke = Clock::now();  // before the cap
  source.busy = 80ms;
  runner.on_ready(fds, woke);
  // The cap passed during on_ready: the stop is sent in this round, stamped after 80 ms.
  REQUIRE(effects.calls.size() == 2);
  CHECK(effects.calls.back() == "stop: max-delay 30ms reached");
  CHECK(effects.stopped_at >= 80ms);
  CHECK(timeline.elapsed() >= 80ms);
}

TEST_CASE("runner: the settle counts from after a slow source returned its outcome") {
  CapturedLog log;  // quiet
  Timeline timeline;
  FakeEffects effects(timeline);
  FakeSource source;
  auto config = test::endpoints_drain();
  config.settle = 40ms;
  DrainRunner runner(config, {&source}, effects, timeline);
  runner.on_signal(SIGTERM, 7);
  auto woke = Clock::now();
  source.next = gone;
  source.busy = 60ms;
  std::vector<pollfd> fds;
  runner.add_fds(fds);
  runner.on_ready(fds, woke);
  REQUIRE(runner.drain().deadline());
  CHECK(*runner.drain().deadline() >= woke + 60ms + 40ms);
  CHECK(effects.calls.empty());
}

TEST_CASE("runner: the deadline wakes the loop and ends the wait") {
  CapturedLog log;  // quiet
  Timeline timeline;
  FakeEffects effects(timeline);
  DrainConfig config;
  config.delay = 20ms;
  DrainRunner runner(config, {nullptr}, effects, timeline);
  runner.on_signal(SIGTERM, 7);
  REQUIRE(runner.next_timeout());
  round(runner);
  CHECK(effects.calls.empty());
  std::this_thread::sleep_until(*runner.next_timeout());
  round(runner);
  CHECK(effects.calls.back() == "stop: delay 20ms over");
}

TEST_CASE("timeline: stamped from its start, plain before it") {
  CapturedLog log;
  Timeline timeline;
  timeline.info("before {}", 1);
  timeline.start(Clock::now() - 1500ms);
  timeline.info("after {}", 2);
  CHECK(log.text().rfind("before 1\n", 0) == 0);
  auto at = log.text().find("ms after 2\n");
  REQUIRE(at != std::string::npos);
  CHECK(log.text().find("t=+15", 0) != std::string::npos);  // 1500ms, or a little more
}

TEST_CASE("summary: the phases as a list, what ended the wait, the exit status") {
  DrainSummary summary{{{"endpoints", 3100ms}, {"settle", 5000ms}, {"stopping", 400ms}},
                       "slices gone, then settle 5s over",
                       ""};
  CHECK(format_summary(summary, 0) ==
        "endpoints 3.1s, settle 5s, stopping 400ms; ended by: slices gone, then settle 5s over; "
        "exit status 0");
  CHECK(format_summary({{}, "", ""}, std::nullopt) == "no wait; ended by: app exited");
  summary.started_by = "preStop hook (pid 42)";
  CHECK(format_summary(summary, 0) ==
        "endpoints 3.1s, settle 5s, stopping 400ms; started by: preStop hook (pid 42); ended by: "
        "slices gone, then settle 5s over; exit status 0");
}

TEST_CASE("summary: the runner records phases and the API fallback's reason") {
  CapturedLog log;  // quiet
  Timeline timeline;
  FakeEffects effects(timeline);
  FakeSource source;
  source.at_start = WaitOutcome{WaitOutcome::Kind::failed, "403 Forbidden"};
  auto config = test::endpoints_drain();
  config.delay = 0ms;
  DrainRunner runner(config, {&source}, effects, timeline);
  runner.on_signal(SIGTERM, 7);
  auto summary = runner.summary();
  // The fallback delay (0s) was over at once: no delay phase.
  REQUIRE(summary.phases.size() == 2);
  CHECK(summary.phases[0].name == "endpoints");
  CHECK(summary.phases[1].name == "stopping");
  CHECK(summary.ended_by == "API fallback (403 Forbidden), then fallback delay 0s over");
}
