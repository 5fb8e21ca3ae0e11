// SPDX-License-Identifier: Apache-2.0
#include "init/child.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "base/errors.h"
#include "base/procfs.h"
#include "init/exit_status.h"

namespace lameduck {
namespace {

// Where the app runs (Child::spawn decides; the vforked child acts on it).
enum Placement : int {
  kOwnSession,     // no terminal at all (stdin or controlling): setsid()
  kOwnGroup,       // a terminal lameduck is not in the foreground of, or a controlling
                   // terminal that is not stdin (`app </dev/null` typed in a shell): setpgid()
  kTerminalGroup,  // lameduck has the terminal's foreground: setpgid(), tcsetpgrp()
};

// Runs in the vfork()ed child, which shares lameduck's memory until it execs or exits
// (lameduck is suspended meanwhile): only async-signal-safe calls, nothing allocated, and
// exec's errno goes into *error for lameduck to read when it resumes.
[[noreturn]] void exec_child(char* const* argv, const sigset_t& mask, int placement,
                             volatile int* error) {
  // Never a group leader (a new pid in lameduck's group), so setsid() cannot fail.
  if (placement == kOwnSession) {
    setsid();
  } else {
    setpgid(0, 0);
  }
  // SIGTTOU is still blocked here, so this does not stop us even from a background group.
  if (placement == kTerminalGroup) tcsetpgrp(STDIN_FILENO, getpgrp());
  sigprocmask(SIG_SETMASK, &mask, nullptr);
  *error = 0;  // lameduck sees this (or exec's errno) only when vfork shared the memory
  execvp(argv[0], argv);
  const int failed = errno;
  *error = failed;
  // Under user-mode emulation (qemu-user) vfork is a plain fork and *error never reaches
  // lameduck, so the exit code alone must tell "not found" from "cannot run".
  _exit(failed == ENOENT ? kExitNotFound : kExitNotExecutable);
}

// True when lameduck has a controlling terminal. In a container this is one failed open()
// (ENXIO, or ENOENT without /dev/tty) at start-up; nothing from /proc.
bool has_controlling_terminal() {
  int fd = ::open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// What execvp(file) fails with, judged by looking instead of exec'ing (0: it looks
// runnable), the way glibc searches: PATH (unset: /bin:/usr/bin, an empty entry is the
// working directory); EACCES when only something not executable was found, else ENOENT.
// Only for a vfork that was a fork (qemu-user), where the child's errno is out of reach.
int exec_error_by_looking(const char* file) {
  auto check = [](const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno;
    return S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0 ? 0 : EACCES;
  };
  if (*file == '\0') return ENOENT;
  if (std::strchr(file, '/') != nullptr) return check(file);
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/bin:/usr/bin";
  bool denied = false;
  for (;;) {
    std::size_t colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    int error = check(dir.empty() ? std::string(file) : std::string(dir) + "/" + file);
    if (error == 0) return 0;
    if (error == EACCES) {
      denied = true;
    } else if (error != ENOENT && error != ENOTDIR && error != ESTALE && error != ENODEV &&
               error != ETIMEDOUT) {
      return error;  // glibc's execvp stops there too
    }
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return denied ? EACCES : ENOENT;
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

  // Without a terminal (a container, a Pod) the app gets a session of its own, as
  // dumb-init does: its processes' exits then skip the kernel's orphaned-process-group
  // check (exit_notify -> kill_orphaned_pgrp), which runs only when the exiting process's
  // parent -- lameduck, for every re-parented orphan -- is in another group of the SAME
  // session, and walks the group's members, unreaped zombies included: with many orphans
  // exiting at once that walk, not lameduck, was most of the time to reap them. With a
  // terminal, job control needs the app in lameduck's session: its own group, and the
  // terminal's foreground when lameduck has it on stdin (decided here: the child's parent
  // is lameduck, so its test would be the same). Stdin alone does not tell: with
  // `lameduck -- app </dev/null` typed in a shell the session still has a terminal, which
  // a setsid() would take from the app (open("/dev/tty") -> ENXIO).
  int where = kOwnSession;
  if (isatty(STDIN_FILENO)) {
    where = tcgetpgrp(STDIN_FILENO) == getpgrp() ? kTerminalGroup : kOwnGroup;
  } else if (has_controlling_terminal()) {
    where = kOwnGroup;
  }
  volatile int placement = where;
  // vfork, not fork: no copy of lameduck's page tables and no copy-on-write faults in
  // either process, and the exec error needs no pipe. When vfork returns here, the child
  // has exec'd (so its setsid or setpgid is done: a group signal cannot race it) or exited.
  // kUnseen stays when the child's writes never reach lameduck: qemu-user runs a guest's
  // vfork as a fork, and the child execs (or fails to) on its own copy of the memory.
  constexpr int kUnseen = -1;
  volatile int error = kUnseen;
  pid_t pid = vfork();
  if (pid < 0) {
    throw SetupError(kExitUsage, errno_text("cannot fork"));
  }
  if (pid == 0) exec_child(argv.data(), mask, placement, &error);
  if (error == kUnseen) {
    // Then lameduck looks for itself: what cannot be exec'd here failed in the child
    // too (which exits 126 or 127 alone; killed, it never runs on), so the error line
    // says why as natively. What looks runnable is the app, as before.
    error = exec_error_by_looking(argv[0]);
    if (error != 0) ::kill(pid, SIGKILL);
  }
  if (error != 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw describe_exec_error(args.front(), error);
  }
  Child out;
  out.pid_ = pid;
  out.own_session_ = placement == kOwnSession;
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

std::optional<Reaped> reap_one() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) return Reaped{pid, status};
    if (pid < 0 && errno == EINTR) continue;
    return std::nullopt;
  }
}

bool has_children() {
  siginfo_t info{};
  // WNOWAIT: only ask; ECHILD means there is nobody left to wait for.
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

}  // namespace lameduck
