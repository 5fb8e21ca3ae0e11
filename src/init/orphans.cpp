// SPDX-License-Identifier: Apache-2.0
#include "init/orphans.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

namespace lameduck {
namespace {

// The parent PID from /proc/PID/stat; the comm field may contain spaces and parentheses,
// so parse after the last ')'.
pid_t parent_of(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* file = std::fopen(path, "re");
  if (file == nullptr) return -1;
  char buffer[512];
  std::size_t n = std::fread(buffer, 1, sizeof buffer - 1, file);
  std::fclose(file);
  buffer[n] = '\0';
  const char* close = std::strrchr(buffer, ')');
  if (close == nullptr) return -1;
  char state;
  int ppid;
  if (std::sscanf(close + 1, " %c %d", &state, &ppid) != 2) return -1;
  if (state == 'Z') return -1;  // zombies need reaping, not signals
  return ppid;
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
  if (getpid() == 1) {
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
