// SPDX-License-Identifier: Apache-2.0
// HTTPS to the API server on libcurl's multi interface, driven by the event loop's poll():
// curl tells us its sockets and timer through callbacks; we never block in curl. curl
// stays inside http.cpp: callers see options, callbacks and an HttpResult.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/event_loop.h"
#include "kube/http_result.h"

namespace lameduck {

struct HttpOptions {
  // The CA bundle's PEM, read once per drain (api_session.h) and handed to curl from
  // memory (CURLOPT_CAINFO_BLOB): curl never opens a file.
  std::shared_ptr<const std::string> ca_pem;
  std::string bearer_token;
  long connect_timeout_ms = 3000;
  long total_timeout_ms = 0;         // 0: none (watches)
  std::size_t max_body = 16u << 20;  // a collected body (not a stream) larger than this fails
  bool accept_compressed = true;     // Accept-Encoding: whatever curl can decode (gzip)
};

// A request to a host name waits (in the loop, with its connect timeout) for the lookup
// that prefetch_host started (host_lookup.h); a failed answer is asked again once by the
// next request.
//
// One request. Streamed bodies of 200 responses go to on_chunk as they arrive (returning
// false aborts the transfer: it then completes as HttpFailure::aborted); anything else is
// collected in HttpResult::body, up to HttpOptions::max_body. on_chunk must not cancel or
// destroy requests: curl is on the stack. An exception from on_chunk never crosses curl:
// it aborts the transfer and its text is the result's error. on_done may destroy the
// request.
class HttpRequest {
 public:
  using ChunkFn = std::function<bool(std::string_view)>;
  using DoneFn = std::function<void(const HttpResult&)>;
  HttpRequest(const std::string& url, const HttpOptions& options, ChunkFn on_chunk, DoneFn on_done);
  ~HttpRequest();
  HttpRequest(const HttpRequest&) = delete;
  HttpRequest& operator=(const HttpRequest&) = delete;

  // The server answered (its response headers came).
  bool got_headers() const;

 private:
  friend class HttpClient;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Owns curl's multi handle; a LoopSource, so the event loop's poll() drives it.
class HttpClient : public LoopSource {
 public:
  HttpClient();
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // The request stays owned by the caller and must outlive its completion or cancel().
  void start(HttpRequest& request);
  void cancel(HttpRequest& request);

  void add_fds(std::vector<pollfd>& fds) override;
  std::optional<TimePoint> next_timeout() const override;
  void on_ready(std::span<const pollfd> fds, TimePoint now) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lameduck
