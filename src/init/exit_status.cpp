// SPDX-License-Identifier: Apache-2.0
#include "init/exit_status.h"

#include <sys/wait.h>

#include "init/signals.h"

namespace lameduck {

int exit_code_from_status(int wait_status, const std::set<int>& success_codes) {
  int code = kExitUsage;
  if (WIFEXITED(wait_status)) {
    code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    code = 128 + WTERMSIG(wait_status);
  }
  return success_codes.count(code) != 0 ? 0 : code;
}

std::string describe_status(int wait_status) {
  if (WIFEXITED(wait_status)) return "exited with " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    std::string s = "killed by " + signal_name(WTERMSIG(wait_status));
    if (WCOREDUMP(wait_status)) s += " (core dumped)";
    return s;
  }
  return "changed state (status " + std::to_string(wait_status) + ")";
}

}  // namespace lameduck
