// SPDX-License-Identifier: Apache-2.0
// An error answer: its Status body (status_message, classify) and a Retry-After header.
// Whatever they hold, what reaches the log is one clean line, and JSON output can hold it.
#include <nlohmann/json.hpp>

#include "fuzz_common.h"
#include "kube/http_result.h"
#include "kube/kube_api.h"

using namespace lameduck;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const long kCodes[] = {401, 403, 404, 410, 429, 500, 503, 200};
  std::string_view body = fuzz::as_text(data + 1, size - 1);
  std::string message = status_message(body);
  fuzz::check_clean(message, "status_message");
  HttpResult result;
  result.status = kCodes[data[0] % 8];
  result.body = std::string(body);
  KubeConfig config;
  ApiOutcome outcome = classify(result, "listing EndpointSlices", config, "default");
  if (outcome.kind != ApiOutcome::Kind::ok) {
    fuzz::check_clean(outcome.why, "classify");
    (void)nlohmann::json(outcome.why).dump();  // `lameduck endpoints -o json`
  }
  auto retry_after = parse_retry_after(body);
  if (retry_after && (*retry_after < 0 || *retry_after > 86400L * 1000)) {
    fuzz::fail("Retry-After out of range", body);
  }
  return 0;
}
