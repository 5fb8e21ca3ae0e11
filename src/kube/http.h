// SPDX-License-Identifier: Apache-2.0
// HTTPS to the API server on libcurl's multi interface, driven by the event loop's poll():
// curl tells us its sockets and timer through callbacks; we never block in curl.
#pragma once

#include <curl/curl.h>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/event_loop.h"
#include "kube/host_lookup.h"

namespace lameduck {

struct HttpOptions {
  // The CA bundle's PEM, read once per drain (small_file.h) and handed to curl from
  // memory (CURLOPT_CAINFO_BLOB): curl never opens a file.
  std::shared_ptr<const std::string> ca_pem;
  std::string bearer_token;
  long connect_timeout_ms = 3000;
  long total_timeout_ms = 0;         // 0: none (watches)
  std::size_t max_body = 16u << 20;  // a collected body (not a stream) larger than this fails
  bool accept_compressed = true;     // Accept-Encoding: whatever curl can decode (gzip)
};

// Why a transfer did not complete. Callers never see curl's codes.
enum class HttpFailure {
  none,       // the answer is in status/body (whatever the status)
  timeout,    // connect or total timeout
  too_large,  // the body passed HttpOptions::max_body
  aborted,    // on_chunk returned false (or threw)
  transport,  // DNS, connect, TLS, a cut connection, ...
};

struct HttpResult {
  HttpFailure failure = HttpFailure::none;
  long status = 0;
  std::string error;        // what went wrong when failure != none, for the log
  std::string body;         // the body when not streamed, or an error body
  long retry_after_ms = 0;  // the Retry-After header (delta-seconds form), 0 when absent
  bool ok() const { return failure == HttpFailure::none; }
};

// One request. Streamed bodies of 200 responses go to on_chunk as they arrive (returning
// false aborts the transfer: it then completes as HttpFailure::aborted); anything else is
// collected in HttpResult::body, up to HttpOptions::max_body. on_chunk must not cancel or
// destroy requests: curl is on the stack. An exception from on_chunk never crosses curl:
// it aborts the transfer and its text is the result's error.
class HttpRequest {
 public:
  using ChunkFn = std::function<bool(std::string_view)>;
  using DoneFn = std::function<void(const HttpResult&)>;
  HttpRequest(const std::string& url, const HttpOptions& options, ChunkFn on_chunk, DoneFn on_done);
  ~HttpRequest();
  HttpRequest(const HttpRequest&) = delete;
  HttpRequest& operator=(const HttpRequest&) = delete;

  CURL* handle() const { return easy_; }
  bool got_headers() const { return got_headers_; }
  void finish(CURLcode code);
  // Ends a request that never reached curl (its host name did not resolve).
  void finish_with(CURLcode code, const std::string& error);

  // The URL's host when it is a name (empty for an IP literal), and its port.
  const std::string& lookup_host() const { return lookup_host_; }
  // Pins the host name to addresses, so curl never resolves it (CURLOPT_RESOLVE).
  void pin_addresses(const std::vector<std::string>& addresses);
  Millis lookup_timeout() const { return lookup_timeout_; }

 private:
  static std::size_t on_write(char* data, std::size_t size, std::size_t n, void* self);
  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* self);

  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  curl_slist* resolve_ = nullptr;
  std::shared_ptr<const std::string> ca_pem_;
  std::string lookup_host_;
  std::string port_;
  Millis lookup_timeout_{3000};
  ChunkFn on_chunk_;
  DoneFn on_done_;
  std::string body_;
  bool got_headers_ = false;
  long retry_after_ms_ = 0;
  std::size_t max_body_ = 0;
  HttpFailure abort_ = HttpFailure::none;  // our write callback ended the transfer: why
  std::string abort_reason_;
  char error_[CURL_ERROR_SIZE] = {};
};

// Owns the multi handle; a LoopSource so the event loop's poll() drives it.
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
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socket_data);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  void finish_done();
  void finish_lookups(TimePoint now);

  struct Waiting {
    HttpRequest* request;
    TimePoint deadline;
  };
  CURLM* multi_ = nullptr;
  // Requests waiting for their host name's lookup (host_lookup.h), which they share.
  std::shared_ptr<HostLookup> lookup_;
  std::vector<Waiting> waiting_;
  std::map<curl_socket_t, short> sockets_;
  std::optional<TimePoint> timer_;
};

// Starts resolving url's host now when it is a name, on a thread (host_lookup.h), so a
// drain later finds the answer ready; does nothing for an IP literal. A request to a
// host name waits (in the loop, with its connect timeout) for that answer, and a failed
// answer is asked again once by the next request.
void prefetch_host(const std::string& url);

// A header line: the Retry-After delay in ms (delta-seconds, capped at a day; 0 for the
// HTTP-date form or junk), or nullopt when the line is another header.
std::optional<long> parse_retry_after(std::string_view line);

// Percent-encodes a query parameter value.
std::string url_escape(const std::string& text);

}  // namespace lameduck
