// SPDX-License-Identifier: Apache-2.0
// `lameduck [OPTIONS] -- COMMAND`: setup (may fail with 125/126/127), then the run loop.
#pragma once

#include "base/signal_fd.h"
#include "cli/options.h"

namespace lameduck {

int run_command(const RunOptions& options, SignalFd& signals);

}  // namespace lameduck
