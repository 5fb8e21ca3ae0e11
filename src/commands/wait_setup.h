// SPDX-License-Identifier: Apache-2.0
// Setting up a drain from the options, without contacting the API: its DrainConfig and
// its wait sources (the EndpointSlice watcher when the API can be used, logging what was
// used). PID 1's run and `lameduck prestop` both stand on this, side by side.
#pragma once

#include <memory>
#include <optional>

#include "base/log.h"
#include "cli/options.h"
#include "drain/drain.h"
#include "drain/drain_runner.h"
#include "drain/wait_source.h"
#include "traffic/traffic_wait.h"

namespace lameduck {

struct WaitSetup {
  DrainConfig drain;  // --delay defaults to 15s in a Pod, else 0
  // The EndpointSlice watcher; null exactly when drain.wait_endpoints is false (also when
  // --wait-endpoints is forced with an unusable configuration: logged, the drain uses --delay).
  std::unique_ptr<WaitSource> watcher;
  // The traffic wait (the Pod's own connections); null with --no-wait-traffic. Added once
  // the app's pid is known, by add_traffic_wait.
  std::unique_ptr<TrafficWait> traffic;

  WaitSources sources() const {
    WaitSources waits{};
    waits[static_cast<std::size_t>(WaitKind::endpoints)] = watcher.get();
    waits[static_cast<std::size_t>(WaitKind::traffic)] = traffic.get();
    return waits;
  }
};

// kill_after: PID 1's --kill-after (the hook has none). The watcher writes on `timeline`.
WaitSetup setup_wait(const WaitOptions& wait, std::optional<Millis> kill_after,
                     const Timeline& timeline);

// Adds the traffic wait on `app`'s listening ports (none: every port of the namespace),
// writing on `timeline`. Nothing is opened until the drain needs it.
void add_traffic_wait(WaitSetup& setup, const TrafficOptions& traffic, std::optional<pid_t> app,
                      const Timeline& timeline);

}  // namespace lameduck
