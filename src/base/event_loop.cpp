// SPDX-License-Identifier: Apache-2.0
#include "base/event_loop.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "base/footprint.h"

namespace lameduck {
namespace {

// sigtimedwait()'s relative timeout for a deadline, capped at a day like poll()'s.
timespec timeout_until(TimePoint deadline, TimePoint now) {
  auto left = deadline <= now ? Clock::duration::zero() : deadline - now;
  left = std::min<Clock::duration>(left, std::chrono::hours(24));
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(left - secs);
  return {static_cast<std::time_t>(secs.count()), static_cast<long>(nanos.count())};
}

}  // namespace

EventLoop::Wakeup EventLoop::wait(std::span<LoopSource* const> sources,
                                  std::optional<TimePoint> deadline) {
  fds_.assign(1, pollfd{signals_.fd(), POLLIN, 0});
  ends_.clear();
  bool by_signal = true;  // no descriptor needs poll() to be noticed
  for (LoopSource* source : sources) {
    if (source != nullptr) {
      std::size_t before = fds_.size();
      source->add_fds(fds_);
      if (fds_.size() != before && !source->fds_raise_sigio()) by_signal = false;
      deadline = earliest(deadline, source->next_timeout());
    }
    ends_.push_back(fds_.size());
  }
  // Fairness: sigtimedwait() takes the lowest-numbered pending signal first, and SIGIO is
  // 29, so a stream of lower ones (SIGCHLD from many exiting orphans, any flood) would
  // keep a connecting preStop hook waiting as long as it lasts. After a run of fast rounds
  // that each took a signal, one poll() round looks at the descriptors and takes the
  // whole batch of pending signals.
  if (fast_rounds_ >= kFastRoundsBeforePoll) by_signal = false;
  auto now = Clock::now();
  pending_.clear();
  int ready = 0;
  for (;;) {
    if (by_signal) {
      if (!quiet_since_last_poll()) {
        // A look first (no timeout): what is ready (a connection whose SIGIO was taken,
        // signals) is served in this round; when nothing is, the wait can be the fast one.
        ready = ::poll(fds_.data(), fds_.size(), 0);
        if (ready != 0) break;
        quiet_.assign(fds_.begin() + 1, fds_.end());
        quiet_valid_ = true;
      }
      if (wait_for_signal(deadline, now)) {
        fast_rounds_ = pending_.empty() ? 0 : fast_rounds_ + 1;
        return {now, pending_};
      }
      continue;  // a SIGIO: look again
    }
    // A pending release of the start-up pages (footprint.h) waits until lameduck has been
    // idle for the settle time: poll up to then, and release only if nothing came.
    auto release_at = startup_release_due();
    if (release_at && *release_at <= now) {
      release_startup_pages_if_requested();
      release_at.reset();
    }
    bool settle_first = release_at && (!deadline || *release_at < *deadline);
    ready = ::poll(fds_.data(), fds_.size(), timeout_ms(settle_first ? release_at : deadline, now));
    if (!settle_first || ready != 0) break;
    now = Clock::now();
  }
  if (ready < 0 && errno != EINTR) spdlog::error("poll failed: {}", std::strerror(errno));
  now = Clock::now();
  fast_rounds_ = 0;
  // Recorded before the signals are read: a SIGIO among them (a descriptor that became
  // ready after this poll) takes it back.
  quiet_valid_ = ready >= 0 && std::all_of(fds_.begin() + 1, fds_.end(),
                                           [](const pollfd& p) { return p.revents == 0; });
  if (quiet_valid_) quiet_.assign(fds_.begin() + 1, fds_.end());
  if (ready > 0 && (fds_[0].revents & POLLIN) != 0) {
    signals_.read_pending(pending_);
    sort_out_sigio();
  }
  return {now, pending_};
}

bool EventLoop::quiet_since_last_poll() const {
  if (fds_.size() == 1) return true;  // no descriptor: nothing to miss
  if (!quiet_valid_ || quiet_.size() != fds_.size() - 1) return false;
  return std::equal(
      quiet_.begin(), quiet_.end(), fds_.begin() + 1,
      [](const pollfd& a, const pollfd& b) { return a.fd == b.fd && a.events == b.events; });
}

bool EventLoop::wait_for_signal(std::optional<TimePoint> deadline, TimePoint& now) {
  signalfd_siginfo info{};
  for (;;) {
    // The start-up settle time, as in the poll() path of wait().
    auto release_at = startup_release_due();
    if (release_at && *release_at <= now) {
      release_startup_pages_if_requested();
      release_at.reset();
    }
    bool settle_first = release_at && (!deadline || *release_at < *deadline);
    auto until = settle_first ? release_at : deadline;
    timespec timeout{};
    if (until) timeout = timeout_until(*until, now);
    bool got = signals_.wait_one(until ? &timeout : nullptr, info);
    now = Clock::now();
    if (got) {
      if (info.ssi_signo == SIGIO) {
        // Whoever sent it, a descriptor may be ready (a user's SIGIO and the kernel's
        // merge into one): poll() them in this round. A user's is still handed over.
        quiet_valid_ = false;
        if (is_io_wakeup(info)) return false;
      }
      pending_.push_back(info);
      return true;
    }
    // The deadline (or EINTR: an empty round, like poll()'s); at the settle time, the
    // release above and on to the deadline.
    if (!settle_first) return true;
  }
}

void EventLoop::sort_out_sigio() {
  bool any = std::any_of(pending_.begin(), pending_.end(),
                         [](const signalfd_siginfo& info) { return info.ssi_signo == SIGIO; });
  if (!any) return;
  quiet_valid_ = false;
  std::erase_if(pending_, is_io_wakeup);
}

std::span<const signalfd_siginfo> EventLoop::take_pending() {
  pending_.clear();
  signals_.read_pending(pending_);
  sort_out_sigio();
  return pending_;
}

void EventLoop::dispatch(std::span<LoopSource* const> sources, TimePoint now) {
  std::span<const pollfd> all(fds_);
  std::size_t begin = 1;
  for (std::size_t i = 0; i < sources.size() && i < ends_.size(); ++i) {
    if (sources[i] != nullptr) sources[i]->on_ready(all.subspan(begin, ends_[i] - begin), now);
    begin = ends_[i];
  }
}

}  // namespace lameduck
