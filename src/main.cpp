// SPDX-License-Identifier: Apache-2.0
// lameduck: a PID 1 that keeps the app serving after SIGTERM until the Pod is out of
// rotation. main() blocks signals, parses, and dispatches; errors become exit codes.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <variant>

#include "base/errors.h"
#include "base/log.h"
#include "base/signal_fd.h"
#include "cli/options.h"
#include "commands/endpoints.h"
#include "commands/install.h"
#include "commands/licenses.h"
#include "commands/prestop.h"
#include "commands/run.h"
#include "init/exit_status.h"
#include "kube/kube_config.h"

using namespace lameduck;

namespace {

// A closed stdin, stdout or stderr would be taken by the next descriptor lameduck opens
// (the signalfd, a socket, curl's wake-up pair), and log lines or the app's reads would
// land there. /dev/null takes the gap first, as dumb-init and catatonit leave it to luck.
void open_missing_stdio() {
  // One poll() tells which of the three is closed (POLLNVAL), where fcntl takes three calls.
  pollfd fds[] = {{STDIN_FILENO, 0, 0}, {STDOUT_FILENO, 0, 0}, {STDERR_FILENO, 0, 0}};
  if (::poll(fds, 3, 0) <= 0) return;
  for (const pollfd& p : fds) {
    if ((p.revents & POLLNVAL) == 0) continue;
    int null = ::open("/dev/null", O_RDWR);  // the lowest free descriptor: p.fd itself
    if (null >= 0 && null != p.fd) {
      ::dup2(null, p.fd);
      ::close(null);
    }
  }
}

// --check: warnings only (exit 0), for what would break a drain (kube_config.h).
int check_api(const KubeOptions& kube) {
  for (const auto& problem : check_api_setup(kube)) spdlog::warn("--check: {}", problem);
  return 0;
}

// One function per command, for std::visit.
struct Dispatch {
  SignalFd& signals;

  int operator()(const Help& help) const {
    std::fputs(help.text.c_str(), stdout);
    return 0;
  }
  int operator()(const Version& version) const {
    if (version.licenses) {
      std::fputs(license_notices(), stdout);
    } else {
      std::puts("lameduck " LAMEDUCK_VERSION);
    }
    return 0;
  }
  int operator()(const RunOptions& run) const {
    // Parse-only: manifests are checked where the image's COMMAND does not exist.
    if (run.check_only) {
      setup_logging(run.log);
      return check_api(run.wait.kube);
    }
    return run_command(run, signals);  // sets up logging once the app is started
  }
  int operator()(const PrestopOptions& prestop) const {
    setup_logging(prestop.log);
    if (prestop.check_only) return check_api(prestop.wait.kube);
    return run_prestop(prestop, signals);
  }
  int operator()(const EndpointsOptions& endpoints) const {
    return run_endpoints(endpoints, signals);
  }
  int operator()(const InstallOptions& install) const {
    setup_logging({});
    return run_install(install);
  }
};

}  // namespace

int main(int argc, char** argv) {
  open_missing_stdio();
  try {
    // 1. Block signals before anything else, so no signal is lost or handled by default
    //    and any thread a library starts inherits the mask.
    SignalFd signals;
    // 2. Parse; every mistake is one line and exit 125. Nothing at all: the short usage.
    if (argc <= 1) {
      std::fputs(short_usage().c_str(), stderr);
      return kExitUsage;
    }
    Command command;
    try {
      command = parse_command_line(argc, argv);
    } catch (const SetupError& e) {  // UsageError, and what the parts' parsers throw
      const auto* usage = dynamic_cast<const UsageError*>(&e);
      std::string sub =
          usage == nullptr || usage->subcommand.empty() ? "" : " " + usage->subcommand;
      print_error(std::string(e.what()) + " (see lameduck" + sub + " --help)");
      return e.exit_code;
    }
    // 3. Run. Setup that fails (the command cannot be started) says why and exits with the
    //    error's code; after it, nothing throws on purpose (errors.h).
    return std::visit(Dispatch{signals}, command);
  } catch (const SetupError& e) {
    print_error(e.what());
    return e.exit_code;
  } catch (const std::exception& e) {
    // A bug or an exhausted machine (bad_alloc, no signalfd). 125 is what env(1) and
    // timeout(1) exit with when they fail themselves, so a caller cannot take it for the
    // app's own code; once the app runs, the supervisor's guard keeps this from happening.
    print_error(std::string("internal error: ") + e.what());
    return kExitUsage;
  }
}
