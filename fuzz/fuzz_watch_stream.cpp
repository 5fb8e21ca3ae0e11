// SPDX-License-Identifier: Apache-2.0
// A watch stream as curl hands it over: chunks cut anywhere, split into lines, each line
// one event (parse_watch_event). The first two bytes say where the chunks are cut.
#include <string>

#include "fuzz_common.h"
#include "kube/endpoint_slice.h"

using namespace lameduck;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const PodIdentity pod{{"10.1.2.3"}, "web-1", "default"};
  if (size < 2) return 0;
  std::size_t step = 1 + (data[0] | (data[1] << 8)) % 4096;
  std::string_view stream = fuzz::as_text(data + 2, size - 2);
  fuzz::reset_peak();
  {
    std::string buffer;
    for (std::size_t at = 0; at < stream.size(); at += step) {
      buffer.append(stream.substr(at, step));
      std::size_t start = 0;
      for (std::size_t end; (end = buffer.find('\n', start)) != std::string::npos;
           start = end + 1) {
        WatchEvent event =
            parse_watch_event(std::string_view(buffer).substr(start, end - start), pod);
        if (!event.malformed.empty()) {
          fuzz::check_clean(clean_text(event.malformed), "malformed");
        } else if (event.type == WatchEvent::Type::error) {
          fuzz::check_clean(clean_text(event.message, 300), "message");
        }
      }
      buffer.erase(0, start);
    }
  }
  fuzz::check_memory(size);
  return 0;
}
