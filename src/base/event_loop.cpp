// SPDX-License-Identifier: Apache-2.0
#include "base/event_loop.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "base/footprint.h"

namespace lameduck {

EventLoop::Wakeup EventLoop::wait(std::span<LoopSource* const> sources,
                                  std::optional<TimePoint> deadline) {
  fds_.assign(1, pollfd{signals_.fd(), POLLIN, 0});
  ends_.clear();
  for (LoopSource* source : sources) {
    if (source != nullptr) {
      source->add_fds(fds_);
      deadline = earliest(deadline, source->next_timeout());
    }
    ends_.push_back(fds_.size());
  }
  auto now = Clock::now();
  int ready = 0;
  for (;;) {
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
  pending_.clear();
  if (ready > 0 && (fds_[0].revents & POLLIN) != 0) signals_.read_pending(pending_);
  return {now, pending_};
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
