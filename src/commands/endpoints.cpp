// SPDX-License-Identifier: Apache-2.0
#include "commands/endpoints.h"

#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/event_loop.h"
#include "base/log.h"
#include "base/text.h"
#include "init/signals.h"
#include "kube/api_session.h"
#include "kube/http.h"
#include "kube/kube_api.h"
#include "kube/kube_config.h"
#include "kube/slice_list.h"
#include "traffic/traffic_wait.h"

namespace lameduck {
namespace {

constexpr Millis kOverallTimeout{15000};
constexpr Millis kRequestTimeout{5000};
constexpr int kMaxRetries = 2;

// SIGINT, SIGTERM or SIGHUP (blocked for the whole process, so only this loop sees them)
// end the command at once: the reason.
std::string interrupted(const EventLoop::Wakeup& woke) {
  for (const auto& info : woke.signals) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
      return "interrupted by " + signal_name(sig);
  }
  return {};
}

// Runs one request to its end; nullopt at give_up, or when interrupted (`stop` says why).
std::optional<HttpResult> get(EventLoop& loop, HttpClient& http, const std::string& url,
                              const HttpOptions& options, TimePoint give_up, std::string& stop) {
  std::optional<HttpResult> result;
  HttpRequest request(url, options, nullptr, [&result](const HttpResult& r) { result = r; });
  http.start(request);
  LoopSource* sources[] = {&http};
  while (!result && Clock::now() < give_up) {
    auto woke = loop.wait(sources, give_up);
    stop = interrupted(woke);
    if (!stop.empty()) break;
    loop.dispatch(sources, woke.now);
  }
  if (!result) http.cancel(request);
  return result;
}

// Waits until `until` unless interrupted: the reason.
std::string pause(EventLoop& loop, TimePoint until) {
  while (Clock::now() < until) {
    if (auto why = interrupted(loop.wait({}, until)); !why.empty()) return why;
  }
  return {};
}

struct Listed {
  std::vector<Route> routes;
  std::string error;         // empty: routes is the answer
  bool interrupted = false;  // by a signal: error says which
};

// One consistent list of the namespace's slices (all pages), with the drain's paging and
// retries (slice_list.h), bounded by kOverallTimeout: where the Pod is routable right now.
// Not a watcher: nothing follows.
Listed list_routes_once(const KubeConfig& config, const ResolvedIdentity& identity,
                        const std::vector<std::string>& services, SignalFd& signals) {
  EventLoop loop(signals);
  const auto& pod = identity.pod;
  auto now = Clock::now();
  RetryBudget budget{now + kOverallTimeout, format_duration(kOverallTimeout)};
  auto opened = ApiSession::open(config, kRequestTimeout);
  if (!opened.session) return {{}, opened.error};
  SliceSelector selector{config.api_server, pod.namespace_name, services};
  SliceList list(pod, {});
  Backoff backoff(kMaxRetries, static_cast<unsigned>(::getpid()) ^
                                   static_cast<unsigned>(now.time_since_epoch().count()));
  HttpClient http;
  std::string url = list.begin(selector);
  for (;;) {
    auto options = opened.session->request_options(ApiRequestKind::list);
    if (!options.error.empty()) return {{}, options.error};
    std::string stop;
    auto result = get(loop, http, url, options.http, budget.until, stop);
    if (!stop.empty()) return {{}, stop, true};
    if (!result) {
      return {{}, "no answer from the API server within " + format_duration(kOverallTimeout)};
    }
    auto outcome =
        classify(std::move(*result), "listing EndpointSlices", config, pod.namespace_name);
    if (outcome.kind == ApiOutcome::Kind::fatal) return {{}, outcome.why};
    if (outcome.kind != ApiOutcome::Kind::ok) {  // retry, or a continue token that expired
      auto next = backoff.next(outcome.why, outcome.after, Clock::now(), budget);
      if (!next.error.empty()) return {{}, next.error};
      if (auto why = pause(loop, Clock::now() + next.wait); !why.empty()) return {{}, why, true};
      url = list.begin(selector);
      continue;
    }
    auto page = list.on_page(outcome.body);
    if (!page.error.empty()) return {{}, page.error};
    if (!page.next_url) return {routes_to_pod(list.take_slices(), pod, services), {}};
    url = std::move(*page.next_url);
  }
}

}  // namespace

int run_endpoints(const EndpointsOptions& options, SignalFd& signals) {
  setup_logging(options.log);
  KubeConfig config = resolve_kube_config(options.kube);
  ResolvedIdentity identity = resolve_identity(options.kube);

  std::string error;
  std::vector<Route> routes;
  bool interrupted = false;  // by a signal: error says which
  if (!config.usable()) {
    for (const auto& p : config.problems) error += (error.empty() ? "" : "; ") + p;
  } else if (identity.pod.namespace_name.empty()) {
    error = "cannot tell the Pod's namespace: set POD_NAMESPACE or --namespace";
  } else {
    auto listed = list_routes_once(config, identity, options.kube.services, signals);
    error = listed.error;
    routes = std::move(listed.routes);
    interrupted = listed.interrupted;
  }
  int code = !error.empty() ? 2 : routes.empty() ? 1 : 0;
  // What the traffic wait would see now (one second; it does not change the exit code).
  // A Ctrl-C ends it too.
  TrafficReport traffic;
  if (interrupted) {
    traffic.error = "not measured (" + error + ")";
  } else {
    EventLoop loop(signals);
    traffic = sample_traffic(options.traffic, Millis(1000),
                             [&loop](TimePoint until) { return pause(loop, until); });
  }

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
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& p : traffic.peers) {
      peers.push_back({{"ip", format_ip(p.ip)},
                       {"new_connections", p.connections},
                       {"bytes", p.bytes},
                       {"open_connections", p.open}});
    }
    out["traffic"] = {{"seconds", static_cast<double>(traffic.period.count()) / 1000},
                      {"ports", traffic.ports},
                      {"new_connections", traffic.new_connections},
                      {"unattributed", traffic.unattributed},
                      {"bytes", traffic.bytes},
                      {"peers", peers}};
    if (!traffic.error.empty()) out["traffic"]["error"] = traffic.error;
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
  std::printf("traffic:    %s\n", describe_traffic(traffic).c_str());
  return code;
}

}  // namespace lameduck
