// SPDX-License-Identifier: Apache-2.0
// The Kubernetes API as lameduck uses it: the EndpointSlice URLs, and what an HTTP
// result means for the watch (ok, retry, expired, fatal). No I/O, no curl
// (http.h hides it). Token and CA files: api_session.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/duration.h"
#include "kube/http_result.h"
#include "kube/kube_config.h"

namespace lameduck {

// Page size of a list. A page of 250 slices of 100 endpoints is about 8 MB of JSON.
inline constexpr int kListPageSize = 250;
inline constexpr int kWatchTimeoutSeconds = 300;

// The two requests of the EndpointSlice wait: a list (one page), or a watch (a stream).
enum class ApiRequestKind { list, watch };

// What the URLs select: the slices of these Services, or all of the namespace.
struct SliceSelector {
  std::string api_server;
  std::string namespace_name;
  std::vector<std::string> services;  // empty: every slice of the namespace
};

// `kubernetes.io/service-name=web` or `kubernetes.io/service-name in (a,b)`; empty for all.
std::string service_label_selector(const std::vector<std::string>& services);

// A consistent list (no resourceVersion: see kube_api.cpp), one page.
std::string list_url(const SliceSelector& selector, const std::string& continue_token);

// A watch from resource_version, with bookmarks, ended by the server after a while.
std::string watch_url(const SliceSelector& selector, const std::string& resource_version);

// Percent-encodes a query parameter value.
std::string url_escape(const std::string& text);

// The "message" of a Kubernetes Status body, or the body's start: clean text (text.h).
std::string status_message(std::string_view body);

// What a finished request means for the protocol.
struct ApiOutcome {
  enum class Kind {
    ok,       // 200: body holds the answer (empty for a stream that ended)
    retry,    // transient (5xx, 429, a timeout, a cut connection): try again after `after`
    expired,  // 410 Gone: the resourceVersion is too old; list again
    fatal,    // no point in retrying (401, 403, 404, a body over the cap): fall back
  };
  Kind kind = Kind::fatal;
  std::string body;
  Millis after{0};  // retry: the server's Retry-After (0: none given)
  std::string why;  // retry, fatal: one line for the log
};

// `what` names the request for the log ("listing EndpointSlices").
ApiOutcome classify(HttpResult result, std::string_view what, const KubeConfig& config,
                    const std::string& namespace_name);

}  // namespace lameduck
