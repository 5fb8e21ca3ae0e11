// SPDX-License-Identifier: Apache-2.0
// Shared by the libFuzzer targets (fuzz/README.md): a memory oracle, and the checks every
// string lameduck may log or print must pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "base/text.h"

namespace lameduck::fuzz {

// Peak bytes live through operator new since reset_peak() (fuzz_common.cpp).
void reset_peak();
std::size_t peak_bytes();

// A parse of n bytes from outside may hold at most this much at once (issue 14 item 4: a
// 16 MB list of [[[...]]] cost 618 MB, 39 bytes per byte).
inline std::size_t memory_budget(std::size_t n) {
  return 16 * n + (1u << 20);
}

[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "FUZZ PROPERTY: %s: '%.*s'\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

inline void check_memory(std::size_t n) {
  if (peak_bytes() > memory_budget(n)) {
    std::fprintf(stderr, "FUZZ PROPERTY: %zu bytes of input held %zu bytes at once\n", n,
                 peak_bytes());
    std::abort();
  }
}

// What may go to a log line or JSON output: valid UTF-8, no control characters.
inline void check_clean(std::string_view text, const char* what) {
  if (!is_clean_text(text)) fail(what, text);
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace lameduck::fuzz
