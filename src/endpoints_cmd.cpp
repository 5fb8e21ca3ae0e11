#include "endpoints_cmd.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "kube_config.h"
#include "log.h"
#include "slice_watch.h"
#include "text.h"

namespace lameduck {
namespace {

constexpr Millis kOverallTimeout{15000};

// Drives the watcher's one list to its end with a plain poll() loop.
void list_once(SliceWatcher& watcher) {
  auto now = Clock::now();
  auto give_up = now + kOverallTimeout;
  watcher.start(now);
  while (watcher.state() == SliceWatcher::State::watching && Clock::now() < give_up) {
    std::vector<pollfd> fds;
    watcher.add_fds(fds);
    auto deadline = std::min(watcher.next_timeout().value_or(give_up), give_up);
    auto wait = std::chrono::ceil<Millis>(deadline - Clock::now()).count();
    ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(wait, 0)));
    watcher.on_ready(fds, Clock::now());
  }
}

}  // namespace

int run_endpoints(const EndpointsOptions& options) {
  setup_logging(options.log);
  KubeConfig config = resolve_kube_config(options.api);
  ResolvedIdentity identity = resolve_identity(options.api);

  std::string error;
  std::vector<Route> routes;
  if (!config.usable()) {
    for (const auto& p : config.problems) error += (error.empty() ? "" : "; ") + p;
  } else if (identity.pod.namespace_name.empty()) {
    error = "cannot tell the Pod's namespace: set POD_NAMESPACE or --namespace";
  } else {
    SliceWatchParams params{config, identity, options.api.services};
    SliceWatcher watcher(params);
    watcher.set_list_only(true);
    spdlog::set_level(spdlog::level::from_str(options.log.level));
    list_once(watcher);
    if (watcher.state() == SliceWatcher::State::failed) {
      error = watcher.failure();
    } else if (watcher.state() == SliceWatcher::State::watching) {
      error = "no answer from the API server within " + format_duration(kOverallTimeout);
    } else {
      routes = watcher.routes();
    }
    watcher.stop();
  }
  int code = !error.empty() ? 2 : routes.empty() ? 1 : 0;

  if (options.json) {
    nlohmann::json out;
    out["pod"] = {{"name", identity.pod.name},
                  {"name_from", identity.name_from},
                  {"namespace", identity.pod.namespace_name},
                  {"namespace_from", identity.namespace_from},
                  {"ips", identity.pod.ips},
                  {"ips_from", identity.ips_from}};
    out["api"] = {{"server", clean_text(config.api_server)},
                  {"token_file", clean_text(config.token_file)},
                  {"ca_file", clean_text(config.ca_file)},
                  {"ok", error.empty()}};
    if (!error.empty()) out["api"]["error"] = error;
    out["routable"] = code == 2 ? nlohmann::json(nullptr) : nlohmann::json(code == 0);
    out["routes"] = nlohmann::json::array();
    for (const auto& r : routes) {
      out["routes"].push_back({{"service", clean_text(r.service)},
                               {"slice", clean_text(r.slice)},
                               {"address", clean_text(r.address)}});
    }
    // Every string in it is clean already; replace is the guard that keeps it JSON.
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return code;
  }
  std::string ips;
  for (const auto& ip : identity.pod.ips) ips += (ips.empty() ? "" : ", ") + ip;
  std::printf("pod:        %s (from %s)\n", identity.pod.name.c_str(), identity.name_from.c_str());
  std::printf("namespace:  %s (from %s)\n",
              identity.pod.namespace_name.empty() ? "?" : identity.pod.namespace_name.c_str(),
              identity.namespace_from.empty() ? "nowhere" : identity.namespace_from.c_str());
  std::printf("ips:        %s (from %s)\n", ips.empty() ? "none" : ips.c_str(),
              identity.ips_from.c_str());
  std::printf("api server: %s\n",
              config.api_server.empty() ? "?" : clean_text(config.api_server).c_str());
  std::printf("api access: %s\n", error.empty() ? "ok" : ("FAILED: " + error).c_str());
  std::printf("routable:   %s\n", code == 0 ? "yes" : code == 1 ? "no" : "unknown");
  for (const auto& r : routes) {
    std::printf("  svc/%s  slice %s  %s\n", clean_text(r.service).c_str(),
                clean_text(r.slice).c_str(), clean_text(r.address).c_str());
  }
  return code;
}

}  // namespace lameduck
