// SPDX-License-Identifier: Apache-2.0
#include "cli/options.h"

#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>

#include "support.h"

using namespace lameduck;

namespace {

using test::parse;
using test::run;

PrestopOptions prestop(std::vector<const char*> args) {
  return std::get<PrestopOptions>(parse(std::move(args)));
}

EndpointsOptions endpoints(std::vector<const char*> args) {
  return std::get<EndpointsOptions>(parse(std::move(args)));
}

std::string help(std::vector<const char*> args) {
  return std::get<Help>(parse(std::move(args))).text;
}

std::string error_of(std::vector<const char*> args) {
  try {
    parse(std::move(args));
  } catch (const SetupError& e) {  // UsageError, or a part's own parse error
    return e.what();
  }
  return "";
}

// The --help an error points to ("" for the run mode's).
std::string hint_of(std::vector<const char*> args) {
  try {
    parse(std::move(args));
  } catch (const UsageError& e) {
    return e.subcommand;
  }
  return "no error";
}

}  // namespace

TEST_CASE("the command follows -- or the first positional") {
  auto a = run({"--delay", "3s", "--", "/app", "-x", "--delay", "9"});
  CHECK(a.command == std::vector<std::string>{"/app", "-x", "--delay", "9"});
  CHECK(a.wait.delay == Millis(3000));
  auto b = run({"/app", "-x"});
  CHECK(b.command == std::vector<std::string>{"/app", "-x"});
  CHECK_FALSE(b.wait.delay.has_value());
  CHECK(run({"--check", "--", "--", "x"}).command == std::vector<std::string>{"--", "x"});
  CHECK(run({"-", "x"}).command == std::vector<std::string>{"-", "x"});
}

TEST_CASE("run options") {
  auto a = run({"--signal",
                "QUIT",
                "--kill-after",
                "10s",
                "-g",
                "--rewrite",
                "TERM:INT",
                "-e",
                "143",
                "--success-exit-code",
                "130",
                "--orphan-grace",
                "500ms",
                "--settle",
                "0",
                "--max-delay",
                "1m",
                "--no-subreaper",
                "--",
                "x"});
  CHECK(a.stop_signal == SIGQUIT);
  CHECK(a.kill_after == Millis(10000));
  CHECK(a.group);
  CHECK(a.rewrite.apply(SIGTERM) == SIGINT);
  CHECK(a.success_codes == std::set<int>{130, 143});
  CHECK(a.orphan_grace == Millis(500));
  CHECK(a.wait.settle == Millis(0));
  CHECK(a.wait.max_delay == Millis(60000));
  CHECK(a.subreaper == false);
  CHECK_FALSE(a.wait.kube.wait_endpoints.has_value());
  CHECK_FALSE(run({"x"}).subreaper.has_value());
  CHECK(run({"--subreaper", "x"}).subreaper == true);
}

TEST_CASE("environment variables configure, flags win") {
  setenv("LAMEDUCK_DELAY", "7s", 1);
  setenv("LAMEDUCK_SIGNAL", "SIGUSR1", 1);
  setenv("LAMEDUCK_SUCCESS_EXIT_CODE", "143,130", 1);
  setenv("LAMEDUCK_WAIT_ENDPOINTS", "false", 1);
  auto a = run({"--signal", "HUP", "--", "x"});
  CHECK(a.wait.delay == Millis(7000));
  CHECK(a.stop_signal == SIGHUP);
  CHECK(a.success_codes == std::set<int>{130, 143});
  CHECK(a.wait.kube.wait_endpoints == false);
  unsetenv("LAMEDUCK_DELAY");
  unsetenv("LAMEDUCK_SIGNAL");
  unsetenv("LAMEDUCK_SUCCESS_EXIT_CODE");
  unsetenv("LAMEDUCK_WAIT_ENDPOINTS");
}

TEST_CASE("-- COMMAND alone: every option's default, the same as through the parser") {
  auto fast = run({"--", "/app", "--signal", "x"});
  auto parsed = run({"--log-level", "info", "--", "/app", "--signal", "x"});
  CHECK(fast.command == std::vector<std::string>{"/app", "--signal", "x"});
  CHECK(fast.command == parsed.command);
  CHECK(fast.stop_signal == parsed.stop_signal);
  CHECK(fast.kill_after == parsed.kill_after);
  CHECK(fast.group == parsed.group);
  CHECK(fast.subreaper == parsed.subreaper);
  CHECK(fast.success_codes == parsed.success_codes);
  CHECK(fast.orphan_grace == parsed.orphan_grace);
  CHECK(fast.check_only == parsed.check_only);
  CHECK(fast.rewrite.apply(SIGTERM) == parsed.rewrite.apply(SIGTERM));
  CHECK(fast.log.format == parsed.log.format);
  CHECK(fast.log.level == parsed.log.level);
  const auto& w = fast.wait;
  const auto& p = parsed.wait;
  CHECK(w.delay == p.delay);
  CHECK(w.settle == p.settle);
  CHECK(w.max_delay == p.max_delay);
  CHECK(w.traffic.wait == p.traffic.wait);
  CHECK(w.traffic.quiet == p.traffic.quiet);
  CHECK(w.traffic.ignore_peers.size() == p.traffic.ignore_peers.size());
  CHECK(w.traffic.ports == p.traffic.ports);
  CHECK(w.traffic.wait_pooled == p.traffic.wait_pooled);
  CHECK(w.kube.wait_endpoints == p.kube.wait_endpoints);
  CHECK(w.kube.services == p.kube.services);
  CHECK(w.kube.pod_ips == p.kube.pod_ips);
  CHECK(w.kube.pod_name == p.kube.pod_name);
  CHECK(w.kube.namespace_name == p.kube.namespace_name);
  CHECK(w.kube.api_server == p.kube.api_server);
  CHECK(w.kube.token_file == p.kube.token_file);
  CHECK(w.kube.ca_file == p.kube.ca_file);
  CHECK(w.kube.watch_namespace == p.kube.watch_namespace);
}

TEST_CASE("-- COMMAND alone still reads the LAMEDUCK_* variables") {
  setenv("LAMEDUCK_LOG_LEVEL", "debug", 1);
  auto a = run({"--", "/app"});
  unsetenv("LAMEDUCK_LOG_LEVEL");
  CHECK(a.log.level == "debug");
  CHECK(a.command == std::vector<std::string>{"/app"});
  CHECK(error_of({"--"}).find("no command given") != std::string::npos);
}

TEST_CASE("subcommands, also after options") {
  CHECK_FALSE(std::get<Version>(parse({"version"})).licenses);
  CHECK(std::get<Version>(parse({"version", "--licenses"})).licenses);
  CHECK(prestop({"prestop", "--delay", "3"}).wait.delay == Millis(3000));
  CHECK(prestop({"--delay", "4", "prestop"}).wait.delay == Millis(4000));
  CHECK(prestop({"--delay", "4", "prestop", "--delay", "5"}).wait.delay == Millis(5000));
  CHECK(prestop({"--log-level", "debug", "prestop"}).log.level == "debug");
  CHECK(prestop({"--pod-name", "prestop", "prestop"}).wait.kube.pod_name == "prestop");
  CHECK(run({"--", "prestop"}).command == std::vector<std::string>{"prestop"});
  CHECK(run({"x", "prestop"}).command == std::vector<std::string>{"x", "prestop"});
  CHECK(run({"--service", "prestop", "x"}).wait.kube.services ==
        std::vector<std::string>{"prestop"});
  CHECK(endpoints({"endpoints", "-o", "json"}).json);
  CHECK(endpoints({"--pod-name", "p", "endpoints"}).kube.pod_name == "p");
  CHECK(std::get<InstallOptions>(parse({"install", "/d"})).dir == "/d");
  CHECK_FALSE(help({"--help"}).empty());
}

TEST_CASE("a flag before the subcommand wins over the environment") {
  setenv("LAMEDUCK_DELAY", "7s", 1);
  auto p = prestop({"--delay", "4", "prestop"});
  unsetenv("LAMEDUCK_DELAY");
  CHECK(p.wait.delay == Millis(4000));
}

TEST_CASE("a subcommand reads only its own variables") {
  setenv("LAMEDUCK_SIGNAL", "NOPE", 1);
  setenv("LAMEDUCK_OUTPUT", "xml", 1);
  auto p = prestop({"prestop", "--check"});
  auto e = endpoints({"endpoints"});
  unsetenv("LAMEDUCK_SIGNAL");
  unsetenv("LAMEDUCK_OUTPUT");
  CHECK(p.check_only);
  CHECK_FALSE(e.json);
}

TEST_CASE("words a subcommand does not take are listed in order") {
  CHECK(error_of({"prestop", "--bogus", "x", "--other"}) ==
        "unexpected argument(s): --bogus x --other");
  CHECK(hint_of({"prestop", "--bogus"}) == "prestop");
  CHECK(prestop({"prestop", "--check", "--"}).check_only);  // "--" alone is no mistake
  CHECK(error_of({"prestop", "--", "x"}) == "unexpected argument(s): -- x");
  CHECK(error_of({"prestop", "--", "--delay", "1"}) == "unexpected argument(s): -- --delay 1");
  CHECK(error_of({"prestop", "prestop"}) == "unexpected argument(s): prestop");
  CHECK(error_of({"prestop", "endpoints"}) == "unexpected argument(s): endpoints");
  CHECK(error_of({"endpoints", "--delay", "3"}) == "unexpected argument(s): --delay 3");
  CHECK(hint_of({"endpoints", "--delay", "3"}) == "endpoints");
  CHECK(error_of({"install", "a", "b"}) == "unexpected argument(s): b");
  CHECK(error_of({"install", "--", "a", "b"}) == "unexpected argument(s): -- b");
  CHECK(std::get<InstallOptions>(parse({"install", "--", "/d"})).dir == "/d");
  CHECK(std::get<InstallOptions>(parse({"install", "/d", "--"})).dir == "/d");
  CHECK(error_of({"install"}) == "DIR is required");
  CHECK(hint_of({"install"}) == "install");
  // Before the name: the run mode's options that the subcommand does not have.
  CHECK(error_of({"--signal", "QUIT", "prestop"}) == "unexpected argument(s): --signal QUIT");
  CHECK(hint_of({"--signal", "QUIT", "prestop"}).empty());
  CHECK(error_of({"--bogus", "prestop"}) == "unknown option '--bogus' (put the command after --)");
  CHECK(error_of({"-g2", "--", "x"}) == "unknown option '-2' (put the command after --)");
  CHECK(error_of({"version", "--help"}) == "version takes no arguments but --licenses");
  CHECK(error_of({"version", "--licenses", "--licenses"}) ==
        "version takes no arguments but --licenses");
  CHECK(hint_of({"version", "x"}).empty());
}

TEST_CASE("every usage mistake names the problem") {
  CHECK(error_of({}).find("no command") != std::string::npos);
  CHECK(error_of({"--delay", "3"}).find("no command") != std::string::npos);
  CHECK(error_of({"--bogus", "x"}).find("--bogus") != std::string::npos);
  CHECK(error_of({"--delay", "soon", "x"}).find("invalid duration 'soon'") != std::string::npos);
  CHECK(error_of({"--signal", "NOPE", "x"}).find("unknown signal 'NOPE'") != std::string::npos);
  CHECK(error_of({"--rewrite", "TERM", "x"}).find("FROM:TO") != std::string::npos);
  CHECK(error_of({"-e", "300", "x"}).find("success-exit-code") != std::string::npos);
  CHECK(error_of({"-e", "abc", "x"}).find("success-exit-code") != std::string::npos);
  CHECK(error_of({"--log-format", "xml", "x"}).find("log-format") != std::string::npos);
  CHECK(error_of({"--delay"}).find("delay") != std::string::npos);
  CHECK(error_of({"version", "x"}).find("version") != std::string::npos);
  CHECK(error_of({"prestop", "--bogus"}).find("bogus") != std::string::npos);
}

TEST_CASE("the stop signal cannot be a job-control stop") {
  for (const char* sig : {"STOP", "SIGTSTP", "TTIN", "22"}) {
    CAPTURE(sig);
    CHECK(error_of({"--signal", sig, "x"}).find("only suspends") != std::string::npos);
  }
  CHECK(error_of({"--rewrite", "TERM:TSTP", "x"}).find("only suspends") != std::string::npos);
  // Forwarding them stays possible: job control for an interactive app.
  CHECK(run({"--rewrite", "USR1:TSTP", "x"}).rewrite.apply(SIGUSR1) == SIGTSTP);
}

TEST_CASE("values: signals 1-31 and real-time, IPs, https") {
  CHECK(error_of({"--rewrite", "1:32", "x"}).find("unknown signal '32'") != std::string::npos);
  CHECK(error_of({"--pod-ip", "notanip", "x"}).find("'notanip' is not an IPv4 or IPv6") !=
        std::string::npos);
  CHECK(error_of({"--pod-ip", "10.0.0.1,fd00::1,10.0.0", "x"}).find("'10.0.0'") !=
        std::string::npos);
  CHECK(run({"--pod-ip", "10.0.0.1,fd00::1", "x"}).wait.kube.pod_ips.size() == 2);
  CHECK(error_of({"--api-server", "http://10.0.0.1", "x"}).find("not an https:// URL") !=
        std::string::npos);
  CHECK(error_of({"prestop", "--api-server", "http://x"}).find("https://") != std::string::npos);
  CHECK(error_of({"endpoints", "--pod-ip", "x.y"}).find("'x.y'") != std::string::npos);
  setenv("LAMEDUCK_POD_IP", "notanip", 1);
  CHECK(error_of({"x"}).find("notanip") != std::string::npos);
  unsetenv("LAMEDUCK_POD_IP");
}

TEST_CASE("values from the environment are trimmed") {
  setenv("LAMEDUCK_DELAY", "7s  ", 1);
  setenv("LAMEDUCK_SIGNAL", " QUIT ", 1);
  setenv("LAMEDUCK_POD_IP", "10.0.0.1 , fd00::1 ", 1);
  setenv("LAMEDUCK_WAIT_ENDPOINTS", "false ", 1);
  setenv("LAMEDUCK_GROUP", "true ", 1);
  setenv("LAMEDUCK_SUCCESS_EXIT_CODE", "143 ", 1);
  setenv("LAMEDUCK_WAIT_TRAFFIC", " false", 1);
  setenv("LAMEDUCK_WAIT_POOLED", "false ", 1);
  auto a = run({"x"});
  CHECK(a.wait.delay == Millis(7000));
  CHECK(a.stop_signal == SIGQUIT);
  CHECK(a.wait.kube.pod_ips == std::vector<std::string>{"10.0.0.1", "fd00::1"});
  CHECK(a.wait.kube.wait_endpoints == false);
  CHECK(a.group);
  CHECK(a.success_codes == std::set<int>{143});
  CHECK_FALSE(a.wait.traffic.wait);
  CHECK_FALSE(a.wait.traffic.wait_pooled);
  for (const char* name :
       {"LAMEDUCK_DELAY", "LAMEDUCK_SIGNAL", "LAMEDUCK_POD_IP", "LAMEDUCK_WAIT_ENDPOINTS",
        "LAMEDUCK_GROUP", "LAMEDUCK_SUCCESS_EXIT_CODE", "LAMEDUCK_WAIT_TRAFFIC",
        "LAMEDUCK_WAIT_POOLED"}) {
    unsetenv(name);
  }
}

TEST_CASE("relative token and CA files are resolved where lameduck started") {
  auto a = run({"--token-file", "tok", "--ca-file", "/abs/ca.crt", "x"});
  CHECK(a.wait.kube.token_file.front() == '/');
  CHECK(a.wait.kube.token_file.ends_with("/tok"));
  CHECK(a.wait.kube.ca_file == "/abs/ca.crt");
}

TEST_CASE("help has no noise") {
  auto text = help({"--help"});
  CHECK(text.find("Usage: lameduck [OPTIONS]") == std::string::npos);
  CHECK(text.find("{false}") == std::string::npos);
  CHECK(text.find("--wait-endpoints, --no-wait-endpoints") != std::string::npos);
  CHECK(text.find("--subreaper, --no-subreaper") != std::string::npos);
  CHECK(short_usage().find("lameduck [OPTIONS] -- COMMAND") != std::string::npos);
  CHECK(text.find("--wait-traffic, --no-wait-traffic") != std::string::npos);
  CHECK(text.find("--wait-pooled, --no-wait-pooled") != std::string::npos);
  CHECK(text.find("Positionals") == std::string::npos);  // COMMAND is in the usage
  // A subcommand's help has its usage line.
  CHECK(help({"prestop", "--help"}).find("Usage: lameduck prestop [OPTIONS]") != std::string::npos);
  CHECK(help({"--delay", "1", "prestop", "-h"}).find("lameduck prestop:") == 0);
  CHECK(help({"--help", "prestop"}).find("lameduck: run COMMAND") == 0);
  CHECK(help({"--delay", "soon", "--help"}).find("lameduck: run COMMAND") == 0);
  CHECK(help({"install", "-h"}).find("Usage: lameduck install [OPTIONS] DIR") != std::string::npos);
}

TEST_CASE("traffic wait options: defaults") {
  auto a = run({"--", "x"});
  CHECK_FALSE(a.wait.settle.has_value());  // 2s, or 5s with --no-wait-traffic
  CHECK(a.wait.traffic.wait);
  CHECK(a.wait.traffic.quiet == Millis(2000));
  CHECK(a.wait.traffic.auto_quiet);
  CHECK(a.wait.traffic.pooled_peers.empty());
  CHECK(a.wait.traffic.ignore_peers.empty());
  CHECK(a.wait.traffic.ports.empty());
  CHECK(a.wait.traffic.wait_pooled);
}

TEST_CASE("traffic wait options: flags") {
  auto a = run({"--no-wait-traffic", "--quiet", "500ms", "--ignore-peer", "10.0.0.0/8",
                "--ignore-peer", "192.168.1.7,fd00::/64", "--port", "8080", "--port", "9090,8080",
                "--no-wait-pooled", "--", "x"});
  const auto& t = a.wait.traffic;
  CHECK_FALSE(t.wait);
  CHECK(t.quiet == Millis(500));
  CHECK_FALSE(t.auto_quiet);
  REQUIRE(t.ignore_peers.size() == 3);
  CHECK(format_cidr(t.ignore_peers[0]) == "10.0.0.0/8");
  CHECK(format_cidr(t.ignore_peers[1]) == "192.168.1.7/32");
  CHECK(format_cidr(t.ignore_peers[2]) == "fd00::/64");
  CHECK(t.ports == std::set<std::uint16_t>{8080, 9090});
  CHECK_FALSE(t.wait_pooled);
  auto p = prestop({"prestop", "--quiet", "3s", "--port", "80"});
  CHECK(p.wait.traffic.quiet == Millis(3000));
  CHECK(p.wait.traffic.ports == std::set<std::uint16_t>{80});
  auto e = endpoints({"endpoints", "--port", "80", "--ignore-peer", "10.1.1.1"});
  CHECK(e.traffic.ports == std::set<std::uint16_t>{80});
  CHECK(e.traffic.ignore_peers.size() == 1);
  auto q = run({"--quiet", "auto", "--pooled-peer", "10.0.9.0/24", "--pooled-peer",
                "10.0.8.7,fd00::/64", "--", "x"});
  CHECK(q.wait.traffic.auto_quiet);
  CHECK(q.wait.traffic.quiet == Millis(2000));  // the shortest auto quiet
  REQUIRE(q.wait.traffic.pooled_peers.size() == 3);
  CHECK(format_cidr(q.wait.traffic.pooled_peers[1]) == "10.0.8.7/32");
}

TEST_CASE("traffic wait options: from the environment") {
  setenv("LAMEDUCK_WAIT_TRAFFIC", "false", 1);
  setenv("LAMEDUCK_QUIET", "4s", 1);
  setenv("LAMEDUCK_IGNORE_PEER", "10.0.0.1,10.0.0.2", 1);
  setenv("LAMEDUCK_PORT", "81", 1);
  setenv("LAMEDUCK_WAIT_POOLED", "0", 1);
  setenv("LAMEDUCK_POOLED_PEERS", "10.0.9.0/24,10.0.8.0/24", 1);
  auto a = run({"--", "x"});
  unsetenv("LAMEDUCK_POOLED_PEERS");
  unsetenv("LAMEDUCK_WAIT_TRAFFIC");
  unsetenv("LAMEDUCK_QUIET");
  unsetenv("LAMEDUCK_IGNORE_PEER");
  unsetenv("LAMEDUCK_PORT");
  unsetenv("LAMEDUCK_WAIT_POOLED");
  const auto& t = a.wait.traffic;
  CHECK_FALSE(t.wait);
  CHECK(t.quiet == Millis(4000));
  CHECK_FALSE(t.auto_quiet);
  CHECK(t.pooled_peers.size() == 2);
  CHECK(t.ignore_peers.size() == 2);
  CHECK(t.ports == std::set<std::uint16_t>{81});
  CHECK_FALSE(t.wait_pooled);
}

TEST_CASE("traffic wait options: mistakes are one clear line") {
  CHECK(error_of({"--quiet", "soon", "--", "x"}) ==
        "--quiet: invalid duration 'soon' (use auto, or e.g. 500ms, 2s, 10s or a number of "
        "seconds)");
  CHECK(error_of({"--pooled-peer", "lb", "--", "x"}) ==
        "--pooled-peer: invalid address or CIDR 'lb' (e.g. 10.0.0.7, 10.0.0.0/8, fd00::/64)");
  CHECK(error_of({"--ignore-peer", "10.0.0.0/40", "--", "x"}) ==
        "--ignore-peer: invalid address or CIDR '10.0.0.0/40' (e.g. 10.0.0.7, 10.0.0.0/8, "
        "fd00::/64)");
  CHECK(error_of({"--port", "0", "--", "x"}) == "--port: invalid TCP port '0' (1 to 65535)");
  CHECK(error_of({"--port", "http", "--", "x"}) == "--port: invalid TCP port 'http' (1 to 65535)");
}
