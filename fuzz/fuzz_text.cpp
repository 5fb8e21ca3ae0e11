// SPDX-License-Identifier: Apache-2.0
// clean_text and json_quote: the guards every outside string passes.
#include <nlohmann/json.hpp>

#include "fuzz_common.h"

using namespace lameduck;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::size_t limit = data[0] == 255 ? kNoLimit : data[0];
  std::string_view text = fuzz::as_text(data + 1, size - 1);
  std::string clean = clean_text(text, limit);
  if (limit != kNoLimit && clean.size() > limit) fuzz::fail("longer than the limit", clean);
  fuzz::check_clean(clean, "clean_text");
  if (clean_text(clean, limit) != clean) fuzz::fail("cleaning twice changed it", clean);
  if (clean.find_first_of("\n\r\x1b") != std::string::npos) fuzz::fail("control left", clean);
  auto parsed = nlohmann::json::parse(json_quote(text), nullptr, false);
  if (!parsed.is_string()) fuzz::fail("json_quote is not a JSON string", text);
  (void)parsed.dump();  // strict: throws on invalid UTF-8
  return 0;
}
