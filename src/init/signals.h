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

// Signals a fault raises (SEGV, BUS, FPE, ILL, TRAP, SYS, ABRT). Blocked like the others:
// the kernel unblocks and kills for a real (synchronous) fault, so what the signalfd reads
// was sent by a process and is forwarded (dumb-init forwards them too).
bool is_fault_signal(int sig);

// True for a signal some process sent (kill, sigqueue, tkill/tgkill: si_code SI_USER,
// SI_QUEUE or SI_TKILL), false for one the kernel raised (a fault, a timer, a child).
bool sent_by_process(int si_code);

// Why sig cannot be the stop signal (job-control stops would leave the app stopped, not
// stopping), or empty.
std::string refuse_stop_signal(int sig);

// --rewrite FROM:TO (dumb-init parity). TO may be 0 to drop the signal.
class SignalRewrite {
 public:
  // Parses "FROM:TO"; returns an error message, or empty on success.
  std::string add(std::string_view spec);
  // The signal to forward for sig, or 0 to forward nothing.
  int apply(int sig) const;
  bool empty() const { return table_.empty(); }

 private:
  std::map<int, int> table_;
};

}  // namespace lameduck
