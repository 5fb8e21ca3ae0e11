// `lameduck endpoints`: what a user runs with `kubectl exec` to debug identity and RBAC.
#pragma once

#include "options.h"

namespace lameduck {

// Exit 0: routable, 1: not routable, 2: could not tell.
int run_endpoints(const EndpointsOptions& options);

}  // namespace lameduck
