// SPDX-License-Identifier: Apache-2.0
// Where the API is and who this Pod is: flags, then the downward API and in-cluster
// files, then the machine itself. Nothing here talks to the API.
#pragma once

#include <string>
#include <vector>

#include "kube/endpoint_slice.h"
#include "kube/kube_options.h"

namespace lameduck {

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

struct KubeConfig {
  std::string api_server;  // "https://10.96.0.1:443", "https://[fd00::1]:443"
  std::string token_file;
  std::string ca_file;
  // Why the API cannot be used; empty when it can.
  std::vector<std::string> problems;
  bool usable() const { return problems.empty(); }
};

// Also starts resolving a host name in --api-server, on a thread (host_lookup.h).
KubeConfig resolve_kube_config(const KubeOptions& api);

// For --check, where the ServiceAccount volume is usually absent: what is certain to
// break a drain (a token or CA that exists but is a FIFO, a directory or too big; an
// --api-server that is no https:// URL), and a note for a host name. Talks to nothing.
std::vector<std::string> check_api_setup(const KubeOptions& api);

// https://HOST:PORT with IPv6 literals bracketed; empty without KUBERNETES_SERVICE_HOST.
std::string in_cluster_url(const std::string& host, const std::string& port);

struct ResolvedIdentity {
  PodIdentity pod;
  std::string ips_from, name_from, namespace_from;  // for the log
};

ResolvedIdentity resolve_identity(const KubeOptions& api);

// "pod web-abc in default, IPs 10.1.2.3 (from POD_IP), name from POD_NAME, ..."
std::string describe_identity(const ResolvedIdentity& identity);

// "10.0.0.1, fd00::1" -> {"10.0.0.1", "fd00::1"}; blanks dropped.
std::vector<std::string> split_list(const std::string& text);

}  // namespace lameduck
