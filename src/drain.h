// The drain policy as a pure state machine: fed events and the current time, it returns
// the actions to take and the next deadline. No I/O here; supervisor.cpp does that.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "duration.h"

namespace lameduck {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

struct DrainConfig {
  Millis delay{0};      // fixed wait when EndpointSlices are not used or not readable
  Millis settle{5000};  // after the Pod IP left every slice
  Millis max_delay{25000};
  std::optional<Millis> kill_after;  // SIGKILL this long after the stop signal
  bool wait_endpoints = false;
};

enum class DrainPhase {
  serving,            // no drain yet
  waiting_endpoints,  // watching EndpointSlices
  waiting_delay,      // fixed delay (configured, or API fallback)
  settling,           // Pod IP is out of rotation; consumers catch up
  drained,            // preStop drain done; the kubelet's SIGTERM is forwarded at once
  stopping,           // stop signal sent
  killed,             // --kill-after fired
};

const char* phase_name(DrainPhase phase);

struct DrainAction {
  enum class Kind {
    start_watch,     // begin talking to the API
    stop_watch,      // drop API connections
    send_stop,       // send --signal to the app
    send_kill,       // SIGKILL the app
    forward,         // forward the triggering signal as any other
    report_drained,  // tell waiting preStop clients the drain is done
  };
  Kind kind;
  std::string why;  // for the timeline
};

class Drain {
 public:
  explicit Drain(DrainConfig config) : config_(config) {}

  std::vector<DrainAction> on_sigterm(TimePoint now);
  std::vector<DrainAction> on_sigint(TimePoint now);
  std::vector<DrainAction> on_prestop(TimePoint now);
  std::vector<DrainAction> on_endpoints_gone(TimePoint now);
  std::vector<DrainAction> on_api_failed(TimePoint now);
  // Call when the deadline has passed (or at any time; it checks).
  std::vector<DrainAction> on_tick(TimePoint now);

  DrainPhase phase() const { return phase_; }
  std::optional<TimePoint> deadline() const { return deadline_; }
  // When the drain began (first SIGTERM or preStop); meaningless while serving.
  TimePoint started() const { return started_; }
  bool draining() const { return phase_ != DrainPhase::serving; }
  // False while a drain started by preStop waits for the kubelet's SIGTERM.
  bool stop_requested() const { return stop_requested_; }

 private:
  void begin(TimePoint now, std::vector<DrainAction>& out);
  void finish_wait(TimePoint now, std::string why, std::vector<DrainAction>& out);
  void wait_until(TimePoint when, TimePoint now, std::string why, std::vector<DrainAction>& out);
  bool waiting() const;
  TimePoint cap() const { return started_ + config_.max_delay; }

  DrainConfig config_;
  DrainPhase phase_ = DrainPhase::serving;
  TimePoint started_{};
  std::optional<TimePoint> deadline_;
  std::string deadline_why_;
  bool stop_requested_ = false;  // false while a preStop-only drain runs
};

}  // namespace lameduck
