// SPDX-License-Identifier: Apache-2.0
// This process and /proc, read where lameduck needs it: the C++ twin of
// tests/support/procfs.py.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string_view>

#include "base/duration.h"

namespace lameduck {

// True when lameduck runs as PID 1 (of its PID namespace).
bool is_pid1();

// The fields of /proc/PID/stat lameduck reads.
struct ProcStat {
  char state = '?';  // R, S, D, T (stopped), Z (zombie), ...
  pid_t ppid = 0;
  std::optional<std::uint64_t> start_ticks;  // starttime: clock ticks after boot
};

// Pure: /proc/PID/stat's text. The command name may hold spaces and parentheses, so the
// fields are counted from its last ')'. nullopt when the text is not one.
std::optional<ProcStat> parse_proc_stat(std::string_view text);

// /proc/PID/stat; nullopt when the process is gone or the file cannot be read.
std::optional<ProcStat> read_proc_stat(pid_t pid);

// How long a process has run (its starttime against CLOCK_BOOTTIME); nullopt when unknown.
std::optional<Millis> process_age(pid_t pid);

// The inodes of the sockets a process holds (/proc/PID/fd/N -> "socket:[inode]").
struct SocketInodes {
  std::set<std::uint64_t> inodes;
  int error = 0;  // errno when /proc/PID/fd could not be read (ENOENT: the process is gone)
};
SocketInodes socket_inodes(pid_t pid);

}  // namespace lameduck
