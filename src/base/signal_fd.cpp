// SPDX-License-Identifier: Apache-2.0
#include "base/signal_fd.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>

#include "base/errors.h"

namespace lameduck {

SignalFd::SignalFd() {
  sigfillset(&set_);
  sigprocmask(SIG_BLOCK, &set_, nullptr);
  fd_.reset(signalfd(-1, &set_, SFD_NONBLOCK | SFD_CLOEXEC));
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

bool SignalFd::wait_one(const timespec* timeout, signalfd_siginfo& out) const {
  siginfo_t info{};
  int sig = ::sigtimedwait(&set_, &info, timeout);
  if (sig <= 0) return false;
  out = signalfd_siginfo{};
  out.ssi_signo = static_cast<std::uint32_t>(sig);
  out.ssi_errno = info.si_errno;
  out.ssi_code = info.si_code;
  if (sig == SIGIO && info.si_code > 0 && info.si_code != SI_KERNEL) {
    out.ssi_fd = info.si_fd;  // F_SETSIG-style: the poll band and the descriptor
    out.ssi_band = static_cast<std::uint32_t>(info.si_band);
    return true;
  }
  out.ssi_pid = static_cast<std::uint32_t>(info.si_pid);
  out.ssi_uid = info.si_uid;
  if (sig == SIGCHLD) out.ssi_status = info.si_status;
  return true;
}

}  // namespace lameduck
