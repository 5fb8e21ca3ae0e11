// SPDX-License-Identifier: Apache-2.0
// The command line (CLI11): one options struct per subcommand, every option also read
// from LAMEDUCK_<NAME>. Parsing is pure: it returns options or throws UsageError.
#pragma once

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands/install.h"
#include "drain/drain.h"
#include "init/signals.h"
#include "traffic/net_address.h"

namespace lameduck {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class LogFormat { text, json };

struct LogOptions {
  LogFormat format = LogFormat::text;
  std::string level = "info";
};

// Where the Pod is, and how to reach the API. Empty means "discover".
struct ApiOptions {
  std::optional<bool> wait_endpoints;  // unset: on when in-cluster credentials exist
  std::vector<std::string> services;
  std::vector<std::string> pod_ips;
  std::string pod_name;
  std::string namespace_name;
  std::string api_server;
  std::string token_file;
  std::string ca_file;
  bool watch_namespace = false;  // --debug-watch-namespace: no narrow watch
};

// The traffic wait: after the slices (or from the start without them), until the Pod had
// no new traffic for `quiet`.
struct TrafficOptions {
  bool wait = true;
  Millis quiet{2000};
  std::vector<Cidr> ignore_peers;  // empty: HOST_IP (loopback is always ignored)
  std::set<std::uint16_t> ports;   // empty: every TCP port the app listens on
  bool wait_pooled = true;         // bytes on open connections count too
};

// Options shared by the PID-1 mode and `prestop`: the wait itself.
struct WaitOptions {
  std::optional<Millis> delay;   // unset: 15s in a Pod, else 0
  std::optional<Millis> settle;  // unset: 2s with the traffic wait, 5s without
  Millis max_delay{25000};
  TrafficOptions traffic;
  ApiOptions api;
  LogOptions log;
};

struct RunOptions {
  WaitOptions wait;
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
  bool check_only = false;
};

struct EndpointsOptions {
  ApiOptions api;
  TrafficOptions traffic;  // which ports and peers the traffic report counts
  LogOptions log;
  bool json = false;
};

enum class Subcommand { run, prestop, endpoints, install, version, licenses, help };

struct ParsedCommandLine {
  Subcommand subcommand = Subcommand::run;
  RunOptions run;
  PrestopOptions prestop;
  EndpointsOptions endpoints;
  InstallOptions install;
  std::string help_text;  // for Subcommand::help
};

// argv excludes nothing: argv[0] is the program name. Throws UsageError.
ParsedCommandLine parse_command_line(int argc, const char* const* argv);

// What `lameduck` alone prints (to stderr, exit 125), as tini does.
std::string short_usage();

// True when running in a Pod (KUBERNETES_SERVICE_HOST is set).
bool in_kubernetes();

// --delay, or its default: 15s in a Pod, 0 elsewhere.
Millis fallback_delay(const WaitOptions& wait);

}  // namespace lameduck
