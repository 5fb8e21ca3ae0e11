// SPDX-License-Identifier: Apache-2.0
#include "init/supervisor.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>

#include "base/log.h"
#include "control/control_protocol.h"
#include "init/exit_status.h"
#include "init/orphans.h"

namespace lameduck {
namespace {

// How long SIGKILLed leftovers get to disappear; only processes stuck in the kernel
// (uninterruptible sleep) take longer, and lameduck will not hang on them.
constexpr Millis kAfterKillWait{1000};
// How long PID 1 waits, before it exits, for preStop hooks to take their "done" and hang
// up: when PID 1 exits, the kernel SIGKILLs what is left of its PID namespace, and a
// killed hook is a FailedPreStopHook event. A hook that hangs does not hold the exit.
constexpr Millis kHookLinger{1000};

std::string ms(Millis d) {
  return std::to_string(d.count()) + "ms";
}

}  // namespace

std::string describe_drain(DrainPhase phase, Millis elapsed, std::optional<Millis> left) {
  std::string out = std::string("phase=") + phase_name(phase) + " elapsed=" + ms(elapsed);
  if (left) out += " left=" + ms(std::max(*left, Millis(0)));
  return out;
}

Supervisor::Supervisor(const RunOptions& options, const WaitSetup& wait, Timeline& timeline,
                       SignalFd& signals, Child child, ControlChannel* control)
    : options_(options),
      child_(child),
      control_(control),
      timeline_(timeline),
      runner_(wait.drain, wait.sources(), *this, timeline),
      loop_(signals) {}

int Supervisor::run() {
  LoopSource* sources[] = {&runner_, control_};
  while (!child_status_) {
    // Nothing may end PID 1 while the app runs: whatever a round throws is logged, and the
    // next round goes on (main would exit 125, and the kernel would kill the app with it).
    try {
      run_round(sources);
    } catch (const std::exception& e) {
      spdlog::error("internal error: {}; lameduck goes on", e.what());
    }
  }
  runner_.stop_waits();
  if (control_ != nullptr) control_->report_drained("app exited");
  clean_up_leftovers();
  let_hooks_go();
  int code = exit_code_from_status(*child_status_, options_.success_codes);
  if (runner_.drain().draining()) {
    auto summary = runner_.summary();
    summary.started_by = started_by_;
    timeline_.info("{}{}", kSummaryPrefix, format_summary(summary, code));
  }
  timeline_.info("exiting with {}", code);
  return code;
}

void Supervisor::run_round(std::span<LoopSource* const> sources) {
  auto woke = loop_.wait(sources, std::nullopt);
  // Every signal of the batch, also those read with the app's SIGCHLD: they still go to
  // what is left of its process group (--group).
  for (const auto& info : woke.signals) on_signal_or_late(info);
  if (child_status_) {
    // The idle fast path takes one signal per round (event_loop.h): what was pending with
    // the app's exit is handled as the rest of a poll() round's batch would have been.
    for (const auto& info : loop_.take_pending()) on_signal_or_late(info);
    return;
  }
  loop_.dispatch(sources, woke.now);
  take_drain_requests();
}

void Supervisor::let_hooks_go() {
  if (control_ == nullptr || control_->idle()) return;
  TimePoint until = Clock::now() + kHookLinger;
  LoopSource* sources[] = {control_};
  for (;;) {
    // A hook that asks now is answered at once: the app is gone.
    while (control_->take_drain_request()) {
    }
    control_->report_drained("app exited");
    if (control_->idle()) return;
    auto woke = loop_.wait(sources, until);  // signals: nobody left to forward them to
    if (woke.now >= until) break;
    loop_.dispatch(sources, woke.now);
  }
  spdlog::warn("a preStop hook is still connected {} after the app exited; exiting anyway",
               format_duration(kHookLinger));
}

void Supervisor::take_drain_requests() {
  if (control_ == nullptr) return;
  while (auto hook = control_->take_drain_request()) {
    if (!runner_.drain().draining()) {
      timeline_.start(Clock::now());
      started_by_ = "preStop hook (pid " + std::to_string(*hook) + ")";
      timeline_.info("{} asked to drain", started_by_);
    } else {
      timeline_.info("preStop hook (pid {}) asked to drain; already {}", *hook,
                     phase_name(runner_.drain().phase()));
    }
    runner_.on_prestop();
  }
  while (auto waited = control_->take_waited()) {
    DrainPhase before = runner_.drain().phase();
    runner_.on_prestop_waited();
    DrainPhase after = runner_.drain().phase();
    if (before == DrainPhase::serving && after == DrainPhase::drained) {
      started_by_ = "preStop hook (pid " + std::to_string(waited->pid) + ")";
    }
    bool skips = after == DrainPhase::drained;
    timeline_.info("preStop hook (pid {}) waited on its own ({}); {}", waited->pid, waited->how,
                   skips ? "the kubelet's SIGTERM is forwarded at once"
                         : std::string("already ") + phase_name(after));
  }
}

void Supervisor::on_signal_or_late(const signalfd_siginfo& info) {
  if (child_status_ && (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT)) {
    skip_orphan_grace_ = true;
    return;
  }
  on_signal(info);
}

void Supervisor::on_signal(const signalfd_siginfo& info) {
  int sig = static_cast<int>(info.ssi_signo);
  switch (sig) {
    case SIGCHLD: on_reaped(); return;
    case SIGTERM:
    case SIGINT: runner_.on_signal(sig, static_cast<pid_t>(info.ssi_pid)); return;
    case SIGPIPE:
      // Never forward a SIGPIPE that lameduck's own socket caused.
      if (static_cast<pid_t>(info.ssi_pid) == getpid()) return;
      forward(sig);
      return;
    default: forward(sig);
  }
}

void Supervisor::forward(int sig) {
  int target = options_.rewrite.apply(sig);
  // In a session of its own the app's process group is orphaned, and the kernel would
  // discard these three (default action): as dumb-init does in setsid mode, they stop the
  // app as SIGSTOP unless a --rewrite names them.
  if ((sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) && child_.own_session() &&
      !options_.rewrite.rewrites(sig)) {
    target = SIGSTOP;
  }
  if (target == 0) {
    spdlog::debug("{} dropped (--rewrite)", signal_name(sig));
    return;
  }
  if (int error = child_.signal(target, options_.group); error != 0 && error != ESRCH) {
    spdlog::warn("forwarding {} to pid {} failed: {}", signal_name(target), child_.pid(),
                 std::strerror(error));
    return;
  }
  // Hot path: build the names only when they will be printed.
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("forwarded {} as {}", signal_name(sig), signal_name(target));
  }
}

void Supervisor::send_stop(std::string_view why) {
  // The stop signal is decided once, at parse time: --signal, or the TERM of
  // --rewrite TERM:X (options.cpp), so the app gets what a plain forward would give.
  int error = child_.signal(options_.stop_signal, options_.group);
  // A stopped app (SIGSTOP, Ctrl-Z) acts on the stop signal only once it runs again; like
  // systemd, continue it, but only when it is stopped, so a running app gets no SIGCONT.
  if (error == 0 && child_.stopped()) child_.signal(SIGCONT, options_.group);
  timeline_.info("{}: sent {} to {} {}{}", why, signal_name(options_.stop_signal),
                 options_.group ? "process group" : "pid", child_.pid(),
                 error == 0 ? "" : std::string(" (failed: ") + std::strerror(error) + ")");
}

void Supervisor::send_kill(std::string_view why) {
  child_.signal(SIGKILL, options_.group);
  timeline_.warn("{}: app still running, sent SIGKILL", why);
}

void Supervisor::report_draining(TimePoint now) {
  if (control_ == nullptr) return;
  const Drain& drain = runner_.drain();
  std::optional<Millis> left;
  // Drained: the deadline is when the drained state expires, not a wait.
  if (auto until = drain.deadline(); until && drain.phase() != DrainPhase::drained) {
    left = std::chrono::ceil<Millis>(*until - now);
  }
  auto elapsed = std::chrono::duration_cast<Millis>(now - drain.started());
  control_->report_draining(describe_drain(drain.phase(), elapsed, left));
}

void Supervisor::report_drained(std::string_view why) {
  if (control_ != nullptr) control_->report_drained(why);
  if (runner_.drain().phase() == DrainPhase::drained) {
    timeline_.info("preStop hook released ({}); app keeps serving until SIGTERM", why);
  }
}

std::string Supervisor::after_wait(bool stopping) const {
  return stopping ? "sending " + signal_name(options_.stop_signal)
                  : std::string("releasing the preStop hook");
}

void Supervisor::drain_expired() {
  started_by_.clear();
}

void Supervisor::on_reaped() {
  while (auto reaped = reap_one()) {
    if (reaped->pid != child_.pid()) {
      if (spdlog::should_log(spdlog::level::debug)) {
        spdlog::debug("reaped pid {} ({})", reaped->pid, describe_status(reaped->status));
      }
      continue;
    }
    child_status_ = reaped->status;
    timeline_.info("app (pid {}) {}", reaped->pid, describe_status(reaped->status));
  }
}

void Supervisor::clean_up_leftovers() {
  while (reap_one()) {
  }
  if (!has_children()) return;
  int count = signal_leftovers(options_.stop_signal);
  spdlog::info("app left {} process(es) behind: sent {}, waiting up to {}",
               count < 0 ? std::string("some") : std::to_string(count),
               signal_name(options_.stop_signal), format_duration(options_.orphan_grace));
  // An impatient operator: SIGTERM or SIGINT cuts the grace short, also one that came
  // with the app's exit (run_round).
  bool skip_grace = skip_orphan_grace_;
  auto wait_for_none = [this, &skip_grace](TimePoint until) {
    while (has_children()) {
      if (Clock::now() >= until || skip_grace) return false;
      for (const auto& info : loop_.wait({}, until).signals) {
        if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) skip_grace = true;
      }
      while (reap_one()) {
      }
    }
    return true;
  };
  if (wait_for_none(Clock::now() + options_.orphan_grace)) {
    spdlog::info("leftover processes exited");
    return;
  }
  signal_leftovers(SIGKILL);
  spdlog::warn("leftover processes still running after {}: sent SIGKILL",
               format_duration(options_.orphan_grace));
  skip_grace = false;
  if (!wait_for_none(Clock::now() + kAfterKillWait)) {
    spdlog::warn("some processes did not exit after SIGKILL; exiting anyway");
  }
}

}  // namespace lameduck
