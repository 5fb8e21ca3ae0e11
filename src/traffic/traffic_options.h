// SPDX-License-Identifier: Apache-2.0
// The traffic part's input: the traffic wait runs after the slices (or from the start
// without them), until the Pod had no new traffic for `quiet`. The command line fills it;
// the wait and the policy (traffic_policy.h) read it.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "base/duration.h"
#include "traffic/net_address.h"

namespace lameduck {

struct TrafficOptions {
  bool wait = true;
  Millis quiet{2000};      // fixed, or the shortest auto quiet
  bool auto_quiet = true;  // --quiet auto: from the Pod's request rate (quiet_rule.h)
  // --pooled-peer: when set, only these peers' open connections hold the wait; any other
  // peer's bytes count only within the quiet period after its last new connection.
  std::vector<Cidr> pooled_peers;
  // Peers whose traffic never counts, besides loopback (always). From the command line:
  // --ignore-peer (empty: HOST_IP, see ignored_peers); for the policy: the resolved list.
  std::vector<Cidr> ignore_peers;
  std::set<std::uint16_t> ports;  // the app's ports; empty: every listening port
  bool wait_pooled = true;        // bytes on open connections count, not only new connections
};

}  // namespace lameduck
