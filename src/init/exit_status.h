// SPDX-License-Identifier: Apache-2.0
// How a child's wait status becomes lameduck's own exit code.
#pragma once

#include <set>
#include <string>

#include "base/errors.h"  // lameduck's own exit codes: kExitUsage, ...

namespace lameduck {

// The child's exit code, or 128+N when it died of signal N; codes listed in
// success_codes (--success-exit-code) become 0.
int exit_code_from_status(int wait_status, const std::set<int>& success_codes);

// "exited with 3", "killed by SIGKILL (core dumped)": for the timeline.
std::string describe_status(int wait_status);

}  // namespace lameduck
