// SPDX-License-Identifier: Apache-2.0
// `lameduck [OPTIONS] -- COMMAND`: setup (may fail with 125/126/127), then the run loop.
#pragma once

#include "drain.h"
#include "options.h"
#include "signal_fd.h"

namespace lameduck {

// The Drain's configuration from the options: --delay defaults to 15s in a Pod, else 0.
DrainConfig drain_config(const WaitOptions& wait, bool wait_endpoints);

int run_command(const RunOptions& options, SignalFd& signals);

}  // namespace lameduck
