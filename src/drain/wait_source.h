// SPDX-License-Identifier: Apache-2.0
// A wait the drain makes besides its deadlines (drain.h, WaitKind), as the event loop
// drives it: idle until start(), then polled with the loop's other sources until it finds
// its outcome or is stopped. It reports only through what start() and on_ready() return:
// it has no state for a driver to watch.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "base/event_loop.h"
#include "drain/drain.h"

namespace lameduck {

class WaitSource {
 public:
  virtual ~WaitSource() = default;
  // Begins the wait; an outcome when it is over at once (endpoints: no namespace,
  // unreadable token).
  virtual std::optional<WaitOutcome> start(TimePoint now) = 0;
  // Ends it (and its connections); idle again.
  virtual void stop() = 0;
  virtual void add_fds(std::vector<pollfd>& fds) = 0;
  virtual std::optional<TimePoint> next_timeout() const = 0;
  // fds is exactly what add_fds appended this round. An outcome at most once per start().
  // The driver stamps it with its clock read after this returns, so a wait that follows
  // (the settle) counts from after the finding, however long this call took.
  virtual std::optional<WaitOutcome> on_ready(std::span<const pollfd> fds, TimePoint now) = 0;
};

}  // namespace lameduck
