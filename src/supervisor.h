// The run phase: one loop over the signalfd (and the watch and control socket when they
// exist), driving the Drain state machine. Once the child runs, only its exit ends this.
#pragma once

#include <poll.h>

#include <set>
#include <vector>

#include "child.h"
#include "drain.h"
#include "loop_source.h"
#include "signal_fd.h"
#include "signals.h"
#include "wait_source.h"

namespace lameduck {

struct SupervisorConfig {
  DrainConfig drain;
  int stop_signal = SIGTERM;
  SignalRewrite rewrite;
  bool group = false;
  std::set<int> success_codes;
  Millis orphan_grace{2000};
};

class Supervisor {
 public:
  // watcher and control may be null.
  Supervisor(SupervisorConfig config, SignalFd& signals, Child child, WaitSource* watcher,
             ControlChannel* control);
  // Runs until the app has exited and its leftovers are gone; returns lameduck's exit code.
  int run();

 private:
  void on_signal(const signalfd_siginfo& info, TimePoint now);
  void on_reaped(TimePoint now);
  void on_watch_outcome(const WaitOutcome& outcome, TimePoint now);
  void apply(const std::vector<DrainAction>& actions, TimePoint now);
  void forward(int sig);
  void poll_once(std::optional<TimePoint> deadline);
  void clean_up_leftovers();
  long long elapsed_ms(TimePoint now) const;

  SupervisorConfig config_;
  SignalFd& signals_;
  Child child_;
  WaitSource* watcher_;
  ControlChannel* control_;
  Drain drain_;
  std::optional<int> child_status_;
  bool skip_leftover_grace_ = false;
  DrainPhase logged_phase_ = DrainPhase::serving;
  std::vector<pollfd> fds_;
  std::vector<signalfd_siginfo> pending_;
};

}  // namespace lameduck
