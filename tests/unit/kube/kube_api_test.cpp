// SPDX-License-Identifier: Apache-2.0
// What a finished request means (classify), and the URLs of a list and a watch.
#include "kube/kube_api.h"

#include <doctest/doctest.h>

#include <string>

using namespace lameduck;
using Kind = ApiOutcome::Kind;

namespace {

const KubeConfig kConfig{"https://10.96.0.1:443", "/run/token", "/run/ca.crt", {}};
const std::string kStatus =
    R"({"kind":"Status","status":"Failure","message":"the server says no","code":0})";

HttpResult answer(long status, std::string body = kStatus, long retry_after_ms = 0) {
  HttpResult r;
  r.status = status;
  r.body = std::move(body);
  r.retry_after_ms = retry_after_ms;
  return r;
}

HttpResult failed(HttpFailure failure, std::string error) {
  HttpResult r;
  r.failure = failure;
  r.error = std::move(error);
  return r;
}

struct Row {
  const char* name;
  HttpResult result;
  Kind kind;
  long after_ms;
  std::string why;  // exact
};

}  // namespace

TEST_CASE("classify: every kind of answer, one row each") {
  const std::string rbac =
      "listing EndpointSlices: 403 Forbidden: the Pod's ServiceAccount needs RBAC "
      "get/list/watch endpointslices.discovery.k8s.io in namespace shop (see "
      "examples/rbac.yaml); API said: the server says no";
  const Row rows[] = {
      {"200", answer(200, R"({"items":[]})"), Kind::ok, 0, ""},
      {"401", answer(401), Kind::fatal, 0,
       "listing EndpointSlices: 401 Unauthorized: the API server rejected the token in "
       "/run/token (the server says no)"},
      {"403", answer(403), Kind::fatal, 0, rbac},
      {"404", answer(404), Kind::fatal, 0, "listing EndpointSlices: HTTP 404: the server says no"},
      {"410", answer(410), Kind::expired, 0,
       "listing EndpointSlices: 410 Gone: the server says no"},
      {"429 with Retry-After", answer(429, kStatus, 3000), Kind::retry, 3000,
       "listing EndpointSlices: HTTP 429: the server says no"},
      {"429 without", answer(429), Kind::retry, 0,
       "listing EndpointSlices: HTTP 429: the server says no"},
      {"500", answer(500), Kind::retry, 0, "listing EndpointSlices: HTTP 500: the server says no"},
      {"503 from a proxy", answer(503, "<html>busy</html>", 1000), Kind::retry, 1000,
       "listing EndpointSlices: HTTP 503: <html>busy</html>"},
      {"timeout", failed(HttpFailure::timeout, "Operation timed out after 5000 ms"), Kind::retry, 0,
       "listing EndpointSlices failed: Operation timed out after 5000 ms (https://10.96.0.1:443)"},
      {"transport", failed(HttpFailure::transport, "Connection refused"), Kind::retry, 0,
       "listing EndpointSlices failed: Connection refused (https://10.96.0.1:443)"},
      {"too large", failed(HttpFailure::too_large, "the answer is larger than 16 MiB"), Kind::fatal,
       0, "listing EndpointSlices: the answer is larger than 16 MiB"},
      {"aborted", failed(HttpFailure::aborted, "the transfer was ended by lameduck"), Kind::fatal,
       0, "listing EndpointSlices: the transfer was ended by lameduck"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    auto out = classify(row.result, "listing EndpointSlices", kConfig, "shop");
    CHECK(out.kind == row.kind);
    CHECK(out.after.count() == row.after_ms);
    CHECK(out.why == row.why);
    CHECK(out.body == (row.kind == Kind::ok ? row.result.body : ""));
  }
}

TEST_CASE("classify: a 200 that failed in transfer is the failure, not the answer") {
  auto r = failed(HttpFailure::transport, "Connection reset by peer");
  r.status = 200;
  r.body = R"({"items":[]})";
  auto out = classify(r, "watching EndpointSlices", kConfig, "shop");
  CHECK(out.kind == Kind::retry);
  CHECK(out.body.empty());
  CHECK(out.why ==
        "watching EndpointSlices failed: Connection reset by peer (https://10.96.0.1:443)");
}

TEST_CASE("classify: a long or binary error body becomes one clean, short line") {
  auto out = classify(answer(500, std::string(1000, 'x') + "\n\x01"), "listing", kConfig, "shop");
  CHECK(out.kind == Kind::retry);
  CHECK(out.why.find('\n') == std::string::npos);
  CHECK(out.why.size() < 200);
}

TEST_CASE("list_url: the namespace's slices, or a Service's, one page at a time") {
  SliceSelector all{"https://api:6443", "shop", {}};
  CHECK(list_url(all, "") ==
        "https://api:6443/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?limit=250");
  CHECK(list_url(all, "a/b=") ==
        "https://api:6443/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices"
        "?limit=250&continue=a%2Fb%3D");
  SliceSelector web{"https://api:6443", "shop", {"web"}};
  CHECK(list_url(web, "") ==
        "https://api:6443/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices"
        "?labelSelector=kubernetes.io%2Fservice-name%3Dweb&limit=250");
  SliceSelector two{"https://api:6443", "shop", {"api", "web"}};
  CHECK(list_url(two, "") ==
        "https://api:6443/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices"
        "?labelSelector=kubernetes.io%2Fservice-name%20in%20%28api%2Cweb%29&limit=250");
}

TEST_CASE("watch_url: from a version, with bookmarks, ended by the server") {
  SliceSelector all{"https://[fd00::1]:443", "shop", {}};
  CHECK(watch_url(all, "12345") ==
        "https://[fd00::1]:443/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices"
        "?watch=1&allowWatchBookmarks=true&resourceVersion=12345&timeoutSeconds=300");
  SliceSelector web{"https://api:6443", "shop", {"web"}};
  CHECK(watch_url(web, "7") ==
        "https://api:6443/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices"
        "?labelSelector=kubernetes.io%2Fservice-name%3Dweb"
        "&watch=1&allowWatchBookmarks=true&resourceVersion=7&timeoutSeconds=300");
}
