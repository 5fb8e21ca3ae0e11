// SPDX-License-Identifier: Apache-2.0
#include "kube/http_result.h"

#include <algorithm>
#include <cctype>

namespace lameduck {

std::optional<long> parse_retry_after(std::string_view line) {
  // "Retry-After: 1" (429 and 503 from the apiserver); the HTTP-date form counts as none.
  constexpr std::string_view kName = "retry-after:";
  if (line.size() <= kName.size() ||
      !std::equal(kName.begin(), kName.end(), line.begin(), [](char a, char b) {
        return a == std::tolower(static_cast<unsigned char>(b));
      })) {
    return std::nullopt;
  }
  long seconds = 0;
  bool digits = false;
  for (char c : line.substr(kName.size())) {
    if (c >= '0' && c <= '9') {
      digits = true;
      seconds = std::min(seconds * 10 + (c - '0'), 86400L);
    } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      return 0L;
    }
  }
  return digits ? seconds * 1000 : 0L;
}

}  // namespace lameduck
