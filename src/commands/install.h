// SPDX-License-Identifier: Apache-2.0
// `lameduck install DIR`: copy the running binary into DIR (an emptyDir shared with the
// app container), for images that cannot be rebuilt and have no cp (distroless, scratch).
#pragma once

#include <string>

#include "cli/options.h"

namespace lameduck {

// The file name the binary gets in DIR.
inline constexpr const char* kInstallName = "lameduck";

// Copies /proc/self/exe to DIR/lameduck atomically: a temporary file in DIR, fsync,
// mode 0755, rename over the old file, fsync of DIR. An identical DIR/lameduck is left
// alone. DIR must exist. Returns 0, or 1 with one line on stderr naming the failing step.
int run_install(const InstallOptions& options);

}  // namespace lameduck
