// SPDX-License-Identifier: Apache-2.0
// Building the EndpointSlice watcher from the options: in-cluster config, Pod identity,
// and whether to wait on the API at all.
#pragma once

#include <memory>

#include "options.h"
#include "wait_source.h"

namespace lameduck {

struct WatchSetup {
  // Whether the drain waits on EndpointSlices (the Drain's wait_endpoints): exactly when
  // there is a watcher. Forced on with an unusable configuration, it is off (logged).
  bool wait_endpoints = false;
  std::unique_ptr<WaitSource> watcher;
};

// Resolves identity and API access (logging what was used) without contacting the API.
// delay: the drain's --delay, the time the API gets for a first answer (retries included).
WatchSetup setup_endpoint_watch(const ApiOptions& api, Millis delay);

}  // namespace lameduck
