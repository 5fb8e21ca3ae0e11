// SPDX-License-Identifier: Apache-2.0
// The texts of the run mode's help and of `lameduck` alone.
#include "cli/flags.h"

namespace lameduck {
namespace {

constexpr const char* kShortUsage =
    "lameduck: run COMMAND as PID 1 and keep it serving after SIGTERM until the Pod is out "
    "of rotation.\n\n"
    "Usage:\n"
    "  lameduck [OPTIONS] -- COMMAND [ARGS...]   run COMMAND (PID-1 duties + drain)\n"
    "  lameduck prestop [OPTIONS]                for lifecycle.preStop.exec: wait, then exit 0\n"
    "  lameduck endpoints [OPTIONS]              print where this Pod is routable right now\n"
    "  lameduck install DIR                      copy this binary into DIR (for an initContainer)\n"
    "  lameduck version [--licenses]             print the version (and the licenses)\n";

constexpr const char* kRunUsageTail =
    "\nEvery option can also be set by the environment variable shown (the flag wins).\n"
    "Durations: 500ms, 15s, 2m, or a bare number of seconds.";

}  // namespace

std::string short_usage() {
  return std::string(kShortUsage) + "\nSee lameduck --help for the options.\n";
}

namespace cli {

std::string run_description() {
  return std::string(kShortUsage) + kRunUsageTail;
}

}  // namespace cli
}  // namespace lameduck
