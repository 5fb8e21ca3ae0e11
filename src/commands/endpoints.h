// SPDX-License-Identifier: Apache-2.0
// `lameduck endpoints`: what a user runs with `kubectl exec` to debug identity and RBAC.
#pragma once

#include "base/signal_fd.h"
#include "cli/options.h"

namespace lameduck {

// Exit 0: routable, 1: not routable, 2: could not tell (or interrupted by a signal).
int run_endpoints(const EndpointsOptions& options, SignalFd& signals);

}  // namespace lameduck
