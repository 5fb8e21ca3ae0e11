// SPDX-License-Identifier: Apache-2.0
#include "kube/kube_config.h"

#include <doctest/doctest.h>

#include <cstdlib>

using namespace lameduck;

TEST_CASE("in-cluster URL brackets IPv6 literals") {
  CHECK(in_cluster_url("10.96.0.1", "443") == "https://10.96.0.1:443");
  CHECK(in_cluster_url("fd00:10:96::1", "443") == "https://[fd00:10:96::1]:443");
  CHECK(in_cluster_url("10.96.0.1", "") == "https://10.96.0.1:443");
  CHECK(in_cluster_url("", "443").empty());
}

TEST_CASE("lists split on commas and spaces") {
  CHECK(split_list("10.0.0.1,fd00::1") == std::vector<std::string>{"10.0.0.1", "fd00::1"});
  CHECK(split_list(" a , b ,,") == std::vector<std::string>{"a", "b"});
  CHECK(split_list("").empty());
}

TEST_CASE("identity: flags, then downward-API env") {
  setenv("POD_IP", "10.0.0.7", 1);
  setenv("POD_IPS", "10.0.0.7,fd00::7", 1);
  setenv("POD_NAME", "web-7", 1);
  setenv("POD_NAMESPACE", "shop", 1);
  KubeOptions api;
  auto id = resolve_identity(api);
  CHECK(id.pod.ips == std::vector<std::string>{"10.0.0.7", "fd00::7"});
  CHECK(id.ips_from == "POD_IPS");
  CHECK(id.pod.name == "web-7");
  CHECK(id.pod.namespace_name == "shop");
  api.pod_ips = {"192.0.2.1"};
  api.pod_name = "flag";
  api.namespace_name = "flagns";
  id = resolve_identity(api);
  CHECK(id.pod.ips == std::vector<std::string>{"192.0.2.1"});
  CHECK(id.ips_from == "--pod-ip");
  CHECK(id.pod.name == "flag");
  CHECK(id.pod.namespace_name == "flagns");
  unsetenv("POD_IPS");
  api = KubeOptions{};
  CHECK(resolve_identity(api).ips_from == "POD_IP");
  unsetenv("POD_IP");
  unsetenv("POD_NAME");
  unsetenv("POD_NAMESPACE");
  CHECK(resolve_identity(api).ips_from == "interface addresses");
  CHECK(resolve_identity(api).name_from == "hostname");
}

TEST_CASE("config problems are named") {
  unsetenv("KUBERNETES_SERVICE_HOST");
  KubeOptions api;
  api.token_file = "/nonexistent/token";
  api.ca_file = "/nonexistent/ca";
  auto config = resolve_kube_config(api);
  CHECK_FALSE(config.usable());
  REQUIRE(config.problems.size() == 3);
  CHECK(config.problems[0].find("KUBERNETES_SERVICE_HOST") != std::string::npos);
  api.api_server = "http://10.0.0.1";
  CHECK(resolve_kube_config(api).problems[0].find("https://") != std::string::npos);
}
