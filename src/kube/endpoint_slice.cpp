// SPDX-License-Identifier: Apache-2.0
#include "kube/endpoint_slice.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "kube/bounded_json.h"

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

namespace {

// Inside one EndpointSlice (path relative to it): only what parse_slice and the decision
// read. Everything else (ports, hints, managedFields, annotations, ...) is skipped.
bool keep_in_slice(JsonPath p) {
  if (p.empty()) return true;
  const std::string& top = p[0];
  if (top == "addressType") return p.size() == 1;
  if (top == "metadata") {
    if (p.size() == 1) return true;
    const std::string& field = p[1];
    if (p.size() == 2) {
      return field == "name" || field == "namespace" || field == "resourceVersion" ||
             field == "labels";
    }
    return p.size() == 3 && field == "labels" && p[2] == "kubernetes.io/service-name";
  }
  if (top != "endpoints") return false;
  if (p.size() <= 2) return true;  // the array, an endpoint
  const std::string& field = p[2];
  if (p.size() == 3) return field == "addresses" || field == "conditions" || field == "targetRef";
  if (p.size() != 4) return false;
  const std::string& leaf = p[3];
  if (field == "addresses") return leaf == "[]";
  if (field == "conditions") return leaf == "ready" || leaf == "serving" || leaf == "terminating";
  return leaf == "kind" || leaf == "name" || leaf == "namespace";  // targetRef
}

// An endpoint of a slice is complete: keep it only when it stands for the Pod.
JsonElement filter_endpoint(json& value, const PodIdentity& pod, std::size_t& kept,
                            std::string& error) {
  try {
    if (!endpoint_is_pod(parse_endpoint(value), pod)) return JsonElement::drop;
  } catch (const SliceFormatError& e) {
    error = e.what();
    return JsonElement::stop;
  }
  if (++kept > kMaxPodEndpointsPerSlice) {
    error = "more than " + std::to_string(kMaxPodEndpointsPerSlice) +
            " endpoints of this Pod in one EndpointSlice";
    return JsonElement::stop;
  }
  return JsonElement::keep;
}

bool is_endpoint(JsonPath slice_path) {
  return slice_path.size() == 2 && slice_path[0] == "endpoints" && slice_path[1] == "[]";
}

std::string metadata_string(const json& object, const char* key) {
  const json* metadata = object_at(object, "metadata");
  return metadata != nullptr ? string_at(*metadata, key) : std::string();
}

}  // namespace

SliceListPage parse_slice_list(std::string_view body, const PodIdentity& pod) {
  SliceListPage page;
  std::string error;
  std::size_t kept = 0;
  auto keep = [](JsonPath p) {
    if (p.empty()) return true;
    if (p[0] == "metadata") {
      return p.size() == 1 || (p.size() == 2 && (p[1] == "resourceVersion" || p[1] == "continue"));
    }
    if (p[0] != "items") return false;
    return p.size() == 1 || (p[1] == "[]" && keep_in_slice(p.subspan(2)));
  };
  auto element = [&](JsonPath p, json& value) {
    if (p.size() >= 2 && p[0] == "items" && is_endpoint(p.subspan(2))) {
      return filter_endpoint(value, pod, kept, error);
    }
    if (p.size() != 2 || p[0] != "items") return JsonElement::keep;
    kept = 0;
    try {
      page.items.push_back(parse_slice(value));
    } catch (const SliceFormatError& e) {
      error = e.what();
      return JsonElement::stop;
    }
    if (page.items.size() > kMaxSlicesPerPage) {
      error = "more than " + std::to_string(kMaxSlicesPerPage) + " EndpointSlices in one page";
      return JsonElement::stop;
    }
    return JsonElement::drop;
  };
  auto parsed = parse_bounded(body, JsonBounds{}, keep, element);
  if (!parsed.ok()) {
    page = {};
    page.error = error.empty() ? parsed.error : error;
    return page;
  }
  try {
    const json& list = parsed.value;
    if (!list.is_object()) throw SliceFormatError("not an object");
    auto items = list.find("items");
    if (items == list.end() || !(items->is_array() || items->is_null())) {
      throw SliceFormatError("no 'items' array");
    }
    const json* metadata = object_at(list, "metadata");
    if (metadata == nullptr) throw SliceFormatError("no 'metadata'");
    page.continue_token = string_at(*metadata, "continue");
    page.resource_version = string_at(*metadata, "resourceVersion");
    if (page.resource_version.empty()) throw SliceFormatError("no 'metadata.resourceVersion'");
  } catch (const SliceFormatError& e) {
    page = {};
    page.error = e.what();
  }
  return page;
}

WatchEvent parse_watch_event(std::string_view line, const PodIdentity& pod) {
  WatchEvent event;
  std::string error;
  std::size_t kept = 0;
  auto keep = [](JsonPath p) {
    if (p.empty()) return true;
    if (p[0] == "type") return p.size() == 1;
    if (p[0] != "object") return false;
    auto rest = p.subspan(1);
    // An ERROR event's object is a Status.
    return keep_in_slice(rest) || path_is(rest, {"code"}) || path_is(rest, {"message"});
  };
  auto element = [&](JsonPath p, json& value) {
    if (!p.empty() && p[0] == "object" && is_endpoint(p.subspan(1))) {
      return filter_endpoint(value, pod, kept, error);
    }
    return JsonElement::keep;
  };
  auto parsed = parse_bounded(line, JsonBounds{}, keep, element);
  if (!parsed.ok()) {
    event.malformed = error.empty() ? parsed.error : error;
    return event;
  }
  try {
    const json& root = parsed.value;
    if (!root.is_object()) throw SliceFormatError("an event is not an object");
    std::string type = string_at(root, "type");
    const json* object = object_at(root, "object");
    if (object == nullptr) throw SliceFormatError("an event without an object");
    if (type == "ERROR") {
      event.type = WatchEvent::Type::error;
      auto code = object->find("code");
      if (code != object->end() && !code->is_number_integer()) {
        throw SliceFormatError("'code' is not an integer");
      }
      event.code = code != object->end() ? code->get<long>() : 0;
      event.message = string_at(*object, "message");
      return event;
    }
    if (type == "ADDED") {
      event.type = WatchEvent::Type::added;
    } else if (type == "MODIFIED") {
      event.type = WatchEvent::Type::modified;
    } else if (type == "DELETED") {
      event.type = WatchEvent::Type::deleted;
    } else if (type == "BOOKMARK") {
      event.type = WatchEvent::Type::bookmark;
    } else {
      throw SliceFormatError(type.empty() ? "an event without a type"
                                          : "unknown event type '" + type + "'");
    }
    event.resource_version = metadata_string(*object, "resourceVersion");
    if (event.resource_version.empty()) throw SliceFormatError("an event without resourceVersion");
    if (event.type != WatchEvent::Type::bookmark) event.slice = parse_slice(*object);
  } catch (const std::exception& e) {  // SliceFormatError, json's type errors
    event = {};
    event.malformed = e.what();
  }
  return event;
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
