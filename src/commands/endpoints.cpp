// SPDX-License-Identifier: Apache-2.0
#include "commands/endpoints.h"

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "base/event_loop.h"
#include "base/log.h"
#include "base/small_file.h"
#include "base/text.h"
#include "init/signals.h"
#include "kube/http.h"
#include "kube/kube_api.h"
#include "kube/kube_config.h"
#include "traffic/traffic_wait.h"

namespace lameduck {
namespace {

constexpr Millis kOverallTimeout{15000};
constexpr Millis kRequestTimeout{5000};
constexpr int kMaxRetries = 2;
constexpr int kMaxPages = 8;

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
  std::string error;  // empty: routes is the answer
  bool interrupted = false;
};

// One consistent list of the namespace's slices (all pages), a couple of retries on 5xx,
// 429 and timeouts: where the Pod is routable right now. Not a watcher: nothing follows.
Listed list_routes_once(const KubeConfig& config, const ResolvedIdentity& identity,
                        const std::vector<std::string>& services, SignalFd& signals) {
  EventLoop loop(signals);
  const auto& pod = identity.pod;
  auto give_up = Clock::now() + kOverallTimeout;
  SliceSelector selector{config.api_server, pod.namespace_name, services};
  SmallFile ca = read_small_file("the CA", config.ca_file, kMaxCaBytes);
  if (!ca.ok()) return {{}, ca.error};
  auto ca_pem = std::make_shared<const std::string>(std::move(ca.data));
  HttpClient http;
  std::map<std::string, EndpointSlice> slices;
  std::string next;
  int pages = 0;
  int retries = 0;
  for (;;) {
    HttpOptions options;
    options.ca_pem = ca_pem;
    std::string error;
    options.bearer_token = read_bearer_token(config.token_file, error);
    if (!error.empty()) return {{}, error};
    options.connect_timeout_ms = static_cast<long>(kRequestTimeout.count());
    options.total_timeout_ms = static_cast<long>(kRequestTimeout.count());
    std::string stop;
    auto result = get(loop, http, list_url(selector, next), options, give_up, stop);
    if (!stop.empty()) return {{}, stop, true};
    if (!result) {
      return {{}, "no answer from the API server within " + format_duration(kOverallTimeout)};
    }
    auto outcome =
        classify(std::move(*result), "listing EndpointSlices", config, pod.namespace_name);
    switch (outcome.kind) {
      case ApiOutcome::Kind::fatal: return {{}, outcome.why};
      case ApiOutcome::Kind::retry:
      case ApiOutcome::Kind::expired: {
        if (++retries > kMaxRetries) return {{}, outcome.why + " (gave up after retries)"};
        slices.clear();
        next.clear();
        pages = 0;
        auto wait = std::max(outcome.after, Millis(200 << retries));
        if (auto why = pause(loop, std::min(Clock::now() + wait, give_up)); !why.empty()) {
          return {{}, why};
        }
        continue;
      }
      case ApiOutcome::Kind::ok: break;
    }
    auto page = parse_slice_list(outcome.body, pod);
    if (!page.error.empty()) return {{}, "malformed EndpointSlice list: " + page.error};
    for (auto& slice : page.items) {
      std::string name = slice.name;
      slices[name] = std::move(slice);
    }
    if (page.continue_token.empty()) return {routes_to_pod(slices, pod, services), {}};
    if (++pages >= kMaxPages) {
      return {{},
              "the EndpointSlice list has more than " + std::to_string(kMaxPages) +
                  " pages; narrow it with --service"};
    }
    next = page.continue_token;
  }
}

}  // namespace

int run_endpoints(const EndpointsOptions& options, SignalFd& signals) {
  setup_logging(options.log);
  KubeConfig config = resolve_kube_config(options.kube);
  ResolvedIdentity identity = resolve_identity(options.kube);

  std::string error;
  std::vector<Route> routes;
  bool interrupted = false;
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
