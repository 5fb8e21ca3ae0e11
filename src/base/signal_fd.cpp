// SPDX-License-Identifier: Apache-2.0
#include "base/signal_fd.h"

#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "base/errors.h"

namespace lameduck {

SignalFd::SignalFd() {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  fd_.reset(signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC));
  // Not a setup mistake: main reports it as an internal error.
  if (!fd_) throw std::runtime_error(errno_text("signalfd failed"));
}

void SignalFd::read_pending(std::vector<signalfd_siginfo>& out) {
  out.clear();
  signalfd_siginfo buffer[16];
  for (;;) {
    ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.insert(out.end(), buffer, buffer + n / static_cast<ssize_t>(sizeof(signalfd_siginfo)));
    if (n < static_cast<ssize_t>(sizeof buffer)) break;  // drained: spare the EAGAIN read
  }
}

}  // namespace lameduck
