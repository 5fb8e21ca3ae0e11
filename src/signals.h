// Signal names and the forwarding policy: what is forwarded, and how it is rewritten.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace lameduck {

// "SIGTERM", "TERM", "term" and "15" all give 15. Realtime signals as "SIGRTMIN+3".
std::optional<int> parse_signal(std::string_view text);

// "SIGTERM" for 15; "SIG42" for numbers without a name.
std::string signal_name(int sig);

// Signals raised by a fault in lameduck itself; never blocked, never forwarded.
bool is_fault_signal(int sig);

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
