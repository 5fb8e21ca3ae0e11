// EndpointSlices and the one question that matters: does any Service still route new
// traffic to this Pod? Pure functions over parsed slices (SPEC.md, "Endpoint semantics").
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lameduck {

struct PodIdentity {
  std::vector<std::string> ips;
  std::string name;
  std::string namespace_name;
};

struct Endpoint {
  std::vector<std::string> addresses;
  std::optional<bool> ready;  // absent means ready
  std::optional<bool> serving;
  std::optional<bool> terminating;
  std::string target_kind;
  std::string target_name;
  std::string target_namespace;
};

struct EndpointSlice {
  std::string name;
  std::string namespace_name;
  std::string service;  // label kubernetes.io/service-name
  std::string address_type;
  std::vector<Endpoint> endpoints;
};

struct SliceFormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws SliceFormatError when the object is not an EndpointSlice.
EndpointSlice parse_slice(const nlohmann::json& object);

// Same address, whatever the spelling ("::1" and "0:0::1"); false for non-addresses.
bool same_address(const std::string& a, const std::string& b);

// The endpoint stands for this Pod: one of its IPs, or a targetRef naming it.
bool endpoint_is_pod(const Endpoint& endpoint, const PodIdentity& pod);

// New traffic may be sent to it: ready true or absent, and not terminating.
bool endpoint_routable(const Endpoint& endpoint);

struct Route {
  std::string service;
  std::string slice;
  std::string address;  // the matching address, or the targetRef when none matched
};

// Where the Pod is still routable, among slices of the given Services (all if empty).
std::vector<Route> routes_to_pod(const std::map<std::string, EndpointSlice>& slices,
                                 const PodIdentity& pod, const std::vector<std::string>& services);

// "svc/web (slice web-abc12, 10.1.2.3)"
std::string describe_routes(const std::vector<Route>& routes);

}  // namespace lameduck
