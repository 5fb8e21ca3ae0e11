// SPDX-License-Identifier: Apache-2.0
#include "init/orphans.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <map>

#include "base/procfs.h"

namespace lameduck {
namespace {

// The parent PID, or -1 for a zombie (it needs reaping, not signals) or a process gone.
pid_t parent_of(pid_t pid) {
  auto stat = read_proc_stat(pid);
  if (!stat || stat->state == 'Z') return -1;
  return stat->ppid;
}

}  // namespace

std::vector<pid_t> descendants_of(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return {};
  while (dirent* entry = readdir(dir)) {
    char* end;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    pid_t ppid = parent_of(static_cast<pid_t>(pid));
    if (ppid >= 0) children.emplace(ppid, static_cast<pid_t>(pid));
  }
  closedir(dir);
  std::vector<pid_t> out;
  std::vector<pid_t> todo{root};
  while (!todo.empty()) {
    pid_t parent = todo.back();
    todo.pop_back();
    auto [first, last] = children.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      out.push_back(it->second);
      todo.push_back(it->second);
    }
  }
  return out;
}

int signal_leftovers(int sig) {
  if (is_pid1()) {
    ::kill(-1, sig);
    return -1;
  }
  int count = 0;
  for (pid_t pid : descendants_of(getpid())) {
    if (::kill(pid, sig) == 0) ++count;
  }
  return count;
}

}  // namespace lameduck
