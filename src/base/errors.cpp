// SPDX-License-Identifier: Apache-2.0
#include "base/errors.h"

#include <cstring>

namespace lameduck {

std::string errno_text(std::string_view what, int error) {
  return std::string(what) + ": " + std::strerror(error);
}

}  // namespace lameduck
