// SPDX-License-Identifier: Apache-2.0
// Processes left behind once the app has exited: daemons it started and re-parented
// orphans. tini and dumb-init leave them to the kernel's SIGKILL; lameduck gives them the
// stop signal and --orphan-grace first.
#pragma once

#include <sys/types.h>

#include <vector>

namespace lameduck {

// Every live descendant of root, found through /proc (empty when /proc is missing).
std::vector<pid_t> descendants_of(pid_t root);

// Sends sig to every process lameduck is responsible for: all of the PID namespace when
// it is PID 1 (kill(-1)), else its descendants. Returns how many were signalled, or -1
// when that is not known (PID 1).
int signal_leftovers(int sig);

}  // namespace lameduck
