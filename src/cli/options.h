// SPDX-License-Identifier: Apache-2.0
// The command line (cli/parser.h): one options struct per subcommand, every option also read
// from LAMEDUCK_<NAME>. Parsing is pure: it returns a Command or throws SetupError (a
// UsageError, or the --rewrite and stop-signal checks of init/signals.h): exit 125.
#pragma once

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "base/duration.h"
#include "base/errors.h"
#include "base/log.h"
#include "init/signals.h"
#include "kube/kube_options.h"
#include "traffic/traffic_options.h"

namespace lameduck {

// A mistake on the command line: exit 125, with a hint at --help (main.cpp); `subcommand`
// names the --help to point to ("" for the run mode's).
struct UsageError : SetupError {
  explicit UsageError(const std::string& message, std::string sub = {})
      : SetupError(kExitUsage, message), subcommand(std::move(sub)) {}
  std::string subcommand;
};

// Options shared by the PID-1 mode and `prestop`: the wait itself.
struct WaitOptions {
  std::optional<Millis> delay;   // unset: 15s in a Pod, else 0
  std::optional<Millis> settle;  // unset: 2s with the traffic wait, 5s without
  Millis max_delay{25000};
  TrafficOptions traffic;
  KubeOptions kube;
};

struct RunOptions {
  WaitOptions wait;
  LogOptions log;
  int stop_signal = 15;
  SignalRewrite rewrite;
  std::optional<Millis> kill_after;
  bool group = false;
  std::optional<bool> subreaper;  // unset: on when not PID 1
  std::set<int> success_codes;
  Millis orphan_grace{2000};
  bool check_only = false;
  std::vector<std::string> command;
};

struct PrestopOptions {
  WaitOptions wait;
  LogOptions log;
  bool check_only = false;
};

struct EndpointsOptions {
  KubeOptions kube;
  TrafficOptions traffic;  // which ports and peers the traffic report counts
  LogOptions log{LogFormat::text, "warn"};
  bool json = false;
};

struct InstallOptions {
  std::string dir;
};

// --help of the run mode or of a subcommand: the text to print (stdout, exit 0).
struct Help {
  std::string text;
};

// `lameduck version [--licenses]`
struct Version {
  bool licenses = false;
};

using Command =
    std::variant<RunOptions, PrestopOptions, EndpointsOptions, InstallOptions, Help, Version>;

// argv[0] is the program name. Throws SetupError (usage).
Command parse_command_line(int argc, const char* const* argv);

// What `lameduck` alone prints (to stderr, exit 125), as tini does.
std::string short_usage();

}  // namespace lameduck
