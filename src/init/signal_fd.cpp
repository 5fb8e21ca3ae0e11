// SPDX-License-Identifier: Apache-2.0
#include "init/signal_fd.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace lameduck {

SignalFd::SignalFd() {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  fd_ = signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) {
    throw std::runtime_error(std::string("signalfd failed: ") + std::strerror(errno));
  }
}

SignalFd::~SignalFd() {
  // The mask stays blocked: this runs as lameduck exits, and unblocking would deliver
  // whatever is still pending with its default action (a SIGPIPE from a log write to a
  // closed stderr would replace the app's exit status with 141).
  if (fd_ >= 0) ::close(fd_);
}

std::vector<signalfd_siginfo> SignalFd::read_pending() {
  std::vector<signalfd_siginfo> out;
  read_pending(out);
  return out;
}

void SignalFd::read_pending(std::vector<signalfd_siginfo>& out) {
  out.clear();
  signalfd_siginfo buffer[16];
  for (;;) {
    ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.insert(out.end(), buffer, buffer + n / static_cast<ssize_t>(sizeof(signalfd_siginfo)));
    if (n < static_cast<ssize_t>(sizeof buffer)) break;  // drained: spare the EAGAIN read
  }
}

}  // namespace lameduck
