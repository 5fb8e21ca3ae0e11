// SPDX-License-Identifier: Apache-2.0
// The event loop: every lameduck loop (PID 1's run and leftover waits, the preStop hook's
// two waits, `lameduck endpoints`) is rounds of EventLoop::wait and dispatch: one poll()
// over the signalfd and its sources' descriptors, until one is ready or the earliest
// deadline. Sources do their I/O without blocking.
//
// The idle fast path (issue 21): when no source has a descriptor that needs poll() (none,
// or only ones that raise SIGIO when ready: the preStop socket's listener without
// clients), a round blocks in sigtimedwait() instead of poll() + read(): one system call
// per forwarded signal instead of two. A descriptor's readiness then arrives as a kernel
// SIGIO (si_code > 0), which is never handed to the caller; it makes the loop poll() the
// descriptors (level-triggered) in that round. Nothing can be stranded: the fast path is
// only taken when the last poll() over the same descriptors found none of them ready and
// no SIGIO was taken since, so whatever became ready after that poll() raised a SIGIO that
// is still pending (SIGIO is blocked; standard signals coalesce, so several connections
// may raise one) or was taken, which forces a poll() again. sigtimedwait() takes the
// lowest-numbered pending signal first, so after kFastRoundsBeforePoll fast rounds in a
// row that each took a signal, one round polls (and reads the whole batch): a flood of
// signals below SIGIO (29) cannot keep a ready descriptor waiting.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/types.h>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/duration.h"
#include "base/signal_fd.h"

namespace lameduck {

// poll()'s timeout for a deadline: -1 (block) without one, capped at a day.
inline int timeout_ms(std::optional<TimePoint> deadline, TimePoint now) {
  if (!deadline) return -1;
  if (*deadline <= now) return 0;
  auto ms = std::chrono::ceil<Millis>(*deadline - now).count();
  return ms > 86'400'000 ? 86'400'000 : static_cast<int>(ms);
}

inline std::optional<TimePoint> earliest(std::optional<TimePoint> a, std::optional<TimePoint> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// Something the loop waits on besides signals.
class LoopSource {
 public:
  virtual ~LoopSource() = default;
  virtual void add_fds(std::vector<pollfd>& fds) = 0;
  virtual std::optional<TimePoint> next_timeout() const = 0;
  // fds is exactly what add_fds appended this round, with revents filled in.
  virtual void on_ready(std::span<const pollfd> fds, TimePoint now) = 0;
  // True when every descriptor add_fds gave this round makes the kernel send this process
  // a SIGIO as it becomes ready (O_ASYNC, F_SETOWN to getpid(), no F_SETSIG): the loop may
  // then wait in sigtimedwait() (see the top of this file). Asked right after add_fds; a
  // source that added nothing is not asked.
  virtual bool fds_raise_sigio() const { return false; }
};

// One descriptor to wait on, for loops that read it themselves (the hook's PID 1 socket).
class FdSource final : public LoopSource {
 public:
  explicit FdSource(int fd, short events = POLLIN) : fd_(fd), events_(events) {}
  void add_fds(std::vector<pollfd>& fds) override { fds.push_back({fd_, events_, 0}); }
  std::optional<TimePoint> next_timeout() const override { return std::nullopt; }
  void on_ready(std::span<const pollfd> fds, TimePoint) override {
    ready_ = !fds.empty() && fds.front().revents != 0;
  }
  // Whether the last dispatch saw it ready (or hung up).
  bool ready() const { return ready_; }

 private:
  int fd_;
  short events_;
  bool ready_ = false;
};

class EventLoop {
 public:
  // What woke a round.
  struct Wakeup {
    TimePoint now;                              // when poll() returned
    std::span<const signalfd_siginfo> signals;  // read from the signalfd, oldest first
  };

  explicit EventLoop(SignalFd& signals) : signals_(signals) {}

  // Fast rounds in a row that took a signal before one round polls (top of this file).
  static constexpr int kFastRoundsBeforePoll = 32;

  // Blocks until a signal, a ready descriptor of a source, or the earliest of deadline and
  // the sources' next_timeout(); reads the pending signals. Null sources are skipped. The
  // caller handles the signals, then calls dispatch() with the same sources (or not, if it
  // is done). Buffers are reused: a round allocates nothing once warm.
  Wakeup wait(std::span<LoopSource* const> sources, std::optional<TimePoint> deadline);
  // Hands each source its slice of this round's descriptors.
  void dispatch(std::span<LoopSource* const> sources, TimePoint now);
  // The signals pending now, without blocking (what a poll() round's read would have taken
  // with the last one: the fast path takes one signal per round). Reuses the buffer of
  // wait(): the span wait() returned is no longer valid.
  std::span<const signalfd_siginfo> take_pending();

  // A SIGIO the kernel raised for a descriptor with O_ASYNC (si_code > 0: SI_KERNEL, or a
  // poll code): the loop's own wake-up, never one of the signals wait() returns. A user's
  // `kill -IO` (SI_USER, SI_QUEUE, SI_TKILL: <= 0) is a signal like any other.
  static bool is_io_wakeup(const signalfd_siginfo& info) {
    return info.ssi_signo == SIGIO && info.ssi_code > 0;
  }

 private:
  // The fast path: one sigtimedwait() until a signal or the deadline (the start-up settle
  // time first, as in the poll() path). False when a SIGIO asks for a poll() instead.
  bool wait_for_signal(std::optional<TimePoint> deadline, TimePoint& now);
  // True when the last poll() found none of this round's descriptors ready, and no SIGIO
  // was taken since.
  bool quiet_since_last_poll() const;
  // Takes the SIGIOs out of pending_ (the kernel's are dropped, a user's stays) and, if
  // there was any, asks for a poll() next round: a user's SIGIO may have merged with the
  // kernel's.
  void sort_out_sigio();

  SignalFd& signals_;
  std::vector<pollfd> fds_;
  std::vector<std::size_t> ends_;  // per source: one past its last descriptor in fds_
  std::vector<signalfd_siginfo> pending_;
  std::vector<pollfd> quiet_;  // the descriptors of the last poll(), when none was ready
  bool quiet_valid_ = false;   // false: the next round with descriptors polls
  int fast_rounds_ = 0;        // fast rounds in a row that took a signal
};

// The preStop hook's way in: it asks PID 1 to drain and waits for the answer.
class ControlChannel : public LoopSource {
 public:
  // The pid of a client that asked for a drain since the last call, once per client.
  virtual std::optional<pid_t> take_drain_request() = 0;
  // A hook that did the wait itself ("waited <how>"): its pid and how, once each.
  struct Waited {
    pid_t pid;
    std::string how;
  };
  virtual std::optional<Waited> take_waited() = 0;
  // Answers the clients just taken: the drain runs; details are for the hook's log.
  virtual void report_draining(std::string_view details) = 0;
  // Tells every client waiting for the drain that it is done (how: what ended it), and
  // lets them go.
  virtual void report_drained(std::string_view how) = 0;
  // True when no hook is connected any more (each one answered "done" has hung up): PID 1
  // exiting now cannot kill a hook in the middle of its exit.
  virtual bool idle() const = 0;
};

}  // namespace lameduck
