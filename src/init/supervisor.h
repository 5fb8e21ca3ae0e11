// SPDX-License-Identifier: Apache-2.0
// The run phase: one event loop over the signalfd, the drain (its wait sources) and the
// control socket. Once the child runs, only its exit ends this.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/event_loop.h"
#include "base/log.h"
#include "base/signal_fd.h"
#include "cli/options.h"
#include "commands/wait_setup.h"
#include "drain/drain.h"
#include "drain/drain_runner.h"
#include "init/child.h"

namespace lameduck {

// The drain's effects as PID 1: signals to the app and answers to preStop hooks.
class Supervisor final : private DrainEffects {
 public:
  // The drain as set up (its sources must outlive this), and its timeline; control may be
  // null.
  Supervisor(const RunOptions& options, const WaitSetup& wait, Timeline& timeline,
             SignalFd& signals, Child child, ControlChannel* control);
  // Runs until the app has exited and its leftovers are gone; returns lameduck's exit code.
  int run();

 private:
  // One round of the loop: wait, handle the signals, dispatch, take the hooks' requests.
  void run_round(std::span<LoopSource* const> sources);
  void on_signal(const signalfd_siginfo& info);
  // on_signal, or once the app has exited: SIGTERM and SIGINT cut the orphan grace short
  // (as in clean_up_leftovers), nothing to drain; the rest is forwarded as before.
  void on_signal_or_late(const signalfd_siginfo& info);
  void on_reaped();
  void take_drain_requests();
  void clean_up_leftovers();
  // Lets connected preStop hooks take "done" and hang up (at most kHookLinger).
  void let_hooks_go();

  void send_stop(std::string_view why) override;
  void send_kill(std::string_view why) override;
  void forward(int sig) override;
  void report_draining(TimePoint now) override;
  void report_drained(std::string_view why) override;
  std::string after_wait(bool stopping) const override;
  void drain_expired() override;

  const RunOptions& options_;
  Child child_;
  ControlChannel* control_;
  Timeline& timeline_;
  DrainRunner runner_;
  EventLoop loop_;
  std::optional<int> child_status_;
  bool skip_orphan_grace_ = false;  // a SIGTERM or SIGINT came after the app exited
  std::string started_by_;          // the preStop hook that started the drain, for its summary
};

// The details PID 1 sends a preStop hook with "draining", for the hook's log:
// "phase=waiting-delay elapsed=0ms left=15000ms".
std::string describe_drain(DrainPhase phase, Millis elapsed, std::optional<Millis> left);

}  // namespace lameduck
