// SPDX-License-Identifier: Apache-2.0
#include "base/event_loop.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

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

}  // namespace

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
