#include "supervisor.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control_protocol.h"
#include "exit_status.h"
#include "log.h"
#include "orphans.h"

namespace lameduck {
namespace {

// How long SIGKILLed leftovers get to disappear; only processes stuck in the kernel
// (uninterruptible sleep) take longer, and lameduck will not hang on them.
constexpr Millis kAfterKillWait{1000};

}  // namespace

Supervisor::Supervisor(SupervisorConfig config, SignalFd& signals, Child child, WaitSource* watcher,
                       ControlChannel* control)
    : config_(std::move(config)),
      signals_(signals),
      child_(child),
      watcher_(watcher),
      control_(control),
      drain_(config_.drain) {}

long long Supervisor::elapsed_ms(TimePoint now) const {
  return std::chrono::duration_cast<Millis>(now - drain_.started()).count();
}

int Supervisor::run() {
  while (!child_status_) {
    auto deadline = drain_.deadline();
    if (watcher_ != nullptr) deadline = earliest(deadline, watcher_->next_timeout());
    if (control_ != nullptr) deadline = earliest(deadline, control_->next_timeout());
    poll_once(deadline);
  }
  if (watcher_ != nullptr) watcher_->stop();
  if (control_ != nullptr) control_->report_drained("app exited");
  clean_up_leftovers();
  int code = exit_code_from_status(*child_status_, config_.success_codes);
  auto now = Clock::now();
  if (drain_.draining()) {
    spdlog::info("t=+{}ms exiting with {}", elapsed_ms(now), code);
  } else {
    spdlog::info("exiting with {}", code);
  }
  return code;
}

void Supervisor::poll_once(std::optional<TimePoint> deadline) {
  // Reused between rounds: the loop allocates nothing per signal.
  auto& fds = fds_;
  fds.assign(1, pollfd{signals_.fd(), POLLIN, 0});
  std::size_t watcher_begin = fds.size();
  if (watcher_ != nullptr) watcher_->add_fds(fds);
  std::size_t control_begin = fds.size();
  if (control_ != nullptr) control_->add_fds(fds);
  std::size_t control_end = fds.size();

  int ready = ::poll(fds.data(), fds.size(), timeout_ms(deadline, Clock::now()));
  if (ready < 0 && errno != EINTR) {
    spdlog::error("poll failed: {}", std::strerror(errno));
  }
  auto now = Clock::now();
  if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
    signals_.read_pending(pending_);
    for (const auto& info : pending_) {
      on_signal(info, now);
      if (child_status_) return;
    }
  }
  std::span<const pollfd> all(fds);
  if (watcher_ != nullptr) {
    auto outcome =
        watcher_->on_ready(all.subspan(watcher_begin, control_begin - watcher_begin), now);
    if (outcome) {
      now = Clock::now();  // after the finding: a settle counts from here
      on_watch_outcome(*outcome, now);
    }
  }
  if (control_ != nullptr) {
    control_->on_ready(all.subspan(control_begin, control_end - control_begin), now);
    while (control_->take_drain_request()) {
      if (!drain_.draining()) {
        spdlog::info("t=+0ms preStop hook asked to drain");
      } else {
        spdlog::info("t=+{}ms preStop hook asked to drain; already {}", elapsed_ms(now),
                     phase_name(drain_.phase()));
      }
      // Answer "draining" before applying, which may already answer "done".
      auto actions = drain_.on_prestop(now);
      std::optional<Millis> left;
      if (auto until = drain_.deadline()) left = std::chrono::ceil<Millis>(*until - now);
      control_->report_draining(describe_drain(drain_.phase(), Millis(elapsed_ms(now)), left));
      apply(actions, now);
    }
  }
  apply(drain_.on_tick(now), now);
}

void Supervisor::on_signal(const signalfd_siginfo& info, TimePoint now) {
  int sig = static_cast<int>(info.ssi_signo);
  switch (sig) {
    case SIGCHLD: on_reaped(now); return;
    case SIGTERM:
    case SIGINT:
      if (drain_.handles(sig)) {
        bool first = !drain_.draining();
        // pid 0: sent from outside lameduck's PID namespace (the container runtime).
        spdlog::info("t=+{}ms {} received from {}{}", first ? 0 : elapsed_ms(now), signal_name(sig),
                     "pid " + std::to_string(info.ssi_pid) +
                         (info.ssi_pid == 0 ? " (outside the container)" : ""),
                     first ? ", app keeps serving" : "");
      }
      apply(drain_.on_signal(sig, now), now);
      return;
    case SIGPIPE:
      // Never forward a SIGPIPE that lameduck's own socket caused.
      if (static_cast<pid_t>(info.ssi_pid) == getpid()) return;
      forward(sig);
      return;
    default: forward(sig);
  }
}

void Supervisor::forward(int sig) {
  int target = config_.rewrite.apply(sig);
  if (target == 0) {
    spdlog::debug("{} dropped (--rewrite)", signal_name(sig));
    return;
  }
  if (int error = child_.signal(target, config_.group); error != 0 && error != ESRCH) {
    spdlog::warn("forwarding {} to pid {} failed: {}", signal_name(target), child_.pid(),
                 std::strerror(error));
    return;
  }
  // Hot path: build the names only when they will be printed.
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("forwarded {} as {}", signal_name(sig), signal_name(target));
  }
}

void Supervisor::apply(const std::vector<DrainAction>& actions, TimePoint now) {
  for (const auto& action : actions) {
    auto t = elapsed_ms(now);
    switch (action.kind) {
      case DrainAction::Kind::start_wait:
        if (watcher_ != nullptr) {
          spdlog::info("t=+{}ms waiting until the Pod left every EndpointSlice (at most {})", t,
                       format_duration(config_.drain.max_delay));
          if (auto outcome = watcher_->start(now)) on_watch_outcome(*outcome, now);
        } else {
          on_watch_outcome({WaitOutcome::Kind::failed, "no EndpointSlice watcher"}, now);
        }
        break;
      case DrainAction::Kind::stop_wait:
        if (watcher_ != nullptr) watcher_->stop();
        break;
      case DrainAction::Kind::send_stop: {
        // The stop signal is decided once, at parse time: --signal, or the TERM of
        // --rewrite TERM:X (options.cpp), so the app gets what a plain forward would give.
        int error = child_.signal(config_.stop_signal, config_.group);
        spdlog::info("t=+{}ms {}: sent {} to {} {}{}", t, action.why,
                     signal_name(config_.stop_signal), config_.group ? "process group" : "pid",
                     child_.pid(),
                     error == 0 ? "" : std::string(" (failed: ") + std::strerror(error) + ")");
        break;
      }
      case DrainAction::Kind::send_kill:
        child_.signal(SIGKILL, config_.group);
        spdlog::warn("t=+{}ms {}: app still running, sent SIGKILL", t, action.why);
        break;
      case DrainAction::Kind::forward: forward(action.sig); break;
      case DrainAction::Kind::report_drained:
        if (control_ != nullptr) control_->report_drained(action.why);
        if (drain_.phase() == DrainPhase::drained) {
          spdlog::info("t=+{}ms preStop hook released ({}); app keeps serving until SIGTERM", t,
                       action.why);
        }
        break;
    }
  }
  // Log each phase the drain enters once, whatever moved it there.
  if (drain_.phase() != logged_phase_) {
    logged_phase_ = drain_.phase();
    auto left = drain_.deadline()
                    ? format_duration(std::chrono::ceil<Millis>(*drain_.deadline() - now))
                    : std::string("?");
    if (logged_phase_ == DrainPhase::waiting_delay) {
      spdlog::info("t=+{}ms waiting {} before {}", elapsed_ms(now), left,
                   drain_.stop_requested() ? "sending " + signal_name(config_.stop_signal)
                                           : std::string("releasing the preStop hook"));
    } else if (logged_phase_ == DrainPhase::settling) {
      spdlog::info("t=+{}ms settling {} so consumers catch up", elapsed_ms(now), left);
    }
  }
}

void Supervisor::on_watch_outcome(const WaitOutcome& outcome, TimePoint now) {
  apply(drain_.on_wait(WaitKind::endpoints, outcome, now), now);
}

void Supervisor::on_reaped(TimePoint now) {
  for (const auto& reaped : reap_exited()) {
    if (reaped.pid != child_.pid()) {
      if (spdlog::should_log(spdlog::level::debug)) {
        spdlog::debug("reaped pid {} ({})", reaped.pid, describe_status(reaped.status));
      }
      continue;
    }
    child_status_ = reaped.status;
    if (drain_.draining()) {
      spdlog::info("t=+{}ms app (pid {}) {}", elapsed_ms(now), reaped.pid,
                   describe_status(reaped.status));
    } else {
      spdlog::info("app (pid {}) {}", reaped.pid, describe_status(reaped.status));
    }
  }
}

void Supervisor::clean_up_leftovers() {
  reap_exited();
  if (!has_children()) return;
  int count = signal_leftovers(config_.stop_signal);
  spdlog::info("app left {} process(es) behind: sent {}, waiting up to {}",
               count < 0 ? std::string("some") : std::to_string(count),
               signal_name(config_.stop_signal), format_duration(config_.orphan_grace));
  auto wait_for_none = [this](TimePoint until) {
    while (has_children()) {
      auto now = Clock::now();
      if (now >= until || skip_leftover_grace_) return false;
      pollfd fd{signals_.fd(), POLLIN, 0};
      ::poll(&fd, 1, timeout_ms(until, now));
      for (const auto& info : signals_.read_pending()) {
        // An impatient operator: SIGTERM or SIGINT cuts the grace short.
        if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) skip_leftover_grace_ = true;
      }
      reap_exited();
    }
    return true;
  };
  if (wait_for_none(Clock::now() + config_.orphan_grace)) {
    spdlog::info("leftover processes exited");
    return;
  }
  signal_leftovers(SIGKILL);
  spdlog::warn("leftover processes still running after {}: sent SIGKILL",
               format_duration(config_.orphan_grace));
  skip_leftover_grace_ = false;
  if (!wait_for_none(Clock::now() + kAfterKillWait)) {
    spdlog::warn("some processes did not exit after SIGKILL; exiting anyway");
  }
}

}  // namespace lameduck
