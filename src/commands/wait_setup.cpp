// SPDX-License-Identifier: Apache-2.0
#include "commands/wait_setup.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "kube/kube_config.h"
#include "kube/slice_watch.h"

namespace lameduck {
namespace {

// Default: on exactly when in-cluster credentials (or explicit ones) are there.
// delay: the drain's --delay, the time the API gets for a first answer (retries included).
std::unique_ptr<WaitSource> setup_watcher(const KubeOptions& api, Millis delay,
                                          const Timeline& timeline) {
  KubeConfig config = resolve_kube_config(api);
  std::string problems;
  for (const auto& p : config.problems) problems += (problems.empty() ? "" : "; ") + p;
  if (!api.wait_endpoints.value_or(config.usable())) {
    spdlog::debug("not waiting on EndpointSlices{}",
                  api.wait_endpoints ? " (--no-wait-endpoints)" : ": " + problems);
    return nullptr;
  }
  if (!config.usable()) {
    spdlog::warn("--wait-endpoints, but the API cannot be used: {}; the drain will use --delay",
                 problems);
    return nullptr;
  }
  SliceWatchParams params;
  params.config = std::move(config);
  params.identity = resolve_identity(api);
  const PodIdentity& pod = params.identity.pod;
  params.sync.selector = {params.config.api_server, pod.namespace_name, api.services};
  params.sync.pod = pod;
  params.sync.answer_within = delay;
  params.sync.narrow = !api.watch_namespace;
  spdlog::debug("EndpointSlice wait armed: {}", describe_identity(params.identity));
  return std::make_unique<SliceWatcher>(std::move(params), timeline);
}

// True when running in a Pod (KUBERNETES_SERVICE_HOST is set).
bool in_kubernetes() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  return host != nullptr && *host != '\0';
}

}  // namespace

WaitSetup setup_wait(const WaitOptions& wait, std::optional<Millis> kill_after,
                     const Timeline& timeline) {
  WaitSetup setup;
  setup.drain.delay = wait.delay.value_or(in_kubernetes() ? Millis(15000) : Millis(0));
  setup.watcher = setup_watcher(wait.kube, setup.drain.delay, timeline);
  // With the traffic wait the settle is only its floor: the traffic shows when the
  // consumers caught up. Without it, the settle is the guess at their lag it always was.
  setup.drain.settle = wait.settle.value_or(wait.traffic.wait ? Millis(2000) : Millis(5000));
  setup.drain.max_delay = wait.max_delay;
  setup.drain.kill_after = kill_after;
  setup.drain.wait_endpoints = setup.watcher != nullptr;
  setup.drain.wait_traffic = wait.traffic.wait;
  setup.drain.quiet = wait.traffic.quiet;
  return setup;
}

void add_traffic_wait(WaitSetup& setup, const TrafficOptions& traffic, std::optional<pid_t> app,
                      const Timeline& timeline) {
  setup.traffic = setup_traffic_wait(traffic, app, setup.drain.max_delay);
  if (setup.traffic) setup.traffic->set_timeline(timeline);
  setup.drain.wait_traffic = setup.traffic != nullptr;
}

}  // namespace lameduck
