// SPDX-License-Identifier: Apache-2.0
#include "commands/run.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/footprint.h"
#include "base/log.h"
#include "base/procfs.h"
#include "commands/wait_setup.h"
#include "control/control_server.h"
#include "init/child.h"
#include "init/supervisor.h"

namespace lameduck {

int run_command(const RunOptions& options, SignalFd& signals) {
  // Until the app is started, only what it needs runs: no logging code (the logger is set
  // up after the spawn), no look at the API's files. Whatever logs before it sets up first.
  defer_logging(options.log);

  // 1. Adopt orphans when not PID 1, so they are reaped and not left to the host's init.
  //    Before the app starts: its own children must be adopted too.
  bool pid1 = is_pid1();
  if (!pid1 && options.subreaper.value_or(true)) {
    if (int error = become_subreaper(); error != 0) {
      setup_logging();
      spdlog::warn("cannot become child subreaper: {}; orphans will not be reaped",
                   std::strerror(error));
    }
  }

  // 2. The preStop control socket: `lameduck prestop` in this container asks PID 1 to
  //    drain over it (only when lameduck is PID 1; a failure here only costs that). Before
  //    the app starts, so that a hook the app's start-up triggers never finds no socket.
  std::unique_ptr<ControlServer> control;
  if (pid1) {
    setup_logging();  // what goes wrong is logged
    control = ControlServer::open_for_pid1();
  }

  // 3. Start the app; from here on only its exit ends lameduck.
  // The app starts with no signal blocked, whatever lameduck inherited (dumb-init does
  // the same; tini restores its parent's mask): a SIGTERM blocked by some launcher must
  // not make the app deaf to the stop signal.
  sigset_t unblocked;
  sigemptyset(&unblocked);
  // Throws SetupError when it cannot be started: main says why and exits 125, 126 or 127.
  Child child = Child::spawn(options.command, unblocked);
  setup_logging();
  if (!pid1) control = ControlServer::open_for_pid1();  // nullptr, and says why at debug
  if (pid1 && options.subreaper.value_or(false)) {
    spdlog::debug("--subreaper has no effect as PID 1");
  }
  spdlog::debug("started '{}' as pid {}{}", options.command.front(), child.pid(),
                pid1 ? " (lameduck is PID 1)" : "");

  // 4. The drain, set up while the app starts: EndpointSlices when the API can be used (no
  //    connection until SIGTERM), and the traffic wait on the app's ports (nothing opened
  //    until the drain needs it). Its timeline starts with the drain; the supervisor and
  //    both waits log on it. Nothing here can fail the run: problems are logged, and the
  //    drain falls back to --delay.
  Timeline timeline;
  WaitSetup wait = setup_wait(options.wait, options.kill_after, timeline);
  add_traffic_wait(wait, options.wait.traffic, child.pid(), timeline);

  // Never pin the mount lameduck was started in (dumb-init and catatonit do the same); the
  // app keeps its own working directory, and the options resolved their files already.
  if (::chdir("/") != 0) spdlog::debug("chdir / failed: {}", std::strerror(errno));

  Supervisor supervisor(options, wait, timeline, signals, child, control.get());
  // 5. Start-up is over: once idle for a moment, the wait keeps only the code it runs mapped.
  release_startup_pages_after_settle(Clock::now());
  return supervisor.run();
}

}  // namespace lameduck
