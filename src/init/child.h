// SPDX-License-Identifier: Apache-2.0
// The app lameduck runs: spawning it pristine, signalling it, and reaping.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace lameduck {

class Child {
 public:
  // Forks and execs argv (PATH lookup) with the given signal mask, default dispositions
  // for caught signals, in a session of its own when lameduck has no terminal (neither on
  // stdin nor a controlling one); else in its own process group of lameduck's session, in
  // the terminal's foreground when lameduck has it on stdin. Throws SetupError (exit 125,
  // 126 or 127, one line: what failed and what to do) when the command cannot be started.
  static Child spawn(const std::vector<std::string>& argv, const sigset_t& mask);

  pid_t pid() const { return pid_; }
  // Sends sig to the app, or to its process group when group is true. Returns errno or 0.
  int signal(int sig, bool group) const;
  // True while the app is in a job-control stop (state T in /proc/<pid>/stat).
  bool stopped() const;
  // True when spawn() started the app in a session of its own (setsid): its process group
  // is then orphaned, and the kernel discards SIGTSTP, SIGTTIN and SIGTTOU sent to it
  // while their action is the default.
  bool own_session() const { return own_session_; }

 private:
  pid_t pid_ = -1;
  bool own_session_ = false;
};

// Makes lameduck the child subreaper (PR_SET_CHILD_SUBREAPER). Returns errno or 0.
int become_subreaper();

struct Reaped {
  pid_t pid;
  int status;
};

// Reaps one exited child without blocking (waitpid(-1, WNOHANG)); nullopt when none has
// exited. Callers loop until nullopt: nothing is allocated per reaped process.
std::optional<Reaped> reap_one();

// True while lameduck still has children (exited or not).
bool has_children();

}  // namespace lameduck
