// SPDX-License-Identifier: Apache-2.0
#include "drain/drain.h"

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
    case DrainPhase::waiting_traffic: return "waiting-traffic";
    case DrainPhase::drained: return "drained";
    case DrainPhase::stopping: return "stopping";
    case DrainPhase::killed: return "killed";
  }
  return "?";
}

const char* summary_name(DrainPhase phase) {
  switch (phase) {
    case DrainPhase::serving: return nullptr;
    case DrainPhase::waiting_endpoints: return "endpoints";
    case DrainPhase::waiting_delay: return "delay";
    case DrainPhase::settling: return "settle";
    case DrainPhase::waiting_traffic: return "traffic";
    case DrainPhase::drained: return "drained";
    case DrainPhase::stopping: return "stopping";
    case DrainPhase::killed: return "killed";
  }
  return nullptr;
}

bool Drain::waiting() const {
  return phase_ == DrainPhase::waiting_endpoints || phase_ == DrainPhase::waiting_delay ||
         phase_ == DrainPhase::settling || phase_ == DrainPhase::waiting_traffic;
}

void Drain::begin(TimePoint now, std::vector<DrainAction>& out) {
  started_ = now;
  if (config_.wait_endpoints && config_.max_delay.count() > 0) {
    phase_ = DrainPhase::waiting_endpoints;
    deadline_ = cap();
    deadline_why_ = max_delay_why();
    out.push_back(
        {.kind = Kind::start_wait, .why = "watching EndpointSlices", .wait = WaitKind::endpoints});
    return;
  }
  auto wait = std::min(config_.delay, config_.max_delay);
  if (config_.wait_traffic && wait.count() > 0) {
    // Without the API, --delay caps the traffic wait instead of being the wait.
    start_traffic(now, now + wait, "delay " + format_duration(wait) + " over", out);
    return;
  }
  phase_ = DrainPhase::waiting_delay;
  wait_until(now + wait, now, "delay " + format_duration(wait) + " over", out);
}

void Drain::start_traffic(TimePoint now, TimePoint until, std::string why,
                          std::vector<DrainAction>& out) {
  phase_ = DrainPhase::waiting_traffic;
  out.push_back(
      {.kind = Kind::start_wait, .why = "waiting for traffic to stop", .wait = WaitKind::traffic});
  wait_until(until, now, std::move(why), out);
}

void Drain::wait_until(TimePoint when, TimePoint now, std::string why,
                       std::vector<DrainAction>& out) {
  deadline_ = std::min(when, cap());
  deadline_why_ = when > cap() ? max_delay_why() : std::move(why);
  if (*deadline_ <= now) finish_wait(now, deadline_why_, out);
}

void Drain::finish_wait(TimePoint now, std::string why, std::vector<DrainAction>& out) {
  if (phase_ == DrainPhase::waiting_endpoints) {
    out.push_back({.kind = Kind::stop_wait, .why = why, .wait = WaitKind::endpoints});
  }
  if (phase_ == DrainPhase::waiting_traffic) {
    out.push_back({.kind = Kind::stop_wait, .why = why, .wait = WaitKind::traffic});
  }
  out.push_back({Kind::report_drained, why});
  if (!stop_requested_) {
    // The kubelet's SIGTERM follows the hook at once; if none comes, the drain expires.
    phase_ = DrainPhase::drained;
    drained_at_ = now;
    deadline_ = std::max(now, cap()) + drained_hold();
    deadline_why_.clear();
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

std::vector<DrainAction> Drain::on_prestop_waited(TimePoint now) {
  std::vector<DrainAction> out;
  if (phase_ == DrainPhase::serving) {
    stop_requested_ = false;
    started_ = now;
    phase_ = DrainPhase::drained;
    drained_at_ = now;
    deadline_ = cap() + drained_hold();
    deadline_why_.clear();
  } else if (waiting() && !stop_requested_) {
    finish_wait(now, "a preStop hook waited on its own", out);
  }
  return out;
}

std::vector<DrainAction> Drain::on_wait(WaitKind wait, const WaitOutcome& outcome, TimePoint now) {
  switch (wait) {
    case WaitKind::endpoints:
      return outcome.kind == WaitOutcome::Kind::done ? on_endpoints_gone(now) : on_api_failed(now);
    case WaitKind::traffic: {
      // The traffic wait never fails: what it cannot see counts as traffic, so it runs to
      // the cap (traffic_policy.h).
      std::vector<DrainAction> out;
      if (phase_ == DrainPhase::waiting_traffic && outcome.kind == WaitOutcome::Kind::done) {
        finish_wait(now, outcome.reason, out);
      }
      return out;
    }
  }
  return {};
}

std::vector<DrainAction> Drain::on_endpoints_gone(TimePoint now) {
  std::vector<DrainAction> out;
  if (phase_ != DrainPhase::waiting_endpoints) return out;
  out.push_back({.kind = Kind::stop_wait,
                 .why = "Pod IP left every EndpointSlice",
                 .wait = WaitKind::endpoints});
  if (config_.wait_traffic) {
    // The wait must end no earlier than the settle and with --quiet of quiet: watching
    // from settle - quiet on gives both (traffic before that cannot change the end).
    TimePoint watch_from = now + config_.settle - std::min(config_.quiet, config_.settle);
    if (watch_from <= now) {
      start_traffic(now, cap(), max_delay_why(), out);
      return out;
    }
  }
  phase_ = DrainPhase::settling;
  wait_until(now + config_.settle -
                 (config_.wait_traffic ? std::min(config_.quiet, config_.settle) : Millis(0)),
             now, "settle " + format_duration(config_.settle) + " over", out);
  return out;
}

std::vector<DrainAction> Drain::on_api_failed(TimePoint now) {
  std::vector<DrainAction> out;
  if (phase_ != DrainPhase::waiting_endpoints) return out;
  out.push_back(
      {.kind = Kind::stop_wait, .why = "EndpointSlice API failed", .wait = WaitKind::endpoints});
  // The fallback counts from the drain's start: the drain as a whole lasts --delay.
  std::string why = "fallback delay " + format_duration(config_.delay) + " over";
  if (config_.wait_traffic && started_ + config_.delay > now) {
    start_traffic(now, started_ + config_.delay, std::move(why), out);
    return out;
  }
  phase_ = DrainPhase::waiting_delay;
  wait_until(started_ + config_.delay, now, std::move(why), out);
  return out;
}

std::vector<DrainAction> Drain::on_tick(TimePoint now) {
  std::vector<DrainAction> out;
  if (!deadline_ || now < *deadline_) return out;
  if (phase_ == DrainPhase::drained) {
    auto ago = std::chrono::duration_cast<std::chrono::seconds>(now - drained_at_).count();
    phase_ = DrainPhase::serving;
    deadline_.reset();
    out.push_back({Kind::expired,
                   "preStop drained " + std::to_string(ago) + "s ago and no SIGTERM followed"});
  } else if (phase_ == DrainPhase::stopping) {
    phase_ = DrainPhase::killed;
    deadline_.reset();
    out.push_back({Kind::send_kill, deadline_why_});
  } else if (phase_ == DrainPhase::settling && config_.wait_traffic && now < cap()) {
    start_traffic(now, cap(), max_delay_why(), out);
  } else if (waiting()) {
    finish_wait(now, deadline_why_, out);
  }
  return out;
}

}  // namespace lameduck
