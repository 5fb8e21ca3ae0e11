// Building the EndpointSlice watcher from the options: in-cluster config, Pod identity,
// and whether to wait on the API at all.
#pragma once

#include <memory>

#include "options.h"
#include "wait_source.h"

namespace lameduck {

struct WatchSetup {
  // Whether the drain waits on EndpointSlices (the Drain's wait_endpoints).
  bool wait_endpoints = false;
  // The watcher; null when wait_endpoints is false, or when it is forced on but the
  // configuration is unusable (then the drain falls back to --delay at once, logged).
  std::unique_ptr<WaitSource> watcher;
};

// Resolves identity and API access (logging what was used) without contacting the API.
WatchSetup setup_endpoint_watch(const ApiOptions& api);

}  // namespace lameduck
