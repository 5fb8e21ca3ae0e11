// SPDX-License-Identifier: Apache-2.0
#include "drain.h"

#include <algorithm>
#include <csignal>

namespace lameduck {

using Kind = DrainAction::Kind;

const char* phase_name(DrainPhase phase) {
  switch (phase) {
    case DrainPhase::serving: return "serving";
    case DrainPhase::waiting_endpoints: return "waiting-endpoints";
    case DrainPhase::waiting_delay: return "waiting-delay";
    case DrainPhase::settling: return "settling";
    case DrainPhase::drained: return "drained";
    case DrainPhase::stopping: return "stopping";
    case DrainPhase::killed: return "killed";
  }
  return "?";
}

bool Drain::waiting() const {
  return phase_ == DrainPhase::waiting_endpoints || phase_ == DrainPhase::waiting_delay ||
         phase_ == DrainPhase::settling;
}

void Drain::begin(TimePoint now, std::vector<DrainAction>& out) {
  started_ = now;
  if (config_.wait_endpoints && config_.max_delay.count() > 0) {
    phase_ = DrainPhase::waiting_endpoints;
    deadline_ = cap();
    deadline_why_ = "max-delay " + format_duration(config_.max_delay) + " reached";
    out.push_back(
        {.kind = Kind::start_wait, .why = "watching EndpointSlices", .wait = WaitKind::endpoints});
    return;
  }
  phase_ = DrainPhase::waiting_delay;
  auto wait = std::min(config_.delay, config_.max_delay);
  wait_until(now + wait, now, "delay " + format_duration(wait) + " over", out);
}

void Drain::wait_until(TimePoint when, TimePoint now, std::string why,
                       std::vector<DrainAction>& out) {
  deadline_ = std::min(when, cap());
  deadline_why_ = when > cap() ? "max-delay " + format_duration(config_.max_delay) + " reached"
                               : std::move(why);
  if (*deadline_ <= now) finish_wait(now, deadline_why_, out);
}

void Drain::finish_wait(TimePoint now, std::string why, std::vector<DrainAction>& out) {
  if (phase_ == DrainPhase::waiting_endpoints) {
    out.push_back({.kind = Kind::stop_wait, .why = why, .wait = WaitKind::endpoints});
  }
  out.push_back({Kind::report_drained, why});
  if (!stop_requested_) {
    phase_ = DrainPhase::drained;
    deadline_.reset();
    return;
  }
  phase_ = DrainPhase::stopping;
  out.push_back({Kind::send_stop, std::move(why)});
  if (config_.kill_after) {
    deadline_ = now + *config_.kill_after;
    deadline_why_ = "kill-after " + format_duration(*config_.kill_after) + " reached";
  } else {
    deadline_.reset();
  }
}

bool Drain::handles(int sig) const {
  if (sig == SIGTERM)
    return phase_ == DrainPhase::serving || phase_ == DrainPhase::drained || waiting();
  if (sig == SIGINT) return phase_ == DrainPhase::drained || waiting();
  return false;
}

std::vector<DrainAction> Drain::on_signal(int sig, TimePoint now) {
  std::vector<DrainAction> out;
  if (!handles(sig)) {
    out.push_back({.kind = Kind::forward,
                   .why = draining() ? "already stopping" : "not waiting",
                   .sig = sig});
  } else if (phase_ == DrainPhase::serving) {
    stop_requested_ = true;
    begin(now, out);
  } else if (phase_ == DrainPhase::drained) {
    stop_requested_ = true;
    finish_wait(now, sig == SIGTERM ? "preStop drain already done" : "SIGINT skips the wait", out);
  } else if (sig == SIGTERM && !stop_requested_) {
    // The kubelet's SIGTERM during a preStop-started drain: finish that one drain.
    stop_requested_ = true;
  } else {
    stop_requested_ = true;
    finish_wait(now, sig == SIGTERM ? "second SIGTERM skips the wait" : "SIGINT skips the wait",
                out);
  }
  return out;
}

std::vector<DrainAction> Drain::on_prestop(TimePoint now) {
  std::vector<DrainAction> out;
  if (phase_ == DrainPhase::serving) {
    stop_requested_ = false;
    begin(now, out);
  } else if (!waiting()) {
    out.push_back({Kind::report_drained, "drain already done"});
  }
  return out;
}

std::vector<DrainAction> Drain::on_wait(WaitKind wait, const WaitOutcome& outcome, TimePoint now) {
  switch (wait) {
    case WaitKind::endpoints:
      return outcome.kind == WaitOutcome::Kind::done ? on_endpoints_gone(now) : on_api_failed(now);
  }
  return {};
}

std::vector<DrainAction> Drain::on_endpoints_gone(TimePoint now) {
  std::vector<DrainAction> out;
  if (phase_ != DrainPhase::waiting_endpoints) return out;
  out.push_back({.kind = Kind::stop_wait,
                 .why = "Pod IP left every EndpointSlice",
                 .wait = WaitKind::endpoints});
  phase_ = DrainPhase::settling;
  wait_until(now + config_.settle, now, "settle " + format_duration(config_.settle) + " over", out);
  return out;
}

std::vector<DrainAction> Drain::on_api_failed(TimePoint now) {
  std::vector<DrainAction> out;
  if (phase_ != DrainPhase::waiting_endpoints) return out;
  out.push_back(
      {.kind = Kind::stop_wait, .why = "EndpointSlice API failed", .wait = WaitKind::endpoints});
  phase_ = DrainPhase::waiting_delay;
  // The fallback counts from the drain's start: the drain as a whole lasts --delay.
  wait_until(started_ + config_.delay, now,
             "fallback delay " + format_duration(config_.delay) + " over", out);
  return out;
}

std::vector<DrainAction> Drain::on_tick(TimePoint now) {
  std::vector<DrainAction> out;
  if (!deadline_ || now < *deadline_) return out;
  if (phase_ == DrainPhase::stopping) {
    phase_ = DrainPhase::killed;
    deadline_.reset();
    out.push_back({Kind::send_kill, deadline_why_});
  } else if (waiting()) {
    finish_wait(now, deadline_why_, out);
  }
  return out;
}

}  // namespace lameduck
