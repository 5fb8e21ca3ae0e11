// SPDX-License-Identifier: Apache-2.0
#include "init/signals.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>
#include <cstdlib>

#include "base/errors.h"

namespace lameduck {
namespace {

struct NamedSignal {
  const char* name;
  int number;
};

constexpr std::array kSignals{
    NamedSignal{"HUP", SIGHUP},       NamedSignal{"INT", SIGINT},
    NamedSignal{"QUIT", SIGQUIT},     NamedSignal{"ILL", SIGILL},
    NamedSignal{"TRAP", SIGTRAP},     NamedSignal{"ABRT", SIGABRT},
    NamedSignal{"IOT", SIGIOT},       NamedSignal{"BUS", SIGBUS},
    NamedSignal{"FPE", SIGFPE},       NamedSignal{"KILL", SIGKILL},
    NamedSignal{"USR1", SIGUSR1},     NamedSignal{"SEGV", SIGSEGV},
    NamedSignal{"USR2", SIGUSR2},     NamedSignal{"PIPE", SIGPIPE},
    NamedSignal{"ALRM", SIGALRM},     NamedSignal{"TERM", SIGTERM},
    NamedSignal{"STKFLT", SIGSTKFLT}, NamedSignal{"CHLD", SIGCHLD},
    NamedSignal{"CONT", SIGCONT},     NamedSignal{"STOP", SIGSTOP},
    NamedSignal{"TSTP", SIGTSTP},     NamedSignal{"TTIN", SIGTTIN},
    NamedSignal{"TTOU", SIGTTOU},     NamedSignal{"URG", SIGURG},
    NamedSignal{"XCPU", SIGXCPU},     NamedSignal{"XFSZ", SIGXFSZ},
    NamedSignal{"VTALRM", SIGVTALRM}, NamedSignal{"PROF", SIGPROF},
    NamedSignal{"WINCH", SIGWINCH},   NamedSignal{"IO", SIGIO},
    NamedSignal{"POLL", SIGPOLL},     NamedSignal{"PWR", SIGPWR},
    NamedSignal{"SYS", SIGSYS},
};

std::optional<int> parse_number(std::string_view text) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  int value = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

std::optional<int> parse_signal(std::string_view text) {
  std::string upper(text);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::string_view name = upper;
  if (auto number = parse_number(name)) {
    if ((*number >= 1 && *number < 32) || (*number >= SIGRTMIN && *number <= SIGRTMAX)) {
      return number;
    }
    return std::nullopt;
  }
  if (name.substr(0, 3) == "SIG") name.remove_prefix(3);
  for (const auto& s : kSignals) {
    if (name == s.name) return s.number;
  }
  for (std::string_view base : {"RTMIN", "RTMAX"}) {
    if (name.substr(0, base.size()) != base) continue;
    std::string_view rest = name.substr(base.size());
    int offset = 0;
    if (!rest.empty()) {
      if (rest.size() < 2 || (rest[0] != '+' && rest[0] != '-')) return std::nullopt;
      auto n = parse_number(rest.substr(1));
      if (!n) return std::nullopt;
      offset = rest[0] == '+' ? *n : -*n;
    }
    int sig = (base == "RTMIN" ? SIGRTMIN : SIGRTMAX) + offset;
    if (sig < SIGRTMIN || sig > SIGRTMAX) return std::nullopt;
    return sig;
  }
  return std::nullopt;
}

std::string signal_name(int sig) {
  for (const auto& s : kSignals) {
    if (s.number == sig) return std::string("SIG") + s.name;
  }
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  return "SIG" + std::to_string(sig);
}

namespace {

[[noreturn]] void fail(const std::string& message) {
  throw SetupError(kExitUsage, message);
}

}  // namespace

void check_stop_signal(int sig, std::string_view flag) {
  switch (sig) {
    case SIGSTOP:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
      fail(std::string(flag) + signal_name(sig) + ": " + signal_name(sig) +
           " only suspends the app, which would then never exit; use e.g. SIGTERM or SIGQUIT");
    default: return;
  }
}

void SignalRewrite::add(std::string_view spec) {
  auto colon = spec.find(':');
  if (colon == std::string_view::npos) {
    fail("--rewrite expects FROM:TO (e.g. TERM:QUIT), got '" + std::string(spec) + "'");
  }
  auto from = parse_signal(spec.substr(0, colon));
  if (!from) fail("--rewrite: unknown signal '" + std::string(spec.substr(0, colon)) + "'");
  auto to_text = spec.substr(colon + 1);
  std::optional<int> to = to_text == "0" ? std::optional<int>(0) : parse_signal(to_text);
  if (!to) fail("--rewrite: unknown signal '" + std::string(to_text) + "'");
  if (*from == SIGKILL || *from == SIGSTOP || *from == SIGCHLD) {
    fail("--rewrite: " + signal_name(*from) + " is never forwarded, so it cannot be rewritten");
  }
  table_[*from] = *to;
}

int SignalRewrite::apply(int sig) const {
  auto it = table_.find(sig);
  return it == table_.end() ? sig : it->second;
}

}  // namespace lameduck
