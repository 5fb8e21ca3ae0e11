// SPDX-License-Identifier: Apache-2.0
#include "base/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "base/text.h"
#include "base/unique_fd.h"

namespace lameduck {

bool is_pid1() {
  return ::getpid() == 1;
}

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string rest(text.substr(close + 1));
  ProcStat stat;
  int ppid = 0;
  if (std::sscanf(rest.c_str(), " %c %d", &stat.state, &ppid) != 2) return std::nullopt;
  stat.ppid = static_cast<pid_t>(ppid);
  auto fields = split_words(rest);
  if (fields.size() >= 20) {  // fields 3 to 22
    std::string field(fields[19]);
    char* end = nullptr;
    errno = 0;
    unsigned long long ticks = std::strtoull(field.c_str(), &end, 10);
    if (errno == 0 && end != nullptr && *end == '\0') stat.start_ticks = ticks;
  }
  return stat;
}

std::optional<Millis> process_age(pid_t pid) {
  auto stat = read_proc_stat(pid);
  long hz = ::sysconf(_SC_CLK_TCK);
  timespec now{};
  if (!stat || !stat->start_ticks || hz <= 0 || ::clock_gettime(CLOCK_BOOTTIME, &now) != 0) {
    return std::nullopt;
  }
  auto started =
      static_cast<std::int64_t>(*stat->start_ticks * 1000 / static_cast<std::uint64_t>(hz));
  auto up = static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
  if (up < started) return std::nullopt;
  return Millis(up - started);
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  // The name is at most 16 bytes: the state and the parent are well inside 512.
  char buffer[512];
  ssize_t n;
  do {
    n = ::read(fd.get(), buffer, sizeof buffer);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return std::nullopt;
  return parse_proc_stat(std::string_view(buffer, static_cast<std::size_t>(n)));
}

SocketInodes socket_inodes(pid_t pid) {
  SocketInodes out;
  std::string path = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    out.error = errno;
    return out;
  }
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    char target[64];
    ssize_t n = ::readlinkat(::dirfd(dir), entry->d_name, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    unsigned long long inode = 0;
    if (std::sscanf(target, "socket:[%llu]", &inode) == 1) out.inodes.insert(inode);
  }
  ::closedir(dir);
  return out;
}

}  // namespace lameduck
