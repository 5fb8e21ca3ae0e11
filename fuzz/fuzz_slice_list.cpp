// SPDX-License-Identifier: Apache-2.0
// An EndpointSlice list page from the API (parse_slice_list), then the routing decision.
#include <map>

#include "fuzz_common.h"
#include "kube/endpoint_slice.h"

using namespace lameduck;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const PodIdentity pod{{"10.1.2.3", "fd00::5"}, "web-1", "default"};
  fuzz::reset_peak();
  {
    SliceListPage page = parse_slice_list(fuzz::as_text(data, size), pod);
    if (page.error.empty()) {
      std::map<std::string, EndpointSlice> slices;
      for (auto& s : page.items) slices[s.name] = std::move(s);
      auto routes = routes_to_pod(slices, pod, {});
      fuzz::check_clean(clean_text(describe_routes(routes)), "routes");
    } else {
      fuzz::check_clean(clean_text(page.error), "error");
    }
  }
  fuzz::check_memory(size);
  return 0;
}
