// SPDX-License-Identifier: Apache-2.0
// `lameduck version --licenses`: the license of lameduck and the notices of everything the
// static binary carries (curl, mbedTLS, zlib, libstdc++, glibc, spdlog, fmt, nlohmann-json).
#pragma once

namespace lameduck {

// The notices, as printed on stdout.
const char* license_notices();

}  // namespace lameduck
