#include "endpoints.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

namespace lameduck {
namespace {

using nlohmann::json;

std::string string_at(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {};
  if (!it->is_string()) throw SliceFormatError(std::string("'") + key + "' is not a string");
  return it->get<std::string>();
}

std::optional<bool> bool_at(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) throw SliceFormatError(std::string("'") + key + "' is not a boolean");
  return it->get<bool>();
}

const json* object_at(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  if (!it->is_object()) throw SliceFormatError(std::string("'") + key + "' is not an object");
  return &*it;
}

Endpoint parse_endpoint(const json& object) {
  if (!object.is_object()) throw SliceFormatError("an endpoint is not an object");
  Endpoint endpoint;
  if (auto it = object.find("addresses"); it != object.end() && !it->is_null()) {
    if (!it->is_array()) throw SliceFormatError("'addresses' is not an array");
    for (const auto& address : *it) {
      if (!address.is_string()) throw SliceFormatError("an address is not a string");
      endpoint.addresses.push_back(address.get<std::string>());
    }
  }
  if (const json* conditions = object_at(object, "conditions")) {
    endpoint.ready = bool_at(*conditions, "ready");
    endpoint.serving = bool_at(*conditions, "serving");
    endpoint.terminating = bool_at(*conditions, "terminating");
  }
  if (const json* target = object_at(object, "targetRef")) {
    endpoint.target_kind = string_at(*target, "kind");
    endpoint.target_name = string_at(*target, "name");
    endpoint.target_namespace = string_at(*target, "namespace");
  }
  return endpoint;
}

}  // namespace

EndpointSlice parse_slice(const json& object) {
  if (!object.is_object()) throw SliceFormatError("an EndpointSlice is not an object");
  EndpointSlice slice;
  const json* metadata = object_at(object, "metadata");
  if (metadata == nullptr) throw SliceFormatError("EndpointSlice without metadata");
  slice.name = string_at(*metadata, "name");
  if (slice.name.empty()) throw SliceFormatError("EndpointSlice without a name");
  slice.namespace_name = string_at(*metadata, "namespace");
  if (const json* labels = object_at(*metadata, "labels")) {
    slice.service = string_at(*labels, "kubernetes.io/service-name");
  }
  slice.address_type = string_at(object, "addressType");
  if (auto it = object.find("endpoints"); it != object.end() && !it->is_null()) {
    if (!it->is_array()) throw SliceFormatError("'endpoints' is not an array");
    for (const auto& endpoint : *it) slice.endpoints.push_back(parse_endpoint(endpoint));
  }
  return slice;
}

bool same_address(const std::string& a, const std::string& b) {
  if (a == b) return !a.empty();
  unsigned char x[16], y[16];
  if (inet_pton(AF_INET6, a.c_str(), x) == 1 && inet_pton(AF_INET6, b.c_str(), y) == 1) {
    return std::memcmp(x, y, sizeof x) == 0;
  }
  return false;
}

bool endpoint_is_pod(const Endpoint& endpoint, const PodIdentity& pod) {
  for (const auto& address : endpoint.addresses) {
    for (const auto& ip : pod.ips) {
      if (same_address(address, ip)) return true;
    }
  }
  return !pod.name.empty() && endpoint.target_kind == "Pod" && endpoint.target_name == pod.name &&
         (endpoint.target_namespace.empty() || endpoint.target_namespace == pod.namespace_name);
}

bool endpoint_routable(const Endpoint& endpoint) {
  return endpoint.ready.value_or(true) && !endpoint.terminating.value_or(false);
}

std::vector<Route> routes_to_pod(const std::map<std::string, EndpointSlice>& slices,
                                 const PodIdentity& pod, const std::vector<std::string>& services) {
  std::vector<Route> routes;
  for (const auto& [name, slice] : slices) {
    if (!services.empty() &&
        std::find(services.begin(), services.end(), slice.service) == services.end()) {
      continue;
    }
    for (const auto& endpoint : slice.endpoints) {
      if (!endpoint_is_pod(endpoint, pod) || !endpoint_routable(endpoint)) continue;
      std::string address = "pod/" + endpoint.target_name;
      for (const auto& a : endpoint.addresses) {
        for (const auto& ip : pod.ips) {
          if (same_address(a, ip)) address = a;
        }
      }
      routes.push_back({slice.service, slice.name, address});
    }
  }
  return routes;
}

std::string describe_routes(const std::vector<Route>& routes) {
  std::string out;
  for (const auto& route : routes) {
    if (!out.empty()) out += ", ";
    out += "svc/" + (route.service.empty() ? std::string("?") : route.service) + " (slice " +
           route.slice + ", " + route.address + ")";
  }
  return out;
}

}  // namespace lameduck
