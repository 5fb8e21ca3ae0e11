// SPDX-License-Identifier: Apache-2.0
// The API server as a drain or `lameduck endpoints` talks to it: the CA, read once when the
// session opens, and each request's options, with the ServiceAccount token read again for
// every request (bound tokens rotate). Nothing here sends anything (http.h does).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "base/duration.h"
#include "kube/http.h"
#include "kube/kube_api.h"
#include "kube/kube_config.h"

namespace lameduck {

// A list's whole answer may be this large; of a watch's answer only an error body is kept.
inline constexpr std::size_t kMaxListBody = 16u << 20;
inline constexpr std::size_t kMaxErrorBody = 1u << 20;

struct ApiRequestOptions {
  HttpOptions http;
  std::string error;  // non-empty: the token cannot be used, and there is no request
};

class ApiSession {
 public:
  struct Opened;
  // Reads the CA. `request_timeout` bounds the connection, a list, and a watch's wait
  // for its response headers (SliceSync times that).
  static Opened open(const KubeConfig& config, Millis request_timeout);

  // A list is bounded in time and size; a watch streams without a total timeout.
  ApiRequestOptions request_options(ApiRequestKind kind) const;
  const KubeConfig& config() const { return config_; }

 private:
  ApiSession(KubeConfig config, Millis request_timeout, std::string ca_pem);

  KubeConfig config_;
  Millis request_timeout_;
  std::shared_ptr<const std::string> ca_pem_;
};

struct ApiSession::Opened {
  std::optional<ApiSession> session;
  std::string error;  // the CA could not be read
};

}  // namespace lameduck
