// SPDX-License-Identifier: Apache-2.0
#include "cli/flags.h"
#include "cli/values.h"
#include "traffic/traffic_options.h"  // Cidr, parse_cidr

namespace lameduck::cli {

void add_log_flags(Parser& parser, LogOptions& log) {
  std::vector<std::string> formats{"text", "json"};
  add_value(parser, "log-format", "FORMAT:" + set_text(formats), "text or json (stderr only)",
            [&log](const std::string& v) {
              log.format = v == "json" ? LogFormat::json : LogFormat::text;
            })
      .check = one_of(formats);
  std::vector<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  add_text(parser, "log-level", "LEVEL:" + set_text(levels), log.level,
           "trace, debug, info, warn, error or off")
      .check = one_of(levels);
}

void add_kube_flags(Parser& parser, KubeOptions& kube) {
  auto push = [](std::vector<std::string>& list) {
    return [&list](const std::string& v) { list.push_back(v); };
  };
  add_list(parser, "service", "NAME",
           "only consider EndpointSlices of this Service (repeatable; default: all)",
           push(kube.services));
  add_list(parser, "pod-ip", "IP",
           "this Pod's IP (repeatable for dual-stack; default: POD_IPS/POD_IP, interfaces)",
           push(kube.pod_ips))
      .check = check_ip_address;
  add_text(parser, "pod-name", "NAME", kube.pod_name,
           "this Pod's name (default: POD_NAME, hostname)");
  add_text(parser, "namespace", "NAME", kube.namespace_name,
           "this Pod's namespace (default: POD_NAMESPACE, the service-account namespace file)");
  add_text(parser, "api-server", "URL", kube.api_server,
           "API server URL (default: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)")
      .check = check_https_url;
  add_value(parser, "token-file", "FILE",
            "bearer token file, re-read on every request (default: the service-account token)",
            [&kube](const std::string& v) { kube.token_file = absolute_path(v); });
  add_value(parser, "ca-file", "FILE", "CA bundle to verify the API server (default: ca.crt)",
            [&kube](const std::string& v) { kube.ca_file = absolute_path(v); });
  // Hidden, for measurements (bench/): the watch selects every slice of the namespace, as
  // before the narrow watch, instead of only the Services that hold the Pod.
  add_flag(parser, 0, "debug-watch-namespace", kube.watch_namespace,
           "watch every EndpointSlice of the namespace (debug)")
      .hidden = true;
}

void add_traffic_scope_flags(Parser& parser, TrafficOptions& traffic) {
  add_list(parser, "ignore-peer", "CIDR",
           "traffic from this address or CIDR never holds the drain (repeatable; default: "
           "the node's IP from HOST_IP; loopback is always ignored)",
           [&traffic](const std::string& v) { traffic.ignore_peers.push_back(*parse_cidr(v)); })
      .check = check_cidr;
  add_list(parser, "port", "PORT",
           "a local TCP port of the app's (repeatable; default: every port the app's "
           "processes listen on)",
           [&traffic](const std::string& v) {
             traffic.ports.insert(static_cast<std::uint16_t>(std::stoi(v)));
           })
      .check = check_tcp_port;
}

void add_wait_flags(Parser& parser, WaitOptions& wait) {
  add_duration(parser, "delay", wait.delay,
               "when EndpointSlices are not used or not readable: the longest traffic wait, or "
               "with --no-wait-traffic a fixed wait (default: 15s in a Pod, 0 elsewhere)");
  add_switch(parser, "wait-endpoints", wait.kube.wait_endpoints,
             "wait until the Pod IP left every EndpointSlice "
             "(default: on when in-cluster credentials exist)");
  add_duration(parser, "settle", wait.settle,
               "minimum wait after the Pod IP left every EndpointSlice; the traffic wait may "
               "make it longer (2s; 5s with --no-wait-traffic)");
  add_duration(parser, "max-delay", wait.max_delay, "hard cap on the whole wait (25s)");
  add_switch(parser, "wait-traffic", wait.traffic.wait,
             "after the EndpointSlices (or from SIGTERM without them), wait until the Pod "
             "had no new traffic for --quiet (default: on)");
  add_value(parser, "quiet", "auto|DURATION",
            "no new connection and no byte received on the app's connections for this long "
            "means out of rotation; auto: ln(1000)/(the Pod's request rate), at least 2s, at "
            "most --max-delay (auto)",
            [&traffic = wait.traffic](const std::string& v) {
              traffic.auto_quiet = v == "auto";
              if (!traffic.auto_quiet) traffic.quiet = *parse_duration(v);
            })
      .check = check_quiet;
  add_traffic_scope_flags(parser, wait.traffic);
  Option& pooled = add_list(parser, "pooled-peer", "CIDR",
                            "only this address or CIDR's open connections hold the drain, e.g. "
                            "the load balancer's or ingress controller's (repeatable); any "
                            "other peer's count only while it opens new ones (default: every "
                            "peer's)",
                            [&traffic = wait.traffic](const std::string& v) {
                              traffic.pooled_peers.push_back(*parse_cidr(v));
                            });
  pooled.env = "LAMEDUCK_POOLED_PEERS";
  pooled.check = check_cidr;
  add_switch(parser, "wait-pooled", wait.traffic.wait_pooled,
             "requests on already open (keep-alive) connections count as traffic too; off: "
             "only new connections do (default: on)");
  add_kube_flags(parser, wait.kube);
}

}  // namespace lameduck::cli
