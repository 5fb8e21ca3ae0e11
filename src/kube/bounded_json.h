// SPDX-License-Identifier: Apache-2.0
// JSON from outside (API bodies, watch events), parsed with bounds: a nesting depth
// checked before anything is built, and only the parts the caller asks to keep. The rest
// is skipped as it streams past (SAX), so a 16 MiB body of `[[[…]]]` or of slices the
// decision does not need costs nothing beyond the text itself. Pure; never throws.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

namespace lameduck {

// Where a value stands: the object keys and "[]" for array elements, from the root.
using JsonPath = std::span<const std::string>;

struct JsonBounds {
  std::size_t max_depth = 32;  // an EndpointSlice list is 7 deep
};

enum class JsonElement { keep, drop, stop };

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json moves without throwing
struct BoundedJson {
  nlohmann::json value;  // what was kept
  std::string error;     // empty when the text parsed within bounds
  bool ok() const { return error.empty(); }
};

// keep(path): build the value at path (its parent is kept)? The root always is.
// element(path, value): a kept array element is complete. `drop` removes it from its
// array (after the callback took what it needs); `stop` ends the parse, and the caller
// says why (the error is then "stopped").
BoundedJson parse_bounded(std::string_view text, const JsonBounds& bounds,
                          const std::function<bool(JsonPath)>& keep,
                          const std::function<JsonElement(JsonPath, nlohmann::json&)>& element);

// True when path equals the given components ("[]" matches an array element).
bool path_is(JsonPath path, std::initializer_list<std::string_view> components);

}  // namespace lameduck
