// SPDX-License-Identifier: Apache-2.0
#include "base/footprint.h"

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace lameduck {
namespace {

struct Range {
  std::uintptr_t begin = 0;
  std::size_t length = 0;
};

// The ranges to release, found at the request so that the release itself runs as little
// code as possible (every page it touches after madvise() is mapped back).
struct Pending {
  std::optional<TimePoint> due;
  std::uintptr_t page = 0;
  std::array<Range, 8> ranges{};
  std::size_t count = 0;
};
Pending pending;

// Text relocations write into read-only segments at load time: releasing such a page
// would bring back the file's unrelocated bytes. No build of lameduck has them; this keeps
// a future one (or an odd toolchain) from crashing instead of saving memory.
bool has_text_relocations(const dl_phdr_info& info) {
  for (int i = 0; i < info.dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info.dlpi_phdr[i];
    if (ph.p_type != PT_DYNAMIC) continue;
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    const auto* dyn = reinterpret_cast<const ElfW(Dyn)*>(info.dlpi_addr + ph.p_vaddr);
    for (; dyn->d_tag != DT_NULL; ++dyn) {
      if (dyn->d_tag == DT_TEXTREL) return true;
      if (dyn->d_tag == DT_FLAGS && (dyn->d_un.d_val & DF_TEXTREL) != 0) return true;
    }
  }
  return false;
}

int collect_read_only(dl_phdr_info* info, std::size_t /*size*/, void* data) {
  auto& p = *static_cast<Pending*>(data);
  if (has_text_relocations(*info)) return 1;
  for (int i = 0; i < info->dlpi_phnum && p.count < p.ranges.size(); ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) != 0) continue;
    // Whole pages inside the segment only, so never a page of a writable segment (whose
    // private copy MADV_DONTNEED would throw away).
    std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    std::uintptr_t end = (begin + ph.p_memsz) & ~(p.page - 1);
    begin = (begin + p.page - 1) & ~(p.page - 1);
    if (end > begin) p.ranges[p.count++] = Range{begin, end - begin};
  }
  return 1;  // the first object is the executable; shared libraries keep their mappings
}

}  // namespace

void release_startup_pages_after_settle(TimePoint now) {
  long page = ::sysconf(_SC_PAGESIZE);
  if (page <= 0) return;
  pending.page = static_cast<std::uintptr_t>(page);
  pending.count = 0;
  ::dl_iterate_phdr(collect_read_only, &pending);
  if (pending.count > 0) pending.due = now + kStartupSettle;
}

std::optional<TimePoint> startup_release_due() {
  return pending.due;
}

void release_startup_pages_if_requested() {
  if (pending.count == 0) return;
  // In reverse program-header order (for a typical layout R, RX, R: the headers' segment
  // last); what runs after the last call faults its pages back in.
  for (std::size_t i = pending.count; i-- > 0;) {
    // An address from the program headers, not a pointer anything dereferences.
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    ::madvise(reinterpret_cast<void*>(pending.ranges[i].begin), pending.ranges[i].length,
              MADV_DONTNEED);
  }
  pending.count = 0;
  pending.due.reset();
}

}  // namespace lameduck
