// SPDX-License-Identifier: Apache-2.0
// The kube part's input, from the command line: where the Pod is and how to reach the API.
// Empty means "discover" (kube_config.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace lameduck {

struct KubeOptions {
  std::optional<bool> wait_endpoints;  // unset: on when in-cluster credentials exist
  std::vector<std::string> services;
  std::vector<std::string> pod_ips;
  std::string pod_name;
  std::string namespace_name;
  std::string api_server;
  std::string token_file;
  std::string ca_file;
  bool watch_namespace = false;  // --debug-watch-namespace: no narrow watch
};

}  // namespace lameduck
