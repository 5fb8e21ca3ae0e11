// SPDX-License-Identifier: Apache-2.0
#include "init/child.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/errors.h"
#include "base/procfs.h"
#include "base/unique_fd.h"
#include "init/exit_status.h"

namespace lameduck {
namespace {

// Runs in the forked child; only async-signal-safe calls. Reports exec's errno through
// the close-on-exec pipe: EOF there means exec succeeded.
[[noreturn]] void exec_child(char* const* argv, const sigset_t& mask, int report_fd) {
  setpgid(0, 0);
  // Hand over the terminal if lameduck was in its foreground. SIGTTOU is still blocked
  // here, so this does not stop us even from a background group.
  if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgid(getppid())) {
    tcsetpgrp(STDIN_FILENO, getpgrp());
  }
  sigprocmask(SIG_SETMASK, &mask, nullptr);
  execvp(argv[0], argv);
  int error = errno;
  [[maybe_unused]] auto ignored = ::write(report_fd, &error, sizeof error);
  _exit(kExitNotFound);
}

SetupError describe_exec_error(const std::string& command, int error) {
  std::string reason = std::strerror(error);
  if (error == ENOENT) {
    bool has_slash = command.find('/') != std::string::npos;
    return {kExitNotFound, "cannot run '" + command + "': " + reason +
                               (has_slash ? "" : " (searched PATH; give an absolute path?)")};
  }
  if (error == EACCES || error == ENOEXEC || error == EISDIR || error == EPERM) {
    return {kExitNotExecutable,
            "cannot run '" + command + "': " + reason + " (is it an executable file?)"};
  }
  return {kExitNotExecutable, "cannot run '" + command + "': " + reason};
}

}  // namespace

Child Child::spawn(const std::vector<std::string>& args, const sigset_t& mask) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int ends[2];
  if (pipe2(ends, O_CLOEXEC) != 0) {
    throw SetupError(kExitUsage, errno_text("pipe2 failed"));
  }
  UniqueFd report_read(ends[0]);
  UniqueFd report_write(ends[1]);
  pid_t pid = fork();
  if (pid < 0) {
    throw SetupError(kExitUsage, errno_text("cannot fork"));
  }
  if (pid == 0) {
    report_read.reset();
    exec_child(argv.data(), mask, report_write.get());
  }
  report_write.reset();
  setpgid(pid, pid);  // also here, so signals to the group cannot race the child's own call
  int error = 0;
  ssize_t n;
  do {
    n = ::read(report_read.get(), &error, sizeof error);
  } while (n < 0 && errno == EINTR);
  report_read.reset();
  if (n == static_cast<ssize_t>(sizeof error)) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw describe_exec_error(args.front(), error);
  }
  Child out;
  out.pid_ = pid;
  return out;
}

int Child::signal(int sig, bool group) const {
  if (pid_ <= 0) return ESRCH;
  return ::kill(group ? -pid_ : pid_, sig) == 0 ? 0 : errno;
}

bool Child::stopped() const {
  if (pid_ <= 0) return false;
  auto stat = read_proc_stat(pid_);
  return stat && stat->state == 'T';
}

int become_subreaper() {
  return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : errno;
}

std::vector<Reaped> reap_exited() {
  std::vector<Reaped> out;
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      out.push_back({pid, status});
      continue;
    }
    if (pid < 0 && errno == EINTR) continue;
    break;
  }
  return out;
}

bool has_children() {
  siginfo_t info{};
  // WNOWAIT: only ask; ECHILD means there is nobody left to wait for.
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

}  // namespace lameduck
