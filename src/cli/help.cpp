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

// The run mode's help, without CLI11's noise: no "Usage: lameduck [OPTIONS]" line under a
// description that has its own usage, and "--wait-endpoints, --no-wait-endpoints" rather
// than "--wait-endpoints,--no-wait-endpoints{false}".
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App*, std::string) const override { return {}; }
  std::string make_option_name(const CLI::Option* opt, bool positional) const override {
    std::string name = CLI::Formatter::make_option_name(opt, positional);
    std::string out;
    int depth = 0;
    for (char c : name) {
      if (c == '{') ++depth;
      if (depth == 0) out += c == ',' ? std::string(", ") : std::string(1, c);
      if (c == '}' && depth > 0) --depth;
    }
    return out;
  }
};

}  // namespace

std::string short_usage() {
  return std::string(kShortUsage) + "\nSee lameduck --help for the options.\n";
}

namespace cli {

void describe_run(CLI::App& app) {
  app.description(std::string(kShortUsage) + kRunUsageTail);
  app.group("")->formatter(std::make_shared<HelpFormatter>());
}

}  // namespace cli
}  // namespace lameduck
