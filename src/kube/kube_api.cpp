// SPDX-License-Identifier: Apache-2.0
#include "kube/kube_api.h"

#include <cctype>

#include "base/text.h"
#include "kube/bounded_json.h"

namespace lameduck {
namespace {

constexpr std::size_t kMaxStatusSnippet = 120;
constexpr std::size_t kMaxStatusMessage = 300;

std::string collection_url(const SliceSelector& selector) {
  std::string url = selector.api_server + "/apis/discovery.k8s.io/v1/namespaces/" +
                    url_escape(selector.namespace_name) + "/endpointslices";
  std::string labels = service_label_selector(selector.services);
  if (!labels.empty()) url += "?labelSelector=" + url_escape(labels);
  return url;
}

const char* separator(const std::string& url) {
  return url.find('?') == std::string::npos ? "?" : "&";
}

}  // namespace

std::string url_escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789ABCDEF";
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string service_label_selector(const std::vector<std::string>& services) {
  if (services.empty()) return {};
  if (services.size() == 1) return "kubernetes.io/service-name=" + services.front();
  std::string set;
  for (const auto& s : services) set += (set.empty() ? "" : ",") + s;
  return "kubernetes.io/service-name in (" + set + ")";
}

// The list asks for no resourceVersion, i.e. a consistent ("most recent") read, and not
// resourceVersion=0 ("any"), although 0 is served from the watch cache without etcd:
// * "any" may be much older than what the cluster knows (the API docs: "particularly in
//   high availability configurations, due to partitions or stale caches"). Stale is only
//   safe in one direction. A cache older than the moment the Pod became ready shows the
//   Pod not ready or absent, and the drain would end at once, before the Pod ever left
//   the consumers' rules: the unsafe direction.
// * Since Kubernetes 1.31 (ConsistentListFromCache, beta and on by default) a consistent
//   list is served from the watch cache too, after one cheap etcd revision check; the
//   saving of "any" is gone where it matters most.
// * resourceVersion=0 ignores `limit` on older API servers (the watch cache served no
//   pages), so one answer could hold the whole namespace.
std::string list_url(const SliceSelector& selector, const std::string& continue_token) {
  std::string url = collection_url(selector);
  url += separator(url);
  url += "limit=" + std::to_string(kListPageSize);
  if (!continue_token.empty()) url += "&continue=" + url_escape(continue_token);
  return url;
}

std::string watch_url(const SliceSelector& selector, const std::string& resource_version) {
  std::string url = collection_url(selector);
  url += separator(url);
  url += "watch=1&allowWatchBookmarks=true&resourceVersion=" + url_escape(resource_version) +
         "&timeoutSeconds=" + std::to_string(kWatchTimeoutSeconds);
  return url;
}

std::string status_message(std::string_view body) {
  auto parsed = parse_bounded(
      body, JsonBounds{}, [](JsonPath p) { return path_is(p, {"message"}); }, nullptr);
  if (parsed.ok() && parsed.value.is_object()) {
    auto it = parsed.value.find("message");
    if (it != parsed.value.end() && it->is_string()) {
      return clean_text(it->get<std::string>(), kMaxStatusMessage);
    }
  }
  // Not a Status (a proxy's HTML, garbage): its start, cut on a character boundary.
  return clean_text(body, kMaxStatusSnippet);
}

ApiOutcome classify(HttpResult result, std::string_view what, const KubeConfig& config,
                    const std::string& namespace_name) {
  using Kind = ApiOutcome::Kind;
  ApiOutcome out;
  std::string head(what);
  switch (result.failure) {
    case HttpFailure::none: break;
    case HttpFailure::timeout:
    case HttpFailure::transport:
      out.kind = Kind::retry;
      out.why = head + " failed: " + result.error + " (" + config.api_server + ")";
      return out;
    case HttpFailure::too_large:
    case HttpFailure::aborted:
      out.kind = Kind::fatal;
      out.why = head + ": " + result.error;
      return out;
  }
  if (result.status == 200) {
    out.kind = Kind::ok;
    out.body = std::move(result.body);
    return out;
  }
  std::string message = status_message(result.body);
  switch (result.status) {
    case 410:
      out.kind = Kind::expired;
      out.why = head + ": 410 Gone: " + message;
      return out;
    case 401:
      out.why = head + ": 401 Unauthorized: the API server rejected the token in " +
                config.token_file + " (" + message + ")";
      return out;
    case 403:
      out.why = head + ": 403 Forbidden: the Pod's ServiceAccount needs RBAC " +
                "get/list/watch endpointslices.discovery.k8s.io in namespace " + namespace_name +
                " (see examples/rbac.yaml); API said: " + message;
      return out;
    default: break;
  }
  out.why = head + ": HTTP " + std::to_string(result.status) + ": " + message;
  if (result.status == 429 || result.status >= 500) {
    out.kind = Kind::retry;
    out.after = Millis(result.retry_after_ms);
  }
  return out;
}

}  // namespace lameduck
