// SPDX-License-Identifier: Apache-2.0
#include "drain/drain_runner.h"

#include <csignal>

#include "init/signals.h"

namespace lameduck {
namespace {

std::size_t slot(WaitKind wait) {
  return static_cast<std::size_t>(wait);
}

}  // namespace

DrainRunner::DrainRunner(DrainConfig config, WaitSources sources, DrainEffects& effects,
                         Timeline& timeline)
    : config_(config), drain_(config), sources_(sources), effects_(effects), timeline_(timeline) {}

DrainRunner::~DrainRunner() {
  stop_waits();
}

void DrainRunner::on_signal(int sig, pid_t from) {
  auto now = Clock::now();
  if (drain_.handles(sig)) {
    bool first = !drain_.draining();
    // A new drain (also after an expired preStop drain) starts its own timeline.
    if (first || !timeline_.started()) timeline_.start(now);
    // pid 0: sent from outside lameduck's PID namespace (the container runtime).
    timeline_.info("{} received from pid {}{}{}", signal_name(sig), from,
                   from == 0 ? " (outside the container)" : "", first ? ", app keeps serving" : "");
  }
  apply(drain_.on_signal(sig, now), now);
}

void DrainRunner::on_prestop() {
  auto now = Clock::now();
  if (!timeline_.started()) timeline_.start(now);
  auto actions = drain_.on_prestop(now);
  // Answer "draining" before applying, which may already answer "done".
  effects_.report_draining(now);
  apply(actions, now);
}

void DrainRunner::on_prestop_waited() {
  auto now = Clock::now();
  if (!drain_.draining()) timeline_.start(now);
  apply(drain_.on_prestop_waited(now), now);
}

void DrainRunner::stop_waits() {
  for (std::size_t i = 0; i < kWaitKinds; ++i) stop_wait(static_cast<WaitKind>(i));
}

void DrainRunner::add_fds(std::vector<pollfd>& fds) {
  std::size_t base = fds.size();
  for (std::size_t i = 0; i < kWaitKinds; ++i) {
    if (running_[i]) sources_[i]->add_fds(fds);
    fd_ends_[i] = fds.size() - base;
  }
}

std::optional<TimePoint> DrainRunner::next_timeout() const {
  auto next = drain_.deadline();
  for (std::size_t i = 0; i < kWaitKinds; ++i) {
    if (running_[i]) next = earliest(next, sources_[i]->next_timeout());
  }
  return next;
}

void DrainRunner::on_ready(std::span<const pollfd> fds, TimePoint now) {
  std::size_t begin = 0;
  for (std::size_t i = 0; i < kWaitKinds; ++i) {
    std::size_t end = std::min(fd_ends_[i], fds.size());
    // A source started since add_fds has no descriptors yet: it gets an empty slice.
    if (running_[i]) {
      if (auto outcome = sources_[i]->on_ready(fds.subspan(begin, end - begin), now)) {
        on_outcome(static_cast<WaitKind>(i), *outcome);
      }
    }
    begin = end;
  }
  // Fresh: the sources may have taken long (a big event to parse).
  auto tick = Clock::now();
  apply(drain_.on_tick(tick), tick);
}

void DrainRunner::on_outcome(WaitKind wait, const WaitOutcome& outcome) {
  // Read after the source returned: a wait that follows counts from after the finding.
  auto found = Clock::now();
  if (drain_.phase() == DrainPhase::waiting_endpoints && wait == WaitKind::endpoints) {
    findings_.push_back(outcome.kind == WaitOutcome::Kind::done
                            ? std::string("slices gone")
                            : "API fallback (" + outcome.reason + ")");
  }
  apply(drain_.on_wait(wait, outcome, found), found);
}

void DrainRunner::start_wait(WaitKind wait, TimePoint now) {
  WaitSource* source = sources_[slot(wait)];
  if (source == nullptr) {
    on_outcome(wait, {WaitOutcome::Kind::failed, "not set up"});
    return;
  }
  running_[slot(wait)] = true;
  if (auto outcome = source->start(now)) on_outcome(wait, *outcome);
}

void DrainRunner::stop_wait(WaitKind wait) {
  if (!running_[slot(wait)]) return;
  running_[slot(wait)] = false;
  sources_[slot(wait)]->stop();
}

void DrainRunner::apply(const std::vector<DrainAction>& actions, TimePoint now) {
  // The phase these actions enter, before they run: "waiting until ..." comes before what
  // the watcher logs as it starts.
  log_phase(now);
  for (const auto& action : actions) {
    switch (action.kind) {
      case DrainAction::Kind::start_wait: start_wait(action.wait, now); break;
      case DrainAction::Kind::stop_wait: stop_wait(action.wait); break;
      case DrainAction::Kind::send_stop: effects_.send_stop(action.why); break;
      case DrainAction::Kind::send_kill: effects_.send_kill(action.why); break;
      case DrainAction::Kind::forward: effects_.forward(action.sig); break;
      case DrainAction::Kind::report_drained:
        if (ended_by_.empty()) {
          for (const auto& finding : findings_) ended_by_ += finding + ", then ";
          ended_by_ += action.why;
        }
        effects_.report_drained(action.why);
        break;
      case DrainAction::Kind::expired:
        timeline_.warn("{}; serving again: the next SIGTERM drains again", action.why);
        phases_.clear();
        findings_.clear();
        ended_by_.clear();
        logged_phase_ = DrainPhase::serving;
        effects_.drain_expired();
        break;
    }
  }
}

void DrainRunner::log_phase(TimePoint now) {
  // Each phase the drain enters is logged once, whatever moved it there. "left" counts from
  // the event's time, so it is the wait the Drain decided.
  if (drain_.phase() == logged_phase_) return;
  logged_phase_ = drain_.phase();
  phases_.push_back({logged_phase_, now});
  auto left = drain_.deadline()
                  ? format_duration(std::chrono::ceil<Millis>(*drain_.deadline() - now))
                  : std::string("?");
  switch (logged_phase_) {
    case DrainPhase::waiting_endpoints:
      timeline_.info("waiting until the Pod left every EndpointSlice (at most {})",
                     format_duration(config_.max_delay));
      break;
    case DrainPhase::waiting_delay:
      timeline_.info("waiting {} before {}", left, effects_.after_wait(drain_.stop_requested()));
      break;
    case DrainPhase::settling:
      if (config_.wait_traffic) {
        // The traffic wait starts --quiet before the settle ends (Drain::on_endpoints_gone).
        timeline_.info("settling: the traffic wait starts in {}", left);
      } else {
        timeline_.info("settling {} so consumers catch up", left);
      }
      break;
    case DrainPhase::waiting_traffic:
      timeline_.info("waiting at most {} before {}", left,
                     effects_.after_wait(drain_.stop_requested()));
      break;
    case DrainPhase::serving:
    case DrainPhase::drained:
    case DrainPhase::stopping:
    case DrainPhase::killed: break;
  }
}

DrainSummary DrainRunner::summary(TimePoint now) const {
  DrainSummary out;
  for (std::size_t i = 0; i < phases_.size(); ++i) {
    const char* name = summary_name(phases_[i].phase);
    if (name == nullptr) continue;
    TimePoint end = i + 1 < phases_.size() ? phases_[i + 1].start : now;
    out.phases.push_back({name, std::chrono::duration_cast<Millis>(end - phases_[i].start)});
  }
  out.ended_by = ended_by_;
  return out;
}

std::string format_summary(const DrainSummary& summary, std::optional<int> exit_status) {
  std::string out;
  for (const auto& phase : summary.phases) {
    out += (out.empty() ? "" : ", ") + phase.name + " " + format_duration(phase.length);
  }
  if (out.empty()) out = "no wait";
  if (!summary.started_by.empty()) out += "; started by: " + summary.started_by;
  out += "; ended by: " + (summary.ended_by.empty() ? std::string("app exited") : summary.ended_by);
  if (exit_status) out += "; exit status " + std::to_string(*exit_status);
  return out;
}

}  // namespace lameduck
