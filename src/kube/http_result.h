// SPDX-License-Identifier: Apache-2.0
// How an HTTP request ended, in words the callers use: what kube_api.h classifies. No
// curl here (http.cpp maps curl's codes to these).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lameduck {

// Why a transfer did not complete.
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

// A header line: the Retry-After delay in ms (delta-seconds, capped at a day; 0 for the
// HTTP-date form or junk), or nullopt when the line is another header.
std::optional<long> parse_retry_after(std::string_view line);

}  // namespace lameduck
