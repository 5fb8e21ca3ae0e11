// SPDX-License-Identifier: Apache-2.0
// The drain policy as a pure state machine: fed events and the current time, it returns
// the actions to take and the next deadline. No I/O here: drain_runner.cpp does it, for
// PID 1 (init/supervisor.cpp) and for the preStop hook (commands/prestop.cpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "base/duration.h"
#include "drain/wait_source.h"

namespace lameduck {

struct DrainConfig {
  Millis delay{0};      // fixed wait when EndpointSlices are not used or not readable
  Millis settle{2000};  // at least this long after the Pod IP left every slice
  Millis max_delay{25000};
  std::optional<Millis> kill_after;  // SIGKILL this long after the stop signal
  bool wait_endpoints = false;
  // After the slices (no earlier than --settle), or from the start without them (capped
  // by --delay): until the Pod had no new traffic for `quiet`.
  bool wait_traffic = false;
  Millis quiet{2000};
};

enum class DrainPhase {
  serving,            // no drain yet
  waiting_endpoints,  // watching EndpointSlices
  waiting_delay,      // fixed delay (configured, or API fallback)
  settling,           // Pod IP is out of rotation; consumers catch up
  waiting_traffic,    // until no new traffic for --quiet
  drained,            // preStop drain done; the kubelet's SIGTERM is forwarded at once
                      // (until deadline(): then serving again)
  stopping,           // stop signal sent
  killed,             // --kill-after fired
};

const char* phase_name(DrainPhase phase);
// The phase's name in the drain summary line ("endpoints", "settle"); null: not listed.
const char* summary_name(DrainPhase phase);

struct DrainAction {
  enum class Kind {
    start_wait,      // start the wait source `wait` (endpoints: begin talking to the API)
    stop_wait,       // stop it (endpoints: drop API connections)
    send_stop,       // send --signal to the app
    send_kill,       // SIGKILL the app
    forward,         // forward `sig` to the app as any other signal (rewrites apply)
    report_drained,  // tell waiting preStop clients the drain is done
    expired,         // drained, and no SIGTERM followed in time: serving again
  };
  Kind kind;
  std::string why;                      // for the timeline
  int sig = 0;                          // forward: the signal
  WaitKind wait = WaitKind::endpoints;  // start_wait, stop_wait: which
};

// How long after a preStop drain's cap (started + --max-delay) the drained state waits for
// the kubelet's SIGTERM: another --max-delay, at least this. The kubelet sends SIGTERM as
// soon as the hook exits, and at the latest when terminationGracePeriodSeconds (which
// should be a little over --max-delay) runs out; a drained state with no SIGTERM after
// that was a `lameduck prestop` run by hand, and must not turn the next real SIGTERM,
// maybe hours later, into a stop without a wait.
inline constexpr Millis kMinDrainedHold{5000};

class Drain {
 public:
  explicit Drain(DrainConfig config) : config_(config) {}

  // Whether SIGTERM or SIGINT is a drain event now; if not, on_signal only forwards it.
  bool handles(int sig) const;
  // SIGTERM starts (or, a second time, cuts short) the drain; SIGINT cuts a wait short.
  // Any other signal, or one the drain does not handle now, is a forward.
  std::vector<DrainAction> on_signal(int sig, TimePoint now);
  std::vector<DrainAction> on_prestop(TimePoint now);
  // A preStop hook did the wait itself (it could not reach PID 1 in time): serving becomes
  // drained (the kubelet's SIGTERM is forwarded at once; it expires like any preStop
  // drain), and a preStop-started wait ends. Once a SIGTERM came, PID 1's own wait goes on.
  std::vector<DrainAction> on_prestop_waited(TimePoint now);
  // What a wait source started by start_wait found; the time is when it was found.
  std::vector<DrainAction> on_wait(WaitKind wait, const WaitOutcome& outcome, TimePoint now);
  // Call when the deadline has passed (or at any time; it checks).
  std::vector<DrainAction> on_tick(TimePoint now);

  DrainPhase phase() const { return phase_; }
  std::optional<TimePoint> deadline() const { return deadline_; }
  // When the drain began (first SIGTERM or preStop); meaningless while serving.
  TimePoint started() const { return started_; }
  bool draining() const { return phase_ != DrainPhase::serving; }
  // False while a drain started by preStop waits for the kubelet's SIGTERM.
  bool stop_requested() const { return stop_requested_; }
  // How long the drained state holds after the drain's cap: max(--max-delay, 5s).
  Millis drained_hold() const { return std::max(config_.max_delay, kMinDrainedHold); }

 private:
  std::vector<DrainAction> on_endpoints_gone(TimePoint now);
  std::vector<DrainAction> on_api_failed(TimePoint now);
  void begin(TimePoint now, std::vector<DrainAction>& out);
  void start_traffic(TimePoint now, TimePoint until, std::string why,
                     std::vector<DrainAction>& out);
  void finish_wait(TimePoint now, std::string why, std::vector<DrainAction>& out);
  void wait_until(TimePoint when, TimePoint now, std::string why, std::vector<DrainAction>& out);
  bool waiting() const;
  TimePoint cap() const { return started_ + config_.max_delay; }
  std::string max_delay_why() const {
    return "max-delay " + format_duration(config_.max_delay) + " reached";
  }

  DrainConfig config_;
  DrainPhase phase_ = DrainPhase::serving;
  TimePoint started_{};
  std::optional<TimePoint> deadline_;
  std::string deadline_why_;
  bool stop_requested_ = false;  // false while a preStop-only drain runs
  TimePoint drained_at_{};       // when a preStop drain reached drained
};

}  // namespace lameduck
