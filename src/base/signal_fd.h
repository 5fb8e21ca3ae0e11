// SPDX-License-Identifier: Apache-2.0
// Owns lameduck's signal state: every signal is blocked for the life of the process and
// read from a signalfd. That includes the fault signals (SEGV, BUS, FPE, ILL, TRAP, SYS,
// ABRT), so a `kill -SEGV` is read and forwarded: a real fault still kills lameduck at
// once, because the kernel unblocks a synchronous fault's signal and applies its default
// action (force_sig_info), and abort() unblocks SIGABRT before it raises it.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>

#include <vector>

#include "base/unique_fd.h"

namespace lameduck {

class SignalFd {
 public:
  // Blocks signals first; call as the very first thing in main, before any library
  // might start a thread, so every thread inherits the mask.
  // Throws when the signalfd cannot be made. On exit the mask stays blocked:
  // this runs as lameduck exits, and unblocking would deliver whatever is still pending
  // with its default action (a SIGPIPE from a log write to a closed stderr would replace
  // the app's exit status with 141).
  SignalFd();

  int fd() const { return fd_.get(); }
  // Every signal pending now (never blocks) into out (cleared first), reusing its storage.
  void read_pending(std::vector<signalfd_siginfo>& out);
  // Blocks in sigtimedwait() on the same set, without the descriptor, until one signal is
  // pending (taken, lowest number first, as a read would) or timeout passes (null: no
  // limit). One system call where poll() + read() are two. False on timeout or EINTR.
  // Fills the fields lameduck reads (signo, errno, code, pid, uid; status for SIGCHLD;
  // fd and band for a SIGIO with a poll code).
  bool wait_one(const timespec* timeout, signalfd_siginfo& out) const;

 private:
  UniqueFd fd_;
  sigset_t set_{};
};

}  // namespace lameduck
