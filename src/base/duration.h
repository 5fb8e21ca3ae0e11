// SPDX-License-Identifier: Apache-2.0
// Time: the one clock lameduck measures with, and durations on the command line
// ("500ms", "15s", "2m", "1h", or bare seconds "1.5").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace lameduck {

using Millis = std::chrono::milliseconds;
// Monotonic: a drain's deadlines must not move when the wall clock is set.
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

// Returns nullopt for anything that is not a non-negative duration.
std::optional<Millis> parse_duration(std::string_view text);

// "1.5s", "250ms", "2m": the shortest exact spelling, for logs and --help.
std::string format_duration(Millis d);

}  // namespace lameduck
