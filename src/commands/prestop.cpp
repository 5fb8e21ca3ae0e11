// SPDX-License-Identifier: Apache-2.0
#include "commands/prestop.h"

#include <unistd.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/event_loop.h"
#include "base/log.h"
#include "base/procfs.h"
#include "commands/wait_setup.h"
#include "control/control_client.h"
#include "drain/drain.h"
#include "drain/drain_runner.h"

namespace lameduck {
namespace {

// How much longer than its own --max-delay the hook waits for PID 1's answer: PID 1's
// drain is capped by the same --max-delay (one config for both), plus scheduling slack.
constexpr Millis kPid1Margin{1000};

// wait_here: PID 1 could not be asked (maybe it is lameduck but busy); wait_alone: there
// is no lameduck PID 1 to tell afterwards (the hook is PID 1, or has no PID namespace).
enum class Asked { done, wait_here, wait_alone };

// After its own wait, how long the hook tries a still-full backlog to tell PID 1.
constexpr Millis kTellBusyRetry{500};

// SIGTERM, SIGINT or SIGHUP end the hook's wait early: someone wants the container gone
// now (the kubelet never signals a hook, so this is an operator). Other signals are ignored.
// Returns what ended the wait ("SIGTERM from pid 12"), or nothing.
std::optional<std::string> interrupted(std::span<const signalfd_siginfo> signals,
                                       const Timeline& timeline) {
  for (const auto& info : signals) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
      timeline.info("{} received from pid {}: preStop hook stops waiting, exits 0",
                    signal_name(sig), info.ssi_pid);
      return signal_name(sig) + " from pid " + std::to_string(info.ssi_pid);
    }
  }
  return std::nullopt;
}

void log_summary(const Timeline& timeline, const DrainSummary& summary) {
  timeline.info("{}{}", kSummaryPrefix, format_summary(summary, std::nullopt));
}

// The hook's summary when PID 1 drained: one phase, its wait for PID 1.
Asked pid1_done(const Timeline& timeline, std::string ended_by) {
  log_summary(timeline, {{{"pid1", timeline.elapsed()}}, std::move(ended_by), {}});
  return Asked::done;
}

// Retries of a busy PID 1's socket wait in the hook's loop: a signal that ends the hook's
// wait ends them too (its description then in *why).
RetryPause pause_in(EventLoop& loop, const Timeline& timeline, std::optional<std::string>& why) {
  return [&loop, &timeline, &why](TimePoint until) {
    why = interrupted(loop.wait({}, until).signals, timeline);
    return !why;
  };
}

// Step 1: when PID 1 is lameduck, let it drain and wait for its answer, so the drain
// happens once, with PID 1's configuration, and the kubelet's SIGTERM is forwarded at once.
Asked ask_pid1(const PrestopOptions& options, EventLoop& loop, const Timeline& timeline) {
  using Failure = ControlConnection::Failure;
  if (is_pid1()) {
    timeline.info("preStop: running as PID 1 itself; waiting here");
    return Asked::wait_alone;
  }
  auto pid_namespace = own_pid_namespace();
  if (!pid_namespace.ok()) {
    timeline.info("preStop: {}; waiting here", pid_namespace.error);
    return Asked::wait_alone;
  }
  std::optional<std::string> stopped_by;
  auto connection = connect_to_pid1(pid_namespace.inode, geteuid(), kBusyRetry,
                                    pause_in(loop, timeline, stopped_by));
  switch (connection.failure) {
    case Failure::none: stop_copy_to_pid1(); break;  // PID 1 logs the drain
    case Failure::interrupted: return pid1_done(timeline, *stopped_by);
    case Failure::absent:
      timeline.info("preStop: PID 1 is not lameduck or does not listen ({}); waiting here",
                    connection.why);
      return Asked::wait_here;
    case Failure::busy:
      timeline.warn("preStop: PID 1 is busy ({}); waiting here", connection.why);
      return Asked::wait_here;
    case Failure::untrusted:
      timeline.warn("preStop: not asking the control socket's owner to drain: {}; waiting here",
                    connection.why);
      return Asked::wait_here;
  }
  auto& client = connection.client;
  if (auto sent = client->send_drain_request(); !sent.ok()) {
    // A refusing PID 1 answers and closes at once, maybe before our request went out.
    std::string error = sent.error;
    for (const auto& reply : client->read_replies().replies) {
      if (reply.kind == ReplyKind::refused) error = "PID 1 refused: " + reply.text;
    }
    timeline.warn("preStop: cannot ask PID 1 to drain ({}); waiting here", error);
    return Asked::wait_here;
  }
  Millis bound = options.wait.max_delay + kPid1Margin;
  TimePoint until = timeline.zero() + bound;  // from the hook's start
  timeline.info("preStop: asked PID 1 (lameduck) to drain; waiting for it (at most {})",
                format_duration(bound));
  client->keep_open_until_exit();
  for (;;) {
    auto got = client->await_reply(loop, until);
    if (auto why = interrupted(got.signals, timeline)) return pid1_done(timeline, *why);
    for (const auto& reply : got.read.replies) {
      switch (reply.kind) {
        case ReplyKind::draining: timeline.info("PID 1 is draining: {}", reply.text); break;
        case ReplyKind::done:
          timeline.info("PID 1 reports the drain done ({}); preStop hook exits 0", reply.text);
          return pid1_done(timeline, "PID 1 reported it done (" + reply.text + ")");
        case ReplyKind::refused:
          timeline.warn("PID 1 refused the drain request: {}; waiting here", reply.text);
          return Asked::wait_here;
        case ReplyKind::unknown:
          timeline.warn("unexpected reply from PID 1: '{}'", reply.text);
          break;
      }
    }
    if (!got.read.open) {
      // PID 1 exits only when the app did: the container is going away, and so is the hook.
      timeline.info("PID 1 closed the control socket{}; it is exiting, preStop hook exits 0",
                    got.read.error.empty() ? "" : " (" + got.read.error + ")");
      return pid1_done(timeline, "PID 1 exited");
    }
    if (Clock::now() >= until) {
      timeline.warn(
          "PID 1 did not report the drain done within {} (--max-delay + {}); preStop hook "
          "exits 0",
          format_duration(bound), format_duration(kPid1Margin));
      return pid1_done(timeline, "no answer from PID 1 within " + format_duration(bound));
    }
  }
}

// The hook's drain effects: it stops nothing; when the wait is over, it exits 0.
class HookEffects final : public DrainEffects {
 public:
  explicit HookEffects(const Timeline& timeline) : timeline_(timeline) {}
  bool done() const { return done_; }

  // Never asked for: a preStop drain does not stop anything (no SIGTERM here).
  void send_stop(std::string_view) override {}
  void send_kill(std::string_view) override {}
  void forward(int) override {}
  void report_draining(TimePoint) override {}
  void report_drained(std::string_view why) override {
    timeline_.info("{}: preStop hook exits 0", why);
    done_ = true;
  }
  std::string after_wait(bool) const override { return "the preStop hook exits 0"; }

 private:
  const Timeline& timeline_;
  bool done_ = false;
};

// Step 3, after a wait of its own: a lameduck PID 1 that could not be asked (busy, or it
// refused) is told, so the kubelet's SIGTERM that follows is not a second wait. Only a
// PID 1 that passes the same checks as in step 1 is told; anything else stays quiet. A
// signal that would end a wait ends this too: the hook exits 0 at once.
void tell_pid1(EventLoop& loop, const Timeline& timeline, const std::string& how) {
  auto pid_namespace = own_pid_namespace();
  if (!pid_namespace.ok()) return;
  std::optional<std::string> stopped_by;
  auto connection = connect_to_pid1(pid_namespace.inode, geteuid(), kTellBusyRetry,
                                    pause_in(loop, timeline, stopped_by));
  if (connection.failure != ControlConnection::Failure::none) {
    if (!stopped_by)
      timeline.debug("preStop: not telling PID 1 about this wait: {}", connection.why);
    return;
  }
  auto& client = connection.client;
  client->keep_open_until_exit();
  if (auto sent = client->send_line(format_waited_request(how)); !sent.ok()) {
    timeline.debug("preStop: cannot tell PID 1 about this wait: {}", sent.error);
    return;
  }
  // Its answer ("done noted", or "refused ..."), briefly: the hook's exit must not wait.
  TimePoint until = Clock::now() + Millis(500);
  for (;;) {
    auto got = client->await_reply(loop, until);
    if (interrupted(got.signals, timeline)) return;
    for (const auto& reply : got.read.replies) {
      if (reply.kind == ReplyKind::done) {
        timeline.info(
            "preStop: told PID 1 (lameduck) that this hook waited; it forwards the "
            "kubelet's SIGTERM at once");
        return;
      }
      if (reply.kind == ReplyKind::refused) {
        timeline.info("preStop: PID 1 refused to hear about this wait: {}", reply.text);
        return;
      }
    }
    if (!got.read.open || Clock::now() >= until) return;
  }
}

// Step 2: the wait itself, as PID 1 would do it: EndpointSlices + settle, or --delay.
int wait_here(const PrestopOptions& options, EventLoop& loop, Timeline& timeline, bool tell) {
  // PID 1 is not lameduck: every listening port of the namespace is the app's (or --port).
  WaitSetup wait = setup_wait(options.wait, std::nullopt, timeline);
  add_traffic_wait(wait, options.wait.traffic, std::nullopt, timeline);
  HookEffects effects(timeline);
  DrainRunner runner(wait.drain, wait.sources(), effects, timeline);
  runner.on_prestop();
  LoopSource* sources[] = {&runner};
  while (!effects.done()) {
    auto woke = loop.wait(sources, std::nullopt);
    if (auto why = interrupted(woke.signals, timeline)) {
      auto summary = runner.summary();
      summary.ended_by = *why;
      log_summary(timeline, summary);
      return 0;
    }
    loop.dispatch(sources, woke.now);
  }
  auto summary = runner.summary();
  if (tell) tell_pid1(loop, timeline, summary.ended_by);
  log_summary(timeline, summary);
  return 0;
}

}  // namespace

int run_prestop(const PrestopOptions& options, SignalFd& signals) {
  // The hook's timeline starts with the hook: asking PID 1 is part of the drain.
  Timeline timeline;
  timeline.start(Clock::now());
  // Where `kubectl logs` reads, until PID 1 turns out to be lameduck (ask_pid1).
  copy_log_to_pid1(options.log);
  EventLoop loop(signals);
  auto asked = ask_pid1(options, loop, timeline);
  if (asked == Asked::done) return 0;
  return wait_here(options, loop, timeline, asked == Asked::wait_here);
}

}  // namespace lameduck
