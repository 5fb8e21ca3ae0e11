// SPDX-License-Identifier: Apache-2.0
#include "cli/flags.h"
#include "cli/values.h"
#include "traffic/traffic_options.h"  // Cidr, parse_cidr

namespace lameduck::cli {

void add_log_flags(CLI::App& app, LogOptions& log) {
  add_value(app, "log-format", "FORMAT", "text or json (stderr only)",
            [&log](const std::string& v) {
              log.format = v == "json" ? LogFormat::json : LogFormat::text;
            })
      ->check(CLI::IsMember({"text", "json"}));
  add_text(app, "log-level", "LEVEL", log.level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
}

void add_kube_flags(CLI::App& app, KubeOptions& kube) {
  auto push = [](std::vector<std::string>& list) {
    return [&list](const std::string& v) { list.push_back(v); };
  };
  add_list(app, "service", "NAME",
           "only consider EndpointSlices of this Service (repeatable; default: all)",
           push(kube.services));
  add_list(app, "pod-ip", "IP",
           "this Pod's IP (repeatable for dual-stack; default: POD_IPS/POD_IP, interfaces)",
           push(kube.pod_ips))
      ->check(ip_address());
  add_text(app, "pod-name", "NAME", kube.pod_name, "this Pod's name (default: POD_NAME, hostname)");
  add_text(app, "namespace", "NAME", kube.namespace_name,
           "this Pod's namespace (default: POD_NAMESPACE, the service-account namespace file)");
  add_text(app, "api-server", "URL", kube.api_server,
           "API server URL (default: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)")
      ->check(https_url());
  add_value(app, "token-file", "FILE",
            "bearer token file, re-read on every request (default: the service-account token)",
            [&kube](const std::string& v) { kube.token_file = absolute_path(v); });
  add_value(app, "ca-file", "FILE", "CA bundle to verify the API server (default: ca.crt)",
            [&kube](const std::string& v) { kube.ca_file = absolute_path(v); });
  // Hidden, for measurements (bench/): the watch selects every slice of the namespace, as
  // before the narrow watch, instead of only the Services that hold the Pod.
  app.add_flag("--debug-watch-namespace", kube.watch_namespace,
               "watch every EndpointSlice of the namespace (debug)")
      ->envname(env_name("debug-watch-namespace"))
      ->group("");
}

void add_traffic_scope_flags(CLI::App& app, TrafficOptions& traffic) {
  add_list(app, "ignore-peer", "CIDR",
           "traffic from this address or CIDR never holds the drain (repeatable; default: "
           "the node's IP from HOST_IP; loopback is always ignored)",
           [&traffic](const std::string& v) { traffic.ignore_peers.push_back(*parse_cidr(v)); })
      ->check(cidr());
  add_list(app, "port", "PORT",
           "a local TCP port of the app's (repeatable; default: every port the app's "
           "processes listen on)",
           [&traffic](const std::string& v) {
             traffic.ports.insert(static_cast<std::uint16_t>(std::stoi(v)));
           })
      ->check(tcp_port());
}

void add_wait_flags(CLI::App& app, WaitOptions& wait) {
  add_duration(app, "delay", wait.delay,
               "when EndpointSlices are not used or not readable: the longest traffic wait, or "
               "with --no-wait-traffic a fixed wait (default: 15s in a Pod, 0 elsewhere)");
  add_switch(app, "wait-endpoints", wait.kube.wait_endpoints,
             "wait until the Pod IP left every EndpointSlice "
             "(default: on when in-cluster credentials exist)");
  add_duration(app, "settle", wait.settle,
               "minimum wait after the Pod IP left every EndpointSlice; the traffic wait may "
               "make it longer (2s; 5s with --no-wait-traffic)");
  add_duration(app, "max-delay", wait.max_delay, "hard cap on the whole wait (25s)");
  add_switch(app, "wait-traffic", wait.traffic.wait,
             "after the EndpointSlices (or from SIGTERM without them), wait until the Pod "
             "had no new traffic for --quiet (default: on)");
  add_value(app, "quiet", "auto|DURATION",
            "no new connection and no byte received on the app's connections for this long "
            "means out of rotation; auto: ln(1000)/(the Pod's request rate), at least 2s, at "
            "most --max-delay (auto)",
            [&traffic = wait.traffic](const std::string& v) {
              traffic.auto_quiet = v == "auto";
              if (!traffic.auto_quiet) traffic.quiet = *parse_duration(v);
            })
      ->check(quiet());
  add_traffic_scope_flags(app, wait.traffic);
  add_list(app, "pooled-peer", "CIDR",
           "only this address or CIDR's open connections hold the drain, e.g. the load "
           "balancer's or ingress controller's (repeatable); any other peer's count only "
           "while it opens new ones (default: every peer's)",
           [&traffic = wait.traffic](const std::string& v) {
             traffic.pooled_peers.push_back(*parse_cidr(v));
           })
      ->envname("LAMEDUCK_POOLED_PEERS")
      ->check(cidr());
  add_switch(app, "wait-pooled", wait.traffic.wait_pooled,
             "requests on already open (keep-alive) connections count as traffic too; off: "
             "only new connections do (default: on)");
  add_kube_flags(app, wait.kube);
}

}  // namespace lameduck::cli
