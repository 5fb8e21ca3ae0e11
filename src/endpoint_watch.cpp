// SPDX-License-Identifier: Apache-2.0
#include "endpoint_watch.h"

#include <spdlog/spdlog.h>

#include "slice_watch.h"

namespace lameduck {

WatchSetup setup_endpoint_watch(const ApiOptions& api, Millis delay) {
  WatchSetup setup;
  KubeConfig config = resolve_kube_config(api);
  std::string problems;
  for (const auto& p : config.problems) problems += (problems.empty() ? "" : "; ") + p;

  // Default: on exactly when in-cluster credentials (or explicit ones) are there.
  setup.wait_endpoints = api.wait_endpoints.value_or(config.usable());
  if (!setup.wait_endpoints) {
    spdlog::debug("not waiting on EndpointSlices{}",
                  api.wait_endpoints ? " (--no-wait-endpoints)" : ": " + problems);
    return setup;
  }
  if (!config.usable()) {
    spdlog::warn("--wait-endpoints, but the API cannot be used: {}; the drain will use --delay",
                 problems);
    setup.wait_endpoints = false;
    return setup;
  }
  SliceWatchParams params;
  params.config = std::move(config);
  params.identity = resolve_identity(api);
  params.services = api.services;
  params.answer_within = delay;
  params.narrow = !api.watch_namespace;
  spdlog::debug("EndpointSlice wait armed: {}", describe_identity(params.identity));
  setup.watcher = std::make_unique<SliceWatcher>(std::move(params));
  return setup;
}

}  // namespace lameduck
