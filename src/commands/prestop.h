// SPDX-License-Identifier: Apache-2.0
// `lameduck prestop`: the drain wait for lifecycle.preStop.exec. Asks a lameduck PID 1 to
// drain and waits for it; otherwise waits here (EndpointSlices + settle, or --delay).
// Exits 0 when the wait is over, PID 1 went away, or SIGTERM/SIGINT cut it short.
#pragma once

#include "base/signal_fd.h"
#include "cli/options.h"

namespace lameduck {

int run_prestop(const PrestopOptions& options, SignalFd& signals);

}  // namespace lameduck
