// SPDX-License-Identifier: Apache-2.0
#include "init/supervisor.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/eventfd.h>

#include <stdexcept>

#include "base/unique_fd.h"

using namespace lameduck;

namespace {

// A control channel whose first request check throws, as a bug anywhere in a round would.
// Its descriptor is ready until then, so the loop gets a round before the app exits.
class ThrowingControl final : public ControlChannel {
 public:
  void add_fds(std::vector<pollfd>& fds) override {
    if (!thrown_) fds.push_back({ready_.get(), POLLIN, 0});
  }
  std::optional<TimePoint> next_timeout() const override { return std::nullopt; }
  void on_ready(std::span<const pollfd>, TimePoint) override {}
  std::optional<pid_t> take_drain_request() override {
    if (thrown_) return std::nullopt;
    thrown_ = true;
    throw std::runtime_error("a bug in a round");
  }
  std::optional<Waited> take_waited() override { return std::nullopt; }
  void report_draining(std::string_view) override {}
  void report_drained(std::string_view) override {}
  bool idle() const override { return true; }
  bool thrown() const { return thrown_; }

 private:
  UniqueFd ready_{::eventfd(1, EFD_CLOEXEC)};
  bool thrown_ = false;
};

}  // namespace

TEST_CASE("an exception in a round of the supervisor's loop is logged, and the app runs on") {
  sigset_t before;
  sigprocmask(SIG_SETMASK, nullptr, &before);
  {
    SignalFd signals;  // blocks every signal: the app's SIGCHLD is read from it
    RunOptions options;
    WaitSetup wait;
    Timeline timeline;
    sigset_t unblocked;
    sigemptyset(&unblocked);
    Child child = Child::spawn({"/bin/sh", "-c", "sleep 0.3; exit 3"}, unblocked);
    ThrowingControl control;
    Supervisor supervisor(options, wait, timeline, signals, child, &control);
    // Without the guard, the exception leaves run() (main: "internal error", exit 125).
    CHECK(supervisor.run() == 3);
    CHECK(control.thrown());
  }
  sigprocmask(SIG_SETMASK, &before, nullptr);
}

TEST_CASE("drain details") {
  using namespace std::chrono_literals;
  CHECK(describe_drain(DrainPhase::waiting_delay, 0ms, 15000ms) ==
        "phase=waiting-delay elapsed=0ms left=15000ms");
  CHECK(describe_drain(DrainPhase::drained, 2500ms, std::nullopt) ==
        "phase=drained elapsed=2500ms");
  CHECK(describe_drain(DrainPhase::settling, 1ms, -5ms) == "phase=settling elapsed=1ms left=0ms");
}
