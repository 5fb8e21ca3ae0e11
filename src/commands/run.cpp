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
  // 1. Adopt orphans when not PID 1, so they are reaped and not left to the host's init.
  bool pid1 = is_pid1();
  if (!pid1 && options.subreaper.value_or(true)) {
    if (int error = become_subreaper(); error != 0) {
      spdlog::warn("cannot become child subreaper: {}; orphans will not be reaped",
                   std::strerror(error));
    }
  } else if (pid1 && options.subreaper.value_or(false)) {
    spdlog::debug("--subreaper has no effect as PID 1");
  }

  // 2. The drain: EndpointSlices when the API can be used (no connection until SIGTERM).
  //    Its timeline starts with the drain; the supervisor and both waits log on it.
  Timeline timeline;
  WaitSetup wait = setup_wait(options.wait, options.kill_after, timeline);

  // 3. The preStop control socket: `lameduck prestop` in this container asks PID 1 to
  //    drain over it (only when lameduck is PID 1; a failure here only costs that).
  std::unique_ptr<ControlServer> control = ControlServer::open_for_pid1();

  // 4. Start the app; from here on only its exit ends lameduck.
  // The app starts with no signal blocked, whatever lameduck inherited (dumb-init does
  // the same; tini restores its parent's mask): a SIGTERM blocked by some launcher must
  // not make the app deaf to the stop signal.
  sigset_t unblocked;
  sigemptyset(&unblocked);
  // Throws SetupError when it cannot be started: main says why and exits 125, 126 or 127.
  Child child = Child::spawn(options.command, unblocked);
  spdlog::debug("started '{}' as pid {}{}", options.command.front(), child.pid(),
                pid1 ? " (lameduck is PID 1)" : "");
  // Never pin the mount lameduck was started in (dumb-init and catatonit do the same); the
  // app keeps its own working directory, and the options resolved their files already.
  if (::chdir("/") != 0) spdlog::debug("chdir / failed: {}", std::strerror(errno));

  // 5. The traffic wait, on the app's ports: nothing is opened until the drain needs it.
  add_traffic_wait(wait, options.wait.traffic, child.pid(), timeline);

  Supervisor supervisor(options, wait, timeline, signals, child, control.get());
  // 6. Start-up is over: once idle for a moment, the wait keeps only the code it runs mapped.
  release_startup_pages_after_settle(Clock::now());
  return supervisor.run();
}

}  // namespace lameduck
