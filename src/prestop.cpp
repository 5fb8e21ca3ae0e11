#include "prestop.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control.h"
#include "drain.h"
#include "endpoint_watch.h"
#include "log.h"
#include "run.h"

namespace lameduck {
namespace {

// How much longer than its own --max-delay the hook waits for PID 1's answer: PID 1's
// drain is capped by the same --max-delay (one config for both), plus scheduling slack.
constexpr Millis kPid1Margin{1000};

enum class Asked { done, wait_here };

long long elapsed_ms(TimePoint start, TimePoint now) {
  return std::chrono::duration_cast<Millis>(now - start).count();
}

// SIGTERM, SIGINT or SIGHUP end the hook's wait early: someone wants the container gone
// now (the kubelet never signals a hook, so this is an operator). Other signals are ignored.
bool interrupted(SignalFd& signals, TimePoint start, TimePoint now) {
  for (const auto& info : signals.read_pending()) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
      spdlog::info("t=+{}ms {} received from pid {}: preStop hook stops waiting, exits 0",
                   elapsed_ms(start, now), signal_name(sig), info.ssi_pid);
      return true;
    }
  }
  return false;
}

// Step 1: when PID 1 is lameduck, let it drain and wait for its answer, so the drain
// happens once, with PID 1's configuration, and the kubelet's SIGTERM is forwarded at once.
Asked ask_pid1(const PrestopOptions& options, SignalFd& signals, TimePoint start) {
  if (getpid() == 1) {
    spdlog::info("t=+0ms preStop: running as PID 1 itself; waiting here");
    return Asked::wait_here;
  }
  std::string why_not;
  auto pid_namespace = own_pid_namespace(why_not);
  if (!pid_namespace) {
    spdlog::info("t=+0ms preStop: {}; waiting here", why_not);
    return Asked::wait_here;
  }
  auto client = ControlClient::connect(control_socket_name(*pid_namespace), why_not);
  if (!client) {
    spdlog::info("t=+0ms preStop: PID 1 is not lameduck or does not listen ({}); waiting here",
                 why_not);
    return Asked::wait_here;
  }
  if (auto refusal = refuse_server(client->server(), geteuid())) {
    spdlog::warn("t=+0ms preStop: not asking the control socket's owner to drain: {}; waiting here",
                 *refusal);
    return Asked::wait_here;
  }
  if (auto error = client->send_drain_request()) {
    // A refusing PID 1 answers and closes at once, maybe before our request went out.
    std::vector<Reply> replies;
    std::string closed_why;
    client->read_replies(replies, closed_why);
    for (const auto& reply : replies) {
      if (reply.kind == ReplyKind::refused) *error = "PID 1 refused: " + reply.text;
    }
    spdlog::warn("t=+0ms preStop: cannot ask PID 1 to drain ({}); waiting here", *error);
    return Asked::wait_here;
  }
  Millis bound = options.wait.max_delay + kPid1Margin;
  TimePoint until = start + bound;
  spdlog::info("t=+{}ms preStop: asked PID 1 (lameduck) to drain; waiting for it (at most {})",
               elapsed_ms(start, Clock::now()), format_duration(bound));
  for (;;) {
    pollfd fds[2] = {{signals.fd(), POLLIN, 0}, {client->fd(), POLLIN, 0}};
    int ready = ::poll(fds, 2, timeout_ms(until, Clock::now()));
    if (ready < 0 && errno != EINTR) {
      spdlog::error("poll failed: {}", std::strerror(errno));
      return Asked::done;
    }
    auto now = Clock::now();
    auto t = elapsed_ms(start, now);
    if (ready > 0 && (fds[0].revents & POLLIN) != 0 && interrupted(signals, start, now)) {
      return Asked::done;
    }
    if (ready > 0 && fds[1].revents != 0) {
      std::vector<Reply> replies;
      std::string closed_why;
      bool open = client->read_replies(replies, closed_why);
      for (const auto& reply : replies) {
        switch (reply.kind) {
          case ReplyKind::draining:
            spdlog::info("t=+{}ms PID 1 is draining: {}", t, reply.text);
            break;
          case ReplyKind::done:
            spdlog::info("t=+{}ms PID 1 reports the drain done ({}); preStop hook exits 0", t,
                         reply.text);
            return Asked::done;
          case ReplyKind::refused:
            spdlog::warn("t=+{}ms PID 1 refused the drain request: {}; waiting here", t,
                         reply.text);
            return Asked::wait_here;
          case ReplyKind::unknown:
            spdlog::warn("t=+{}ms unexpected reply from PID 1: '{}'", t, reply.text);
            break;
        }
      }
      if (!open) {
        // PID 1 exits only when the app did: the container is going away, and so is the hook.
        spdlog::info(
            "t=+{}ms PID 1 closed the control socket{}; it is exiting, preStop hook exits 0", t,
            closed_why.empty() ? "" : " (" + closed_why + ")");
        return Asked::done;
      }
    }
    if (now >= until) {
      spdlog::warn(
          "t=+{}ms PID 1 did not report the drain done within {} (--max-delay + {}); "
          "preStop hook exits 0",
          t, format_duration(bound), format_duration(kPid1Margin));
      return Asked::done;
    }
  }
}

// Step 2: the wait itself, as PID 1 would do it: EndpointSlices + settle, or --delay.
int wait_here(const PrestopOptions& options, SignalFd& signals, TimePoint start) {
  WatchSetup watch = setup_endpoint_watch(options.wait.api);
  WaitSource* watcher = watch.watcher.get();
  DrainConfig config = drain_config(options.wait, watch.wait_endpoints);
  Drain drain(config);
  auto now = Clock::now();
  auto actions = drain.on_prestop(now);
  DrainPhase logged = DrainPhase::serving;
  for (;;) {
    // Apply what the drain decided; a missing watcher feeds back an API failure.
    while (!actions.empty()) {
      std::vector<DrainAction> more;
      auto t = elapsed_ms(start, now);
      for (const auto& action : actions) {
        switch (action.kind) {
          case DrainAction::Kind::start_wait:
            if (watcher == nullptr) {
              more = drain.on_wait(WaitKind::endpoints,
                                   {WaitOutcome::Kind::failed, "no EndpointSlice watcher"}, now);
              break;
            }
            spdlog::info("t=+{}ms waiting until the Pod left every EndpointSlice (at most {})", t,
                         format_duration(config.max_delay));
            if (auto outcome = watcher->start(now))
              more = drain.on_wait(WaitKind::endpoints, *outcome, now);
            break;
          case DrainAction::Kind::stop_wait:
            if (watcher != nullptr) watcher->stop();
            break;
          case DrainAction::Kind::report_drained:
            if (watcher != nullptr) watcher->stop();
            spdlog::info("t=+{}ms {}: preStop hook exits 0", t, action.why);
            return 0;
          // Never asked for: a preStop drain does not stop anything (no SIGTERM here).
          case DrainAction::Kind::send_stop:
          case DrainAction::Kind::send_kill:
          case DrainAction::Kind::forward: break;
        }
      }
      actions = std::move(more);
    }

    if (drain.phase() != logged && drain.deadline()) {
      logged = drain.phase();
      auto left = format_duration(std::chrono::ceil<Millis>(*drain.deadline() - now));
      auto t = elapsed_ms(start, now);
      if (logged == DrainPhase::waiting_delay) spdlog::info("t=+{}ms waiting {}", t, left);
      if (logged == DrainPhase::settling) {
        spdlog::info("t=+{}ms settling {} so consumers catch up", t, left);
      }
    }
    std::vector<pollfd> fds{{signals.fd(), POLLIN, 0}};
    auto deadline = drain.deadline();
    if (watcher != nullptr) {
      watcher->add_fds(fds);
      deadline = earliest(deadline, watcher->next_timeout());
    }
    int ready = ::poll(fds.data(), fds.size(), timeout_ms(deadline, Clock::now()));
    if (ready < 0 && errno != EINTR) spdlog::error("poll failed: {}", std::strerror(errno));
    now = Clock::now();
    if (ready > 0 && (fds[0].revents & POLLIN) != 0 && interrupted(signals, start, now)) {
      if (watcher != nullptr) watcher->stop();
      return 0;
    }
    if (watcher != nullptr) {
      if (auto outcome = watcher->on_ready(std::span<const pollfd>(fds).subspan(1), now)) {
        now = Clock::now();  // after the finding: a settle counts from here
        actions = drain.on_wait(WaitKind::endpoints, *outcome, now);
      }
    }
    if (actions.empty()) actions = drain.on_tick(now);
  }
}

}  // namespace

int run_prestop(const PrestopOptions& options, SignalFd& signals) {
  auto start = Clock::now();
  if (ask_pid1(options, signals, start) == Asked::done) return 0;
  return wait_here(options, signals, start);
}

}  // namespace lameduck
