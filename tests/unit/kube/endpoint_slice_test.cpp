// SPDX-License-Identifier: Apache-2.0
#include "kube/endpoint_slice.h"

#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

using namespace lameduck;
using nlohmann::json;

namespace {

json fixture(const char* name) {
  std::ifstream in(std::string(LAMEDUCK_FIXTURES) + "/" + name);
  REQUIRE(in.good());
  return json::parse(in);
}

Endpoint endpoint(std::vector<std::string> addresses, std::optional<bool> ready,
                  std::optional<bool> terminating, std::string pod = "") {
  Endpoint e;
  e.addresses = std::move(addresses);
  e.ready = ready;
  e.terminating = terminating;
  if (!pod.empty()) {
    e.target_kind = "Pod";
    e.target_name = std::move(pod);
  }
  return e;
}

std::map<std::string, EndpointSlice> slices(std::vector<EndpointSlice> list) {
  std::map<std::string, EndpointSlice> out;
  for (auto& s : list) out[s.name] = s;
  return out;
}

EndpointSlice slice(std::string name, std::string service, std::vector<Endpoint> endpoints) {
  EndpointSlice s;
  s.name = std::move(name);
  s.service = std::move(service);
  s.endpoints = std::move(endpoints);
  return s;
}

PodIdentity pod(std::vector<std::string> ips, std::string name = "web-1") {
  return PodIdentity{std::move(ips), std::move(name), "default"};
}

}  // namespace

TEST_CASE("a real EndpointSlice parses") {
  auto s = parse_slice(fixture("endpointslice-terminating.json"));
  CHECK(s.name == "web-x7k2p");
  CHECK(s.namespace_name == "default");
  CHECK(s.service == "web");
  CHECK(s.address_type == "IPv4");
  REQUIRE(s.endpoints.size() == 3);
  CHECK(s.endpoints[0].ready == false);
  CHECK(s.endpoints[0].serving == true);
  CHECK(s.endpoints[0].terminating == true);
  CHECK(s.endpoints[0].target_name == "web-6d4cf56db6-abcde");
  CHECK_FALSE(s.endpoints[2].ready.has_value());
}

TEST_CASE("the fixture: terminating pod is gone, ready pod and absent conditions route") {
  auto all = slices({parse_slice(fixture("endpointslice-terminating.json"))});
  CHECK(routes_to_pod(all, pod({"10.244.1.17"}, "x"), {}).empty());
  CHECK(routes_to_pod(all, pod({"10.244.2.9"}, "x"), {}).size() == 1);
  CHECK(routes_to_pod(all, pod({"10.244.3.4"}, "x"), {}).size() == 1);
}

TEST_CASE("routable: ready true or absent, and not terminating") {
  CHECK(endpoint_routable(endpoint({"a"}, true, false)));
  CHECK(endpoint_routable(endpoint({"a"}, std::nullopt, std::nullopt)));
  CHECK(endpoint_routable(endpoint({"a"}, true, std::nullopt)));
  CHECK_FALSE(endpoint_routable(endpoint({"a"}, false, std::nullopt)));
  CHECK_FALSE(endpoint_routable(endpoint({"a"}, false, true)));
  // publishNotReadyAddresses: ready stays true while terminating.
  CHECK_FALSE(endpoint_routable(endpoint({"a"}, true, true)));
  CHECK_FALSE(endpoint_routable(endpoint({"a"}, std::nullopt, true)));
}

TEST_CASE("matching: any of the Pod's IPs, IPv6 in any spelling, or the targetRef") {
  auto p = pod({"10.0.0.5", "fd00::5"});
  CHECK(endpoint_is_pod(endpoint({"10.0.0.5"}, true, false), p));
  CHECK(endpoint_is_pod(endpoint({"fd00:0:0:0::5"}, true, false), p));
  CHECK(endpoint_is_pod(endpoint({"FD00::5"}, true, false), p));
  CHECK_FALSE(endpoint_is_pod(endpoint({"10.0.0.50"}, true, false), p));
  CHECK(endpoint_is_pod(endpoint({"10.9.9.9"}, true, false, "web-1"), p));
  CHECK_FALSE(endpoint_is_pod(endpoint({"10.9.9.9"}, true, false, "web-2"), p));
  auto other_ns = endpoint({"10.9.9.9"}, true, false, "web-1");
  other_ns.target_namespace = "prod";
  CHECK_FALSE(endpoint_is_pod(other_ns, p));
  CHECK_FALSE(same_address("", ""));
  CHECK_FALSE(same_address("not-an-ip", "not-an-ip "));
}

TEST_CASE("several Services and slices; --service narrows") {
  auto all = slices({
      slice("web-a", "web", {endpoint({"10.0.0.5"}, true, false)}),
      slice("web-b", "web", {endpoint({"10.0.0.6"}, true, false)}),
      slice("admin-a", "admin", {endpoint({"10.0.0.5"}, false, true)}),
      slice("metrics-a", "metrics", {endpoint({"10.0.0.5"}, std::nullopt, std::nullopt)}),
  });
  auto p = pod({"10.0.0.5"});
  auto routes = routes_to_pod(all, p, {});
  REQUIRE(routes.size() == 2);
  CHECK(describe_routes(routes) ==
        "svc/metrics (slice metrics-a, 10.0.0.5), svc/web (slice web-a, 10.0.0.5)");
  CHECK(routes_to_pod(all, p, {"admin"}).empty());
  CHECK(routes_to_pod(all, p, {"web", "admin"}).size() == 1);
}

TEST_CASE("dual-stack: gone only when both families are gone") {
  auto p = pod({"10.0.0.5", "fd00::5"});
  auto v4_gone = slices({
      slice("web-v4", "web", {endpoint({"10.0.0.5"}, false, true)}),
      slice("web-v6", "web", {endpoint({"fd00::5"}, true, false)}),
  });
  CHECK(routes_to_pod(v4_gone, p, {}).size() == 1);
  auto both_gone = slices({
      slice("web-v4", "web", {endpoint({"10.0.0.5"}, false, true)}),
      slice("web-v6", "web", {endpoint({"fd00::5"}, false, true)}),
  });
  CHECK(routes_to_pod(both_gone, p, {}).empty());
}

TEST_CASE("malformed slices are refused with a reason") {
  CHECK_THROWS_AS(parse_slice(json::array()), SliceFormatError);
  CHECK_THROWS_AS(parse_slice(json::object()), SliceFormatError);
  CHECK_THROWS_AS(parse_slice(json::parse(R"({"metadata":{"name":"x"},"endpoints":{}})")),
                  SliceFormatError);
  CHECK_THROWS_AS(
      parse_slice(json::parse(R"({"metadata":{"name":"x"},"endpoints":[{"addresses":[1]}]})")),
      SliceFormatError);
  CHECK_THROWS_AS(parse_slice(json::parse(
                      R"({"metadata":{"name":"x"},"endpoints":[{"conditions":{"ready":"yes"}}]})")),
                  SliceFormatError);
  // Unknown fields and null are fine: the API adds fields over time.
  auto s = parse_slice(json::parse(
      R"({"metadata":{"name":"x","labels":null},"endpoints":null,"newField":{"a":1}})"));
  CHECK(s.endpoints.empty());
}
