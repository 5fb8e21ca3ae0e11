// SPDX-License-Identifier: Apache-2.0
#include "run.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "child.h"
#include "control_server.h"
#include "endpoint_watch.h"
#include "exit_status.h"
#include "log.h"
#include "supervisor.h"
#include "traffic_wait.h"

namespace lameduck {

DrainConfig drain_config(const WaitOptions& wait, bool wait_endpoints) {
  DrainConfig config;
  config.delay = fallback_delay(wait);
  // With the traffic wait the settle is only its floor: the traffic shows when the
  // consumers caught up. Without it, the settle is the guess at their lag it always was.
  config.settle = wait.settle.value_or(wait.traffic.wait ? Millis(2000) : Millis(5000));
  config.max_delay = wait.max_delay;
  config.wait_endpoints = wait_endpoints;
  config.wait_traffic = wait.traffic.wait;
  config.quiet = wait.traffic.quiet;
  return config;
}

int run_command(const RunOptions& options, SignalFd& signals) {
  // 1. Adopt orphans when not PID 1, so they are reaped and not left to the host's init.
  bool pid1 = getpid() == 1;
  if (!pid1 && options.subreaper.value_or(true)) {
    if (int error = become_subreaper(); error != 0) {
      spdlog::warn("cannot become child subreaper: {}; orphans will not be reaped",
                   std::strerror(error));
    }
  } else if (pid1 && options.subreaper.value_or(false)) {
    spdlog::debug("--subreaper has no effect as PID 1");
  }

  // 2. The drain: EndpointSlices when the API can be used (no connection until SIGTERM).
  WatchSetup watch = setup_endpoint_watch(options.wait.api, fallback_delay(options.wait));
  SupervisorConfig config;
  config.drain = drain_config(options.wait, watch.wait_endpoints);
  config.drain.kill_after = options.kill_after;
  config.stop_signal = options.stop_signal;
  config.rewrite = options.rewrite;
  config.group = options.group;
  config.success_codes = options.success_codes;
  config.orphan_grace = options.orphan_grace;

  // 3. The preStop control socket: `lameduck prestop` in this container asks PID 1 to
  //    drain over it (only when lameduck is PID 1; a failure here only costs that).
  std::unique_ptr<ControlServer> control = ControlServer::open_for_pid1();

  // 4. Start the app; from here on only its exit ends lameduck.
  Child child;
  // The app starts with no signal blocked, whatever lameduck inherited (dumb-init does
  // the same; tini restores its parent's mask): a SIGTERM blocked by some launcher must
  // not make the app deaf to the stop signal.
  sigset_t unblocked;
  sigemptyset(&unblocked);
  if (auto error = Child::spawn(options.command, unblocked, child)) {
    print_error(error->message);
    return error->exit_code;
  }
  spdlog::debug("started '{}' as pid {}{}", options.command.front(), child.pid(),
                pid1 ? " (lameduck is PID 1)" : "");
  // Never pin the mount lameduck was started in (dumb-init and catatonit do the same); the
  // app keeps its own working directory, and the options resolved their files already.
  if (::chdir("/") != 0) spdlog::debug("chdir / failed: {}", std::strerror(errno));

  // 5. The traffic wait, on the app's ports: nothing is opened until the drain needs it.
  auto traffic = setup_traffic_wait(options.wait.traffic, child.pid());

  WaitSources waits{};
  waits[static_cast<std::size_t>(WaitKind::endpoints)] = watch.watcher.get();
  waits[static_cast<std::size_t>(WaitKind::traffic)] = traffic.get();
  Supervisor supervisor(std::move(config), signals, child, waits, control.get());
  if (traffic) traffic->set_timeline(supervisor.timeline());
  return supervisor.run();
}

}  // namespace lameduck
