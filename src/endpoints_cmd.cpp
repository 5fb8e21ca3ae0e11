#include "endpoints_cmd.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "event_loop.h"
#include "kube_config.h"
#include "log.h"
#include "signals.h"
#include "slice_watch.h"
#include "text.h"

namespace lameduck {
namespace {

constexpr Millis kOverallTimeout{15000};

// The watcher as the loop's source: its outcome is read from its state.
class ListSource final : public LoopSource {
 public:
  explicit ListSource(SliceWatcher& watcher) : watcher_(watcher) {}
  void add_fds(std::vector<pollfd>& fds) override { watcher_.add_fds(fds); }
  std::optional<TimePoint> next_timeout() const override { return watcher_.next_timeout(); }
  void on_ready(std::span<const pollfd> fds, TimePoint now) override {
    watcher_.on_ready(fds, now);
  }

 private:
  SliceWatcher& watcher_;
};

// Drives the watcher's one list to its end; SIGINT, SIGTERM or SIGHUP stop it at once
// (they are blocked for the whole process, so only this loop can see them): the reason.
std::string list_once(SliceWatcher& watcher, SignalFd& signals) {
  EventLoop loop(signals);
  ListSource source(watcher);
  LoopSource* sources[] = {&source};
  auto give_up = Clock::now() + kOverallTimeout;
  watcher.start(Clock::now());
  while (watcher.state() == SliceWatcher::State::watching && Clock::now() < give_up) {
    auto woke = loop.wait(sources, give_up);
    for (const auto& info : woke.signals) {
      int sig = static_cast<int>(info.ssi_signo);
      if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
        return "interrupted by " + signal_name(sig);
    }
    loop.dispatch(sources, woke.now);
  }
  return {};
}

}  // namespace

int run_endpoints(const EndpointsOptions& options, SignalFd& signals) {
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
    if (auto interrupted = list_once(watcher, signals); !interrupted.empty()) {
      error = interrupted;
    } else if (watcher.state() == SliceWatcher::State::failed) {
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
