// SPDX-License-Identifier: Apache-2.0
#include "fuzz_common.h"

#include <sanitizer/allocator_interface.h>

// The memory oracle counts every allocation through AddressSanitizer's hooks (malloc,
// new, and what libraries allocate alike).
namespace {

std::size_t live = 0;
std::size_t peak = 0;
std::size_t base = 0;

void on_malloc(const volatile void*, std::size_t size) {
  live += size;
  if (live > peak) peak = live;
}

void on_free(const volatile void* p) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): the sanitizer's own signature
  std::size_t size = __sanitizer_get_allocated_size(const_cast<const void*>(p));
  live = size > live ? 0 : live - size;
}

const int installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);

}  // namespace

namespace lameduck::fuzz {

void reset_peak() {
  (void)installed;
  base = live;
  peak = live;
}

std::size_t peak_bytes() {
  return peak - base;
}

}  // namespace lameduck::fuzz
