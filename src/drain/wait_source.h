// SPDX-License-Identifier: Apache-2.0
// The drain's one door for the waits it makes besides its deadlines: which waits there are
// (WaitKind), what one finds (WaitOutcome) and the WaitSource that carries one out. kube/
// and traffic/ implement a WaitSource against this header alone, not the drain's policy.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/event_loop.h"

namespace lameduck {

// The waits a drain can make besides its deadlines; each is carried out by a WaitSource
// (below) that DrainRunner starts, polls and stops when the Drain says so.
// Adding one: a value here; in Drain, the phase it runs in, the start_wait/stop_wait
// actions and what on_wait does with its outcomes; a WaitSource; its set-up in wait_setup.
enum class WaitKind {
  endpoints,  // until the Pod IP left every EndpointSlice (SliceWatcher)
  traffic,    // until the Pod had no new traffic for --quiet (TrafficWait)
};
inline constexpr std::size_t kWaitKinds = 2;

// What a wait source found out, once per start: its wait is over, or it cannot tell.
struct WaitOutcome {
  enum class Kind {
    done,    // endpoints: the Pod IP left every EndpointSlice; traffic: quiet
    failed,  // the source cannot tell (endpoints: the API is unusable; the drain uses --delay)
  };
  Kind kind;
  std::string reason;  // for the timeline
};

// A wait as the event loop drives it: idle until start(), then polled with the loop's
// other sources until it finds its outcome or is stopped. It reports only through what
// start() and on_ready() return: it has no state for a driver to watch.
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
