// SPDX-License-Identifier: Apache-2.0
// Drives one drain, the same way for PID 1 (supervisor.cpp) and the preStop hook waiting
// on its own (prestop.cpp): it owns the Drain, runs the wait sources the Drain asks for,
// feeds it what they find, carries out its actions and logs each phase once, on the
// drain's Timeline. What differs between the two drivers is behind DrainEffects.
//
// A new wait source (e.g. the traffic wait) plugs in without changing this file: add its
// WaitKind and policy in drain.h/drain.cpp (see WaitKind), implement WaitSource, and put
// it in its WaitSources slot in wait_setup. The runner polls the sources that run, starts
// and stops them on start_wait/stop_wait, and stamps their outcomes.
#pragma once

#include <sys/types.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/event_loop.h"
#include "base/log.h"
#include "drain/drain.h"
#include "drain/wait_source.h"

namespace lameduck {

// What carrying out a drain means for its driver.
class DrainEffects {
 public:
  virtual ~DrainEffects() = default;
  // The wait is over (why: what ended it) and the app must stop: the stop signal.
  virtual void send_stop(std::string_view why) = 0;
  // --kill-after passed with the app still running.
  virtual void send_kill(std::string_view why) = 0;
  // A signal the drain does not act on, for the app like any other.
  virtual void forward(int sig) = 0;
  // Answers the preStop hooks that just asked (on_prestop): the drain runs.
  virtual void report_draining(TimePoint now) = 0;
  // The wait is over: waiting preStop hooks are released.
  virtual void report_drained(std::string_view why) = 0;
  // What follows the wait, for "waiting 15s before <this>"; stopping: a stop was asked for.
  virtual std::string after_wait(bool stopping) const = 0;
  // A preStop drain's drained state expired (no SIGTERM followed): serving again, the next
  // drain is a new one. Only PID 1 lives that long.
  virtual void drain_expired() {}
};

// The end-of-drain summary: one greppable line, "drain summary: endpoints 3.1s, settle 5s,
// stopping 400ms; [started by: preStop hook (pid 42); ]ended by: slices gone, then settle
// 5s over; exit status 0".
struct DrainSummary {
  struct Phase {
    std::string name;  // summary_name()
    Millis length;
  };
  std::vector<Phase> phases;  // in the order the drain went through them
  std::string ended_by;       // what ended the wait; empty: nothing did (the app exited first)
  std::string started_by;     // who asked for the drain, when worth naming: "preStop hook (pid 42)"
};
inline constexpr const char* kSummaryPrefix = "drain summary: ";

// "endpoints 3.1s, settle 5s; ended by: ...; exit status 0" (without the prefix).
std::string format_summary(const DrainSummary& summary, std::optional<int> exit_status);

// One slot per WaitKind; null where that wait is not set up.
using WaitSources = std::array<WaitSource*, kWaitKinds>;

// A LoopSource: the loop polls the running wait sources' descriptors through it, and
// wakes it at the drain's deadline.
class DrainRunner final : public LoopSource {
 public:
  DrainRunner(DrainConfig config, WaitSources sources, DrainEffects& effects, Timeline& timeline);
  ~DrainRunner() override;
  DrainRunner(const DrainRunner&) = delete;
  DrainRunner& operator=(const DrainRunner&) = delete;

  // SIGTERM or SIGINT from pid `from`: logged when it is a drain event, else forwarded.
  void on_signal(int sig, pid_t from);
  // A preStop hook asked to drain (or is the driver).
  void on_prestop();
  // A preStop hook did the wait itself (Drain::on_prestop_waited).
  void on_prestop_waited();
  // Stops the wait sources that run (the app exited).
  void stop_waits();
  const Drain& drain() const { return drain_; }
  // The drain so far: its phases up to now, and what ended its wait.
  DrainSummary summary(TimePoint now = Clock::now()) const;

  void add_fds(std::vector<pollfd>& fds) override;
  std::optional<TimePoint> next_timeout() const override;
  // The wait sources' results, then the deadline, each checked with a fresh clock.
  void on_ready(std::span<const pollfd> fds, TimePoint now) override;

 private:
  // now: the time of the event that returned these actions.
  void apply(const std::vector<DrainAction>& actions, TimePoint now);
  void start_wait(WaitKind wait, TimePoint now);
  void stop_wait(WaitKind wait);
  void on_outcome(WaitKind wait, const WaitOutcome& outcome);
  void log_phase(TimePoint now);

  DrainConfig config_;
  Drain drain_;
  WaitSources sources_;
  std::array<bool, kWaitKinds> running_{};
  std::array<std::size_t, kWaitKinds> fd_ends_{};  // this round's slices of add_fds
  DrainEffects& effects_;
  Timeline& timeline_;
  DrainPhase logged_phase_ = DrainPhase::serving;
  struct PhaseStart {
    DrainPhase phase;
    TimePoint start;
  };
  std::vector<PhaseStart> phases_;
  std::vector<std::string> findings_;  // what the wait sources found, for "ended by"
  std::string ended_by_;
};

}  // namespace lameduck
