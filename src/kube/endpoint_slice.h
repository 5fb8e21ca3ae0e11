// SPDX-License-Identifier: Apache-2.0
// EndpointSlices and the one question that matters: does any Service still route new
// traffic to this Pod? Pure functions over parsed slices. The rule: the Pod is routable
// while an endpoint with its IP (or its targetRef) has conditions.ready true or absent and
// conditions.terminating not true (README.md, "How the drain works").
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
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

// ---- the wire format, parsed with bounds (the API's bytes; fuzzed) ----
//
// Both parsers keep of each slice only its name, namespace, Service label and the
// endpoints that stand for `pod` (endpoint_is_pod): that is all the decision reads, so a
// drain's memory does not grow with the size of other Services' slices. The text is
// checked for depth before anything is built. They never throw.

inline constexpr std::size_t kMaxPodEndpointsPerSlice = 64;
inline constexpr std::size_t kMaxSlicesPerPage = 10000;

// One page of an EndpointSliceList.
struct SliceListPage {
  std::vector<EndpointSlice> items;
  std::string resource_version;
  std::string continue_token;  // empty on the last page
  std::string error;           // non-empty: malformed, and nothing else is meaningful
};
SliceListPage parse_slice_list(std::string_view body, const PodIdentity& pod);

// One line of a watch stream.
struct WatchEvent {
  enum class Type { added, modified, deleted, bookmark, error };
  Type type = Type::error;
  EndpointSlice slice;           // added, modified, deleted
  std::string resource_version;  // all but error
  long code = 0;                 // error: the Status code (410: expired)
  std::string message;           // error: the Status message
  std::string malformed;         // non-empty: not an event, and nothing else is meaningful
};
WatchEvent parse_watch_event(std::string_view line, const PodIdentity& pod);

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
