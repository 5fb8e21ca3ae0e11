// SPDX-License-Identifier: Apache-2.0
// The static build's std::terminate message, without libstdc++'s verbose handler: that
// one demangles the exception's type name and so links the whole C++ demangler (about
// 46 KiB, a sixth of the size budget's gap). lameduck catches every std::exception in
// main(); this runs only for a bug (an exception out of a noexcept function or a
// destructor) and says what it can, then aborts like the original.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <typeinfo>

namespace {

void write_text(const char* text) {
  [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, text, std::strlen(text));
}

}  // namespace

// Defined here, the linker takes this one and leaves libstdc++'s (and its demangler) out.
// NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
namespace __gnu_cxx {

// NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp)
void __verbose_terminate_handler() {
  write_text("lameduck: terminate called");
  if (std::exception_ptr current = std::current_exception()) {
    try {
      std::rethrow_exception(current);
    } catch (const std::exception& e) {
      write_text(" after throwing an exception: ");
      write_text(e.what());
    } catch (...) {
      write_text(" after throwing a non-standard exception");
    }
  }
  write_text("\n");
  std::abort();
}

}  // namespace __gnu_cxx
