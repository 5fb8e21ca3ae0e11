// SPDX-License-Identifier: Apache-2.0
// The preStop control protocol, both sides: request lines read by PID 1 and reply lines
// read by the hook, in chunks cut anywhere; replies lameduck writes read back the same.
#include "control/control_protocol.h"
#include "fuzz_common.h"

using namespace lameduck;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::size_t step = 1 + data[0] % 64;
  std::string_view bytes = fuzz::as_text(data + 1, size - 1);
  LineBuffer server(512);
  LineBuffer client(4096);
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    auto chunk = bytes.substr(at, step);
    if (server.append(chunk)) {
      while (auto line = server.next_line()) {
        if (line->size() > 512) fuzz::fail("request line past the bound");
        (void)is_drain_request(*line);
        fuzz::check_clean(clean_text(*line, 120), "request");
      }
    }
    if (client.append(chunk)) {
      while (auto line = client.next_line()) (void)parse_reply(*line);
    }
  }
  // What PID 1 writes, the hook reads back as it was (for clean one-line texts).
  std::string text = clean_text(bytes, 200);
  for (auto kind : {ReplyKind::draining, ReplyKind::done, ReplyKind::refused}) {
    std::string line = format_reply(kind, text);
    if (line.empty() || line.back() != '\n') fuzz::fail("reply without its newline", line);
    Reply reply = parse_reply(std::string_view(line).substr(0, line.size() - 1));
    if (reply.kind != kind) fuzz::fail("reply kind changed", line);
  }
  return 0;
}
