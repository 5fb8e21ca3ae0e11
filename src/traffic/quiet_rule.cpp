// SPDX-License-Identifier: Apache-2.0
#include "traffic/quiet_rule.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>

namespace lameduck {
namespace {

constexpr double kLn1000 = 6.907755;  // ln(1000): a gap that long comes once in 1000

// A count over a time, taken low: (n - 2·sqrt(n)) / t. A rate read from few events (a
// young Pod, a short wait) says little, and must not shorten the quiet by chance.
double low_rate(std::uint64_t count, double over) {
  auto n = static_cast<double>(count);
  return over > 0 ? std::max(0.0, n - 2 * std::sqrt(n)) / over : 0;
}

double seconds(Millis d) {
  return static_cast<double>(d.count()) / 1000.0;
}

// "41s", "41m", "5h": a Pod's age, rounded down.
std::string format_age(Millis d) {
  auto s = d.count() / 1000;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  return std::to_string(s / 3600) + "h";
}

}  // namespace

QuietChoice choose_quiet(const RateEvidence& e, Millis floor, Millis cap) {
  cap = std::max(cap, floor);
  double elapsed = seconds(e.elapsed);
  double life = 0;
  std::string why;
  if (e.age && *e.age >= Millis(1000)) {
    double age = seconds(*e.age);
    double opens = static_cast<double>(e.lifetime_opens) / age;
    // The counter counts from the namespace's birth, which may be older than PID 1 (a
    // restarted container): if the wait sees far fewer new connections than the lifetime
    // rate predicts, that rate is not this Pod's now, and is dropped.
    double expected = opens * elapsed;
    bool contradicted =
        expected >= 5 && static_cast<double>(e.opens) < expected - 2.33 * std::sqrt(expected);
    // New connections that do not count (probes from the node, loopback sidecars, other
    // ports) are in the counter too: take off as many as the wait may have missed, so
    // that none of them inflates the rate. Before a second of the wait, any might be.
    double uncounted = elapsed >= 1 ? (static_cast<double>(e.uncounted) + 1) / elapsed : opens;
    double counted_opens =
        contradicted ? 0 : std::max(0.0, low_rate(e.lifetime_opens, age) - uncounted);
    // A connection is younger than PID 1, so its segments over PID 1's age are too few.
    double pooled = low_rate(e.lifetime_segments, age);
    life = counted_opens + pooled;
    why = fmt::format("{:.2g} new connections/s over {}", opens, format_age(*e.age));
    if (contradicted) {
      why += " (not seen in the wait: dropped)";
    } else if (opens > 0) {
      why += fmt::format(", less {:.2g}/s that do not count", std::min(uncounted, opens));
    }
    if (pooled > 0) why += fmt::format(", {:.2g} requests/s on open connections", pooled);
  } else {
    why = "the Pod's age is unknown";
  }
  // What the wait itself saw, taken low too.
  double in_wait = low_rate(e.requests, elapsed);
  if (in_wait > 0) why += fmt::format("; {:.2g} requests/s in the wait", in_wait);
  QuietChoice choice;
  choice.rate = std::max(life, in_wait);
  if (choice.rate <= 0) {
    choice.quiet = cap;
    choice.why = "no request rate learned (" + why + ")";
    return choice;
  }
  double q = kLn1000 / choice.rate;
  if (q >= seconds(cap)) {
    choice.quiet = cap;
  } else {
    choice.quiet = std::max(floor, Millis(static_cast<std::int64_t>(std::ceil(q * 10)) * 100));
  }
  choice.why = fmt::format("{:.2g} requests/s ({})", choice.rate, why);
  if (choice.quiet == cap && q > seconds(cap)) choice.why += ", capped by --max-delay";
  return choice;
}

}  // namespace lameduck
