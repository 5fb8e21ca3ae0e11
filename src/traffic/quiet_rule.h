// SPDX-License-Identifier: Apache-2.0
// --quiet auto: the quiet period that fits the Pod's own traffic, pure. Requests are
// taken as a Poisson process at rate r; a gap of q seconds comes once in e^(r·q) gaps, so
// a chance below one in a thousand needs q >= ln(1000)/r. The rate is learned from what
// the drain's looks show: the namespace's PassiveOpens and the app's connections' data
// segments, both counted from their births, and what the wait sees. Every doubt makes the
// rate lower, so the quiet longer: an unknown rate gives the cap.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/duration.h"

namespace lameduck {

struct RateEvidence {
  std::optional<Millis> age;            // how long the Pod's PID 1 has run; none: unknown
  std::uint64_t lifetime_opens = 0;     // PassiveOpens at the first look
  std::uint64_t lifetime_segments = 0;  // data segments on the counted open connections then
  Millis elapsed{0};                    // since the first look
  std::uint64_t opens = 0;              // PassiveOpens since the first look
  std::uint64_t uncounted = 0;          // of those, seen and not counting (ignored, other ports)
  std::uint64_t requests = 0;           // counted requests since the first look
};

struct QuietChoice {
  Millis quiet{0};
  double rate = 0;  // requests per second it assumes; 0: none learned
  std::string why;  // "0.75 requests/s: 0.75 new connections/s over 41m, ..."
};

// max(floor, ln(1000)/rate), at most cap; the cap when no rate can be learned.
QuietChoice choose_quiet(const RateEvidence& evidence, Millis floor, Millis cap);

}  // namespace lameduck
