// SPDX-License-Identifier: Apache-2.0
#include "cli/options.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

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

// CLI11's help, without its noise: no "Usage: lameduck [OPTIONS]" line under a description
// that has its own usage, and "--wait-endpoints, --no-wait-endpoints" rather than
// "--wait-endpoints,--no-wait-endpoints{false}".
class HelpFormatter : public CLI::Formatter {
 public:
  explicit HelpFormatter(bool own_usage) : own_usage_(own_usage) {}
  std::string make_usage(const CLI::App* app, std::string name) const override {
    return own_usage_ ? std::string() : CLI::Formatter::make_usage(app, std::move(name));
  }
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

 private:
  bool own_usage_;
};

// Values from YAML often carry stray spaces ("value: 15s "): every value is trimmed.
const CLI::Validator& trimmed() {
  static const CLI::Validator trim(
      [](std::string& value) {
        CLI::detail::trim(value);
        return std::string();
      },
      "", "trim");
  return trim;
}

// Durations and signals are read as text and converted after parsing, so every mistake
// gets one message in our words rather than a CLI11 type error.
struct RawTraffic {
  bool wait = true, wait_pooled = true;
  std::string quiet = "auto";
  std::vector<std::string> ignore_peers, ports, pooled_peers;
};

struct RawWait {
  std::string delay, settle, max_delay = "25s";
  bool wait_endpoints = false;
  CLI::Option* wait_endpoints_opt = nullptr;
  RawTraffic traffic;
};

// Whether an option was set (flag or variable); never when the parser did not run.
bool given(const CLI::Option* option) {
  return option != nullptr && option->count() > 0;
}

// `lameduck -- COMMAND...` with no LAMEDUCK_* variable set: every option keeps its
// default, so the run needs no parser at all. Building CLI11's ~40 options was four fifths
// of the instructions lameduck ran before starting the app.
bool only_command(const std::vector<std::string>& args) {
  if (args.size() < 2 || args.front() != "--") return false;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "LAMEDUCK_", 9) == 0) return false;
  }
  return true;
}

std::string env_name(const std::string& flag) {
  std::string name = "LAMEDUCK_" + flag;
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
    return c == '-' ? '_' : static_cast<char>(std::toupper(c));
  });
  return name;
}

// What --help shows for each option's value.
std::string value_name(const std::string& flag) {
  static const std::map<std::string, std::string> names{
      {"delay", "DURATION"},      {"settle", "DURATION"},       {"max-delay", "DURATION"},
      {"kill-after", "DURATION"}, {"orphan-grace", "DURATION"}, {"signal", "SIGNAL"},
      {"rewrite", "FROM:TO"},     {"service", "NAME"},          {"pod-ip", "IP"},
      {"pod-name", "NAME"},       {"namespace", "NAME"},        {"api-server", "URL"},
      {"token-file", "FILE"},     {"ca-file", "FILE"},          {"log-format", "FORMAT"},
      {"log-level", "LEVEL"},     {"quiet", "auto|DURATION"},   {"ignore-peer", "CIDR"},
      {"port", "PORT"},           {"pooled-peer", "CIDR"},
  };
  auto it = names.find(flag);
  return it == names.end() ? "VALUE" : it->second;
}

// Adds "--name" with its LAMEDUCK_NAME variable; the last occurrence wins.
template <typename T>
CLI::Option* add(CLI::App& app, const std::string& name, T& value, const std::string& help) {
  return app.add_option("--" + name, value, help)
      ->envname(env_name(name))
      ->type_name(value_name(name))
      ->transform(trimmed())
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

CLI::Option* add_list(CLI::App& app, const std::string& name, std::vector<std::string>& value,
                      const std::string& help) {
  // allow_extra_args(false): each occurrence takes one value, so "--service a CMD" keeps CMD.
  return app.add_option("--" + name, value, help)
      ->envname(env_name(name))
      ->type_name(value_name(name))
      ->delimiter(',')
      ->transform(trimmed())
      ->allow_extra_args(false);
}

void add_log_options(CLI::App& app, std::string& format, std::string& level) {
  add(app, "log-format", format, "text or json (stderr only)")
      ->check(CLI::IsMember({"text", "json"}))
      ->type_name("FORMAT");
  add(app, "log-level", level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->type_name("LEVEL");
}

void add_kube_options(CLI::App& app, KubeOptions& kube) {
  add_list(app, "service", kube.services,
           "only consider EndpointSlices of this Service (repeatable; default: all)");
  add_list(app, "pod-ip", kube.pod_ips,
           "this Pod's IP (repeatable for dual-stack; default: POD_IPS/POD_IP, interfaces)");
  add(app, "pod-name", kube.pod_name, "this Pod's name (default: POD_NAME, hostname)");
  add(app, "namespace", kube.namespace_name,
      "this Pod's namespace (default: POD_NAMESPACE, the service-account namespace file)");
  add(app, "api-server", kube.api_server,
      "API server URL (default: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)");
  add(app, "token-file", kube.token_file,
      "bearer token file, re-read on every request (default: the service-account token)");
  add(app, "ca-file", kube.ca_file, "CA bundle to verify the API server (default: ca.crt)");
  // Hidden, for measurements (bench/): the watch selects every slice of the namespace, as
  // before the narrow watch, instead of only the Services that hold the Pod.
  app.add_flag("--debug-watch-namespace", kube.watch_namespace,
               "watch every EndpointSlice of the namespace (debug)")
      ->envname(env_name("debug-watch-namespace"))
      ->group("");
}

CLI::Option* add_switch(CLI::App& app, const std::string& name, bool& value,
                        const std::string& help) {
  return app.add_flag("--" + name + ",!--no-" + name, value, help)
      ->envname(env_name(name))
      ->transform(trimmed())
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

// Which connections count as traffic: for the wait, and for `lameduck endpoints`' report.
void add_traffic_scope_options(CLI::App& app, RawTraffic& raw) {
  add_list(app, "ignore-peer", raw.ignore_peers,
           "traffic from this address or CIDR never holds the drain (repeatable; default: "
           "the node's IP from HOST_IP; loopback is always ignored)");
  add_list(app, "port", raw.ports,
           "a local TCP port of the app's (repeatable; default: every port the app's "
           "processes listen on)");
}

void add_traffic_options(CLI::App& app, RawTraffic& raw) {
  add_switch(app, "wait-traffic", raw.wait,
             "after the EndpointSlices (or from SIGTERM without them), wait until the Pod "
             "had no new traffic for --quiet (default: on)");
  add(app, "quiet", raw.quiet,
      "no new connection and no byte received on the app's connections for this long "
      "means out of rotation; auto: ln(1000)/(the Pod's request rate), at least 2s, at "
      "most --max-delay (auto)");
  add_traffic_scope_options(app, raw);
  add_list(app, "pooled-peer", raw.pooled_peers,
           "only this address or CIDR's open connections hold the drain, e.g. the load "
           "balancer's or ingress controller's (repeatable); any other peer's count only "
           "while it opens new ones (default: every peer's)")
      ->envname("LAMEDUCK_POOLED_PEERS");
  add_switch(app, "wait-pooled", raw.wait_pooled,
             "requests on already open (keep-alive) connections count as traffic too; off: "
             "only new connections do (default: on)");
}

void add_wait_options(CLI::App& app, RawWait& raw, KubeOptions& kube) {
  add(app, "delay", raw.delay,
      "when EndpointSlices are not used or not readable: the longest traffic wait, or "
      "with --no-wait-traffic a fixed wait (default: 15s in a Pod, 0 elsewhere)");
  raw.wait_endpoints_opt = add_switch(app, "wait-endpoints", raw.wait_endpoints,
                                      "wait until the Pod IP left every EndpointSlice "
                                      "(default: on when in-cluster credentials exist)");
  add(app, "settle", raw.settle,
      "minimum wait after the Pod IP left every EndpointSlice; the traffic wait may "
      "make it longer (2s; 5s with --no-wait-traffic)");
  add(app, "max-delay", raw.max_delay, "hard cap on the whole wait (25s)");
  add_traffic_options(app, raw.traffic);
  add_kube_options(app, kube);
}

Millis to_duration(const std::string& flag, const std::string& text) {
  auto d = parse_duration(text);
  if (!d) {
    throw UsageError("--" + flag + ": invalid duration '" + text +
                     "' (use e.g. 500ms, 15s, 2m or a number of seconds)");
  }
  return *d;
}

int to_signal(const std::string& flag, const std::string& text) {
  auto sig = parse_signal(text);
  if (!sig)
    throw UsageError("--" + flag + ": unknown signal '" + text + "' (e.g. SIGTERM, QUIT, 3)");
  return *sig;
}

void finish_traffic(const RawTraffic& raw, TrafficOptions& traffic) {
  traffic.wait = raw.wait;
  traffic.wait_pooled = raw.wait_pooled;
  traffic.auto_quiet = raw.quiet == "auto";
  if (!traffic.auto_quiet) {
    auto quiet = parse_duration(raw.quiet);
    if (!quiet) {
      throw UsageError("--quiet: invalid duration '" + raw.quiet +
                       "' (use auto, or e.g. 500ms, 2s, 10s or a number of seconds)");
    }
    traffic.quiet = *quiet;
  }
  auto cidrs = [](const char* flag, const std::vector<std::string>& texts) {
    std::vector<Cidr> out;
    for (const auto& text : texts) {
      auto cidr = parse_cidr(text);
      if (!cidr) {
        throw UsageError(std::string("--") + flag + ": invalid address or CIDR '" + text +
                         "' (e.g. 10.0.0.7, 10.0.0.0/8, fd00::/64)");
      }
      out.push_back(*cidr);
    }
    return out;
  };
  traffic.ignore_peers = cidrs("ignore-peer", raw.ignore_peers);
  traffic.pooled_peers = cidrs("pooled-peer", raw.pooled_peers);
  for (const auto& text : raw.ports) {
    int port = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || port < 1 ||
        port > 65535) {
      throw UsageError("--port: invalid TCP port '" + text + "' (1 to 65535)");
    }
    traffic.ports.insert(static_cast<std::uint16_t>(port));
  }
}

void finish_wait(const RawWait& raw, WaitOptions& wait) {
  finish_traffic(raw.traffic, wait.traffic);
  if (!raw.delay.empty()) wait.delay = to_duration("delay", raw.delay);
  if (!raw.settle.empty()) wait.settle = to_duration("settle", raw.settle);
  wait.max_delay = to_duration("max-delay", raw.max_delay);
  if (given(raw.wait_endpoints_opt)) wait.kube.wait_endpoints = raw.wait_endpoints;
}

// Checks what the API options say, in the parser so that --check catches it.
void finish_kube(KubeOptions& kube) {
  for (const auto& ip : kube.pod_ips) {
    in6_addr address{};
    if (inet_pton(AF_INET, ip.c_str(), &address) != 1 &&
        inet_pton(AF_INET6, ip.c_str(), &address) != 1) {
      // An IP that is in no EndpointSlice would look "gone" at once: the wait would end early.
      throw UsageError("--pod-ip: '" + ip + "' is not an IPv4 or IPv6 address");
    }
  }
  if (!kube.api_server.empty() && kube.api_server.rfind("https://", 0) != 0) {
    throw UsageError("--api-server: '" + kube.api_server +
                     "' is not an https:// URL (lameduck sends its token only over TLS)");
  }
  // lameduck leaves its working directory once the app runs (chdir "/"), and reads these
  // files later: resolve them against the directory it started in.
  for (std::string* file : {&kube.token_file, &kube.ca_file}) {
    std::error_code error;
    if (!file->empty() && file->front() != '/') {
      auto absolute = std::filesystem::absolute(*file, error);
      if (!error) *file = absolute.string();
    }
  }
}

void finish_log(const std::string& format, const std::string& level, LogOptions& log) {
  log.format = format == "json" ? LogFormat::json : LogFormat::text;
  log.level = level;
}

// CLI11 throws for --help; everything else becomes a one-line UsageError.
template <typename Fn>
bool parse_or_help(CLI::App& app, ParsedCommandLine& out, Fn&& parse) {
  try {
    parse();
  } catch (const CLI::CallForHelp&) {
    out.subcommand = Subcommand::help;
    out.help_text = app.help();
    return false;
  } catch (const CLI::ExtrasError& e) {
    // CLI11 parses a reversed argument vector and lists the extras in that order.
    std::string what = e.what();
    auto colon = what.find(": ");
    std::vector<std::string> words;
    std::istringstream in(colon == std::string::npos ? "" : what.substr(colon + 2));
    for (std::string w; in >> w;) words.insert(words.begin(), w);
    std::string list;
    for (const auto& w : words) list += (list.empty() ? "" : " ") + w;
    throw UsageError("unexpected argument(s): " + list);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (what.empty()) what = e.get_name();
    throw UsageError(what);
  }
  return true;
}

void parse_run(std::vector<std::string> args, ParsedCommandLine& out);

void parse_prestop(std::vector<std::string> args, ParsedCommandLine& out) {
  CLI::App app{"lameduck prestop: the drain wait for lifecycle.preStop.exec; exits 0 when done.",
               "lameduck prestop"};
  RawWait raw;
  std::string format = "text", level = "info";
  add_wait_options(app, raw, out.prestop.wait.kube);
  add_log_options(app, format, level);
  app.add_flag("--check", out.prestop.check_only,
               "only parse and check the options, then exit 0 (to test manifests)");
  std::reverse(args.begin(), args.end());
  if (!parse_or_help(app, out, [&] { app.parse(args); })) return;
  finish_wait(raw, out.prestop.wait);
  finish_kube(out.prestop.wait.kube);
  finish_log(format, level, out.prestop.log);
  out.subcommand = Subcommand::prestop;
}

void parse_endpoints(std::vector<std::string> args, ParsedCommandLine& out) {
  CLI::App app{
      "lameduck endpoints: print where this Pod is routable right now. Exit 0: "
      "routable, 1: not routable, 2: could not tell.",
      "lameduck endpoints"};
  std::string format = "text", level = "warn", output = "text";
  RawTraffic traffic;
  add_kube_options(app, out.endpoints.kube);
  add_traffic_scope_options(app, traffic);
  add_log_options(app, format, level);
  app.add_option("-o,--output", output, "text or json")->check(CLI::IsMember({"text", "json"}));
  std::reverse(args.begin(), args.end());
  if (!parse_or_help(app, out, [&] { app.parse(args); })) return;
  finish_kube(out.endpoints.kube);
  finish_log(format, level, out.endpoints.log);
  finish_traffic(traffic, out.endpoints.traffic);
  out.endpoints.json = output == "json";
  out.subcommand = Subcommand::endpoints;
}

void parse_install(std::vector<std::string> args, ParsedCommandLine& out) {
  CLI::App app{
      "lameduck install: copy this binary into DIR as DIR/lameduck (atomically, mode 0755), "
      "e.g. from an initContainer into an emptyDir the app container runs it from. DIR "
      "must exist. Exit 0: installed or already there; 1: failed.",
      "lameduck install"};
  app.add_option("DIR", out.install.dir, "the directory (an emptyDir volume's mount path)")
      ->required();
  std::reverse(args.begin(), args.end());
  if (!parse_or_help(app, out, [&] { app.parse(args); })) return;
  out.subcommand = Subcommand::install;
}

bool is_subcommand(const std::string& word) {
  return word == "prestop" || word == "endpoints" || word == "install" || word == "version";
}

void dispatch_subcommand(const std::string& name, std::vector<std::string> args,
                         ParsedCommandLine& out) {
  if (name == "prestop") return parse_prestop(std::move(args), out);
  if (name == "endpoints") return parse_endpoints(std::move(args), out);
  if (name == "install") return parse_install(std::move(args), out);
  if (args.size() == 1 && args.front() == "--licenses") {
    out.subcommand = Subcommand::licenses;
    return;
  }
  if (!args.empty()) throw UsageError("version takes no arguments but --licenses");
  out.subcommand = Subcommand::version;
}

void parse_run(std::vector<std::string> args, ParsedCommandLine& out) {
  RunOptions& run = out.run;
  RawWait raw;
  std::string format = "text", level = "info", stop_signal = "SIGTERM", kill_after;
  std::string orphan_grace = "2s";
  std::vector<std::string> rewrites;
  std::vector<int> success_codes;
  bool subreaper = false;
  const CLI::Option* signal_opt = nullptr;
  const CLI::Option* subreaper_opt = nullptr;
  std::vector<std::string> rest;
  if (only_command(args)) {
    rest.assign(args.begin() + 1, args.end());
  } else {
    CLI::App app{std::string(kShortUsage) + kRunUsageTail, "lameduck"};
    app.formatter(std::make_shared<HelpFormatter>(true));
    add_wait_options(app, raw, run.wait.kube);
    signal_opt =
        add(app, "signal", stop_signal, "signal sent to the app when the wait is over (SIGTERM)");
    add_list(app, "rewrite", rewrites,
             "rewrite a forwarded signal, FROM:TO (repeatable; TO=0 drops it), e.g. TERM:QUIT");
    add(app, "kill-after", kill_after,
        "SIGKILL the app if it still runs this long after the stop signal (default: off)");
    app.add_flag("-g,--group", run.group, "signal the app's whole process group, not only the app")
        ->envname(env_name("group"))
        ->transform(trimmed());
    subreaper_opt = add_switch(app, "subreaper", subreaper,
                               "adopt orphaned descendants when not PID 1 (default: on "
                               "when not PID 1)");
    app.add_option("-e,--success-exit-code", success_codes,
                   "report this exit code of the app as 0 (repeatable), e.g. 143 for the JVM")
        ->envname(env_name("success-exit-code"))
        ->delimiter(',')
        ->allow_extra_args(false)
        ->transform(trimmed())
        ->check(CLI::Range(0, 255))
        ->type_name("CODE");
    add(app, "orphan-grace", orphan_grace,
        "once the app exited, time its leftover processes get after the stop signal before "
        "SIGKILL (2s)");
    add_log_options(app, format, level);
    app.add_flag("--check", run.check_only,
                 "only parse and check the options, then exit 0 (to test manifests)");
    app.prefix_command();

    const std::vector<std::string> original = args;
    std::reverse(args.begin(), args.end());
    if (!parse_or_help(app, out, [&] { app.parse(args); })) return;

    rest = app.remaining();
    bool separated = !rest.empty() && rest.front() == "--";
    if (separated) rest.erase(rest.begin());
    if (!separated && !rest.empty() && rest.front().size() > 1 && rest.front()[0] == '-') {
      throw UsageError("unknown option '" + rest.front() + "' (put the command after --)");
    }
    if (!separated && !rest.empty() && is_subcommand(rest.front())) {
      // "lameduck --log-level debug prestop": options before the subcommand belong to it.
      std::string name = rest.front();
      std::vector<std::string> sub_args = original;
      sub_args.erase(std::find(sub_args.begin(), sub_args.end(), name));
      return dispatch_subcommand(name, std::move(sub_args), out);
    }
  }
  if (rest.empty()) {
    throw UsageError("no command given: lameduck [OPTIONS] -- COMMAND [ARGS...]");
  }
  run.command = std::move(rest);

  finish_wait(raw, run.wait);
  finish_kube(run.wait.kube);
  finish_log(format, level, run.log);
  run.stop_signal = to_signal("signal", stop_signal);
  if (!kill_after.empty()) run.kill_after = to_duration("kill-after", kill_after);
  run.orphan_grace = to_duration("orphan-grace", orphan_grace);
  for (const auto& spec : rewrites) {
    run.rewrite.add(spec);
  }
  // dumb-init's --rewrite 15:3 means "the app gets SIGQUIT when the container is stopped":
  // the stop signal is the SIGTERM forwarded late, so a TERM rewrite sets it too, unless
  // --signal says otherwise.
  if (int term = run.rewrite.apply(SIGTERM); term != SIGTERM && !given(signal_opt)) {
    if (term == 0) throw UsageError("--rewrite TERM:0 would never stop the app; use --signal");
    run.stop_signal = term;
  }
  check_stop_signal(run.stop_signal, given(signal_opt) ? "--signal " : "--rewrite TERM:");
  run.success_codes.insert(success_codes.begin(), success_codes.end());
  if (given(subreaper_opt)) run.subreaper = subreaper;
  out.subcommand = Subcommand::run;
}

}  // namespace

std::string short_usage() {
  return std::string(kShortUsage) + "\nSee lameduck --help for the options.\n";
}

ParsedCommandLine parse_command_line(int argc, const char* const* argv) {
  ParsedCommandLine out;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && is_subcommand(args.front())) {
    std::string name = args.front();
    args.erase(args.begin());
    dispatch_subcommand(name, std::move(args), out);
  } else {
    parse_run(std::move(args), out);
  }
  return out;
}

}  // namespace lameduck
