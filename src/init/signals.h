// SPDX-License-Identifier: Apache-2.0
// Signal names and the forwarding policy: what is forwarded, and how it is rewritten.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace lameduck {

// "SIGTERM", "TERM", "term" and "15" all give 15. Realtime signals as "SIGRTMIN+3".
// Numbers are 1-31 or SIGRTMIN..SIGRTMAX: the ones in between belong to the C library.
std::optional<int> parse_signal(std::string_view text);

// "SIGTERM" for 15; "SIG42" for numbers without a name.
std::string signal_name(int sig);

// Throws SetupError (usage) when sig cannot be the stop signal: job-control stops would
// leave the app stopped, not stopping. flag names where sig came from ("--signal ").
void check_stop_signal(int sig, std::string_view flag);

// --rewrite FROM:TO (dumb-init parity). TO may be 0 to drop the signal.
class SignalRewrite {
 public:
  // Parses "FROM:TO"; throws SetupError (usage) when it is not one.
  void add(std::string_view spec);
  // The signal to forward for sig, or 0 to forward nothing.
  int apply(int sig) const;
  // True when a --rewrite names sig as its FROM.
  bool rewrites(int sig) const { return table_.count(sig) != 0; }

 private:
  std::map<int, int> table_;
};

}  // namespace lameduck
