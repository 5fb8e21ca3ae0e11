// What the supervisor's one poll() waits on besides the signalfd: the EndpointSlice
// watch and the preStop control socket. Each appends its descriptors and deadline, and
// handles its slice of the results. Implementations do their I/O without blocking.
#pragma once

#include <poll.h>

#include <algorithm>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "duration.h"

namespace lameduck {

// poll()'s timeout for a deadline: -1 (block) without one, capped at a day.
inline int timeout_ms(std::optional<TimePoint> deadline, TimePoint now) {
  if (!deadline) return -1;
  if (*deadline <= now) return 0;
  auto ms = std::chrono::ceil<Millis>(*deadline - now).count();
  return ms > 86'400'000 ? 86'400'000 : static_cast<int>(ms);
}

inline std::optional<TimePoint> earliest(std::optional<TimePoint> a, std::optional<TimePoint> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

class LoopSource {
 public:
  virtual ~LoopSource() = default;
  virtual void add_fds(std::vector<pollfd>& fds) = 0;
  virtual std::optional<TimePoint> next_timeout() const = 0;
  // fds is exactly what add_fds appended this round, with revents filled in.
  virtual void on_ready(std::span<const pollfd> fds, TimePoint now) = 0;
};

// The preStop hook's way in: it asks PID 1 to drain and waits for the answer.
class ControlChannel : public LoopSource {
 public:
  // True once per client that asked for a drain since the last call.
  virtual bool take_drain_request() = 0;
  // Answers the clients just taken: the drain runs; details are for the hook's log.
  virtual void report_draining(std::string_view details) = 0;
  // Tells every client waiting for the drain that it is done (how: what ended it), and
  // lets them go.
  virtual void report_drained(std::string_view how) = 0;
};

}  // namespace lameduck
