// SPDX-License-Identifier: Apache-2.0
#include "base/event_loop.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "init/footprint.h"

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
  int timeout = timeout_ms(deadline, Clock::now());
  release_startup_pages_if_requested();
  int ready = ::poll(fds_.data(), fds_.size(), timeout);
  if (ready < 0 && errno != EINTR) spdlog::error("poll failed: {}", std::strerror(errno));
  auto now = Clock::now();
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
