// SPDX-License-Identifier: Apache-2.0
#include "kube/api_session.h"

#include "base/small_file.h"

namespace lameduck {

ApiSession::ApiSession(KubeConfig config, Millis request_timeout, std::string ca_pem)
    : config_(std::move(config)),
      request_timeout_(request_timeout),
      ca_pem_(std::make_shared<const std::string>(std::move(ca_pem))) {}

ApiSession::Opened ApiSession::open(const KubeConfig& config, Millis request_timeout) {
  SmallFile ca = read_small_file("the CA", config.ca_file, kMaxCaBytes);
  if (!ca.ok()) return {std::nullopt, ca.error};
  return {ApiSession(config, request_timeout, std::move(ca.data)), {}};
}

ApiRequestOptions ApiSession::request_options(ApiRequestKind kind) const {
  ApiRequestOptions out;
  out.http.bearer_token = read_bearer_token(config_.token_file, out.error);
  if (!out.error.empty()) return out;
  out.http.ca_pem = ca_pem_;
  out.http.connect_timeout_ms = static_cast<long>(request_timeout_.count());
  bool watch = kind == ApiRequestKind::watch;
  out.http.total_timeout_ms = watch ? 0 : static_cast<long>(request_timeout_.count());
  out.http.max_body = watch ? kMaxErrorBody : kMaxListBody;
  return out;
}

}  // namespace lameduck
