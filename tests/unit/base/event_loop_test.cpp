// SPDX-License-Identifier: Apache-2.0
#include "base/event_loop.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "base/footprint.h"
#include "base/signal_fd.h"

using namespace lameduck;

namespace {

// SignalFd blocks every signal for good; the other tests get their mask back.
class SavedMask {
 public:
  SavedMask() { sigprocmask(SIG_SETMASK, nullptr, &mask_); }
  ~SavedMask() { sigprocmask(SIG_SETMASK, &mask_, nullptr); }
  SavedMask(const SavedMask&) = delete;
  SavedMask& operator=(const SavedMask&) = delete;

 private:
  sigset_t mask_{};
};

// Takes every pending SIGIO, without a signalfd. Declared right after SavedMask, so it runs
// after the AsyncPipe is gone (closing its descriptors may raise one more SIGIO, in either
// order) and before the mask comes back: a pending SIGIO then would end the test binary.
class DropSigio {
 public:
  DropSigio() = default;
  ~DropSigio() {
    sigset_t io;
    sigemptyset(&io);
    sigaddset(&io, SIGIO);
    const timespec zero{};
    while (sigtimedwait(&io, nullptr, &zero) == SIGIO) {
    }
  }
  DropSigio(const DropSigio&) = delete;
  DropSigio& operator=(const DropSigio&) = delete;
};

// A pipe whose read end raises SIGIO when it becomes readable (O_ASYNC, F_SETOWN), as the
// preStop socket's listener does: a source the loop may wait on in sigtimedwait().
class AsyncPipe final : public LoopSource {
 public:
  AsyncPipe() {
    REQUIRE(::pipe2(fds_, O_NONBLOCK | O_CLOEXEC) == 0);
    REQUIRE(::fcntl(fds_[0], F_SETOWN, ::getpid()) == 0);
    REQUIRE(::fcntl(fds_[0], F_SETFL, O_NONBLOCK | O_ASYNC) == 0);
  }
  ~AsyncPipe() override {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  AsyncPipe(const AsyncPipe&) = delete;
  AsyncPipe& operator=(const AsyncPipe&) = delete;

  void add_fds(std::vector<pollfd>& fds) override { fds.push_back({fds_[0], POLLIN, 0}); }
  std::optional<TimePoint> next_timeout() const override { return std::nullopt; }
  void on_ready(std::span<const pollfd> fds, TimePoint) override {
    ready_ = !fds.empty() && fds.front().revents != 0;
  }
  bool fds_raise_sigio() const override { return true; }

  void write_byte() { REQUIRE(::write(fds_[1], "x", 1) == 1); }
  bool ready() const { return ready_; }

 private:
  int fds_[2] = {-1, -1};
  bool ready_ = false;
};

// Sends sig to this process after a while, from another thread (which has every signal
// blocked too: it inherited the mask), while the loop blocks.
std::thread later(std::function<void()> what) {
  return std::thread([what = std::move(what)] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    what();
  });
}

}  // namespace

TEST_CASE("the idle fast path: a SIGIO source wakes the loop and nothing is stranded") {
  SavedMask saved;
  DropSigio drop_sigio;
  SignalFd signals;
  EventLoop loop(signals);
  AsyncPipe pipe;
  LoopSource* sources[] = {&pipe};
  const auto far = [] { return Clock::now() + std::chrono::seconds(5); };
  // The first round polls: nothing ready, so the next may wait in sigtimedwait().
  auto woke = loop.wait(sources, Clock::now());
  loop.dispatch(sources, woke.now);
  CHECK_FALSE(pipe.ready());

  SUBCASE("a descriptor that becomes ready while the loop waits wakes it; no SIGIO comes out") {
    auto until = far();
    auto writer = later([&] { pipe.write_byte(); });
    woke = loop.wait(sources, until);
    writer.join();
    CHECK(woke.now < until - std::chrono::seconds(2));
    CHECK(woke.signals.empty());
    loop.dispatch(sources, woke.now);
    CHECK(pipe.ready());
  }
  SUBCASE("a SIGIO taken with other signals makes the next round poll") {
    pipe.write_byte();            // the kernel's SIGIO is pending now
    ::kill(::getpid(), SIGUSR2);  // and a signal for the caller
    auto taken = loop.take_pending();
    REQUIRE(taken.size() == 1);  // the SIGIO is the loop's, not the caller's
    CHECK(taken.front().ssi_signo == SIGUSR2);
    // No SIGIO is left to wake a sigtimedwait(): only a poll() sees the byte.
    auto until = far();
    woke = loop.wait(sources, until);
    CHECK(woke.now < until - std::chrono::seconds(2));
    loop.dispatch(sources, woke.now);
    CHECK(pipe.ready());
  }
  SUBCASE("signals come one per round, lowest first, with who sent them") {
    ::kill(::getpid(), SIGWINCH);
    ::kill(::getpid(), SIGUSR1);
    woke = loop.wait(sources, far());
    REQUIRE(woke.signals.size() == 1);
    CHECK(woke.signals.front().ssi_signo == SIGUSR1);
    CHECK(static_cast<pid_t>(woke.signals.front().ssi_pid) == ::getpid());
    CHECK(woke.signals.front().ssi_code == SI_USER);
    woke = loop.wait(sources, far());
    REQUIRE(woke.signals.size() == 1);
    CHECK(woke.signals.front().ssi_signo == SIGWINCH);
  }
  SUBCASE("a user's SIGIO is a signal like any other") {
    auto sender = later([] { ::kill(::getpid(), SIGIO); });
    woke = loop.wait(sources, far());
    sender.join();
    REQUIRE(woke.signals.size() == 1);
    CHECK(woke.signals.front().ssi_signo == SIGIO);
    CHECK(woke.signals.front().ssi_code == SI_USER);
    // It may have merged with a kernel SIGIO: the next round polls and sees the byte.
    pipe.write_byte();
    loop.take_pending();  // drops the kernel's SIGIO of that write
    auto until = far();
    woke = loop.wait(sources, until);
    CHECK(woke.now < until - std::chrono::seconds(2));
    loop.dispatch(sources, woke.now);
    CHECK(pipe.ready());
  }
  SUBCASE("the deadline ends a wait in sigtimedwait()") {
    auto until = Clock::now() + Millis(30);
    woke = loop.wait(sources, until);
    CHECK(woke.now >= until);
    CHECK(woke.signals.empty());
  }
  SUBCASE("a flood of lower signals cannot starve a ready descriptor") {
    pipe.write_byte();  // SIGIO (29) pending, below every SIGUSR1 (10) in sigtimedwait()
    int rounds = 0;
    while (!pipe.ready() && rounds < 3 * EventLoop::kFastRoundsBeforePoll) {
      ::kill(::getpid(), SIGUSR1);
      woke = loop.wait(sources, far());
      for (const auto& info : woke.signals) CHECK(info.ssi_signo == SIGUSR1);
      loop.dispatch(sources, woke.now);
      ++rounds;
    }
    CHECK(pipe.ready());
    CHECK(rounds <= EventLoop::kFastRoundsBeforePoll + 1);
  }
  // The SIGIOs left now and when the pipe closes: DropSigio takes them.
}

TEST_CASE("the start-up pages are released only once the loop waited the settle time") {
  SavedMask saved;
  SignalFd signals;
  EventLoop loop(signals);
  // Settle times from a start far off or long past, so a slow machine cannot move the
  // release to the wrong side of a check.
  auto later = Clock::now() + std::chrono::hours(1);
  release_startup_pages_after_settle(later);
  REQUIRE(startup_release_due() == later + kStartupSettle);

  SUBCASE("a deadline before the settle time ends the wait there; nothing is released") {
    auto until = Clock::now() + Millis(10);
    auto woke = loop.wait({}, until);
    CHECK(woke.now >= until);
    CHECK(startup_release_due() == later + kStartupSettle);
  }
  SUBCASE("work during the settle time is served at once, without a release") {
    ::kill(::getpid(), SIGUSR2);
    auto woke = loop.wait({}, std::nullopt);
    REQUIRE(woke.signals.size() == 1);
    CHECK(woke.signals.front().ssi_signo == SIGUSR2);
    CHECK(startup_release_due() == later + kStartupSettle);
  }
  SUBCASE("idle until the settle time: released, and the wait goes on to its deadline") {
    auto soon = Clock::now() + Millis(30);
    release_startup_pages_after_settle(soon - kStartupSettle);
    auto until = soon + Millis(30);
    auto woke = loop.wait({}, until);
    CHECK_FALSE(startup_release_due().has_value());
    CHECK(woke.now >= until);
    CHECK(woke.signals.empty());
  }
  SUBCASE("a release already due happens before the wait") {
    release_startup_pages_after_settle(Clock::now() - kStartupSettle);
    loop.wait({}, Clock::now());
    CHECK_FALSE(startup_release_due().has_value());
  }
  release_startup_pages_if_requested();  // none left pending for other tests
}
