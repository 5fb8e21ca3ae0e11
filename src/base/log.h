// SPDX-License-Identifier: Apache-2.0
// Logging: stderr only (stdout belongs to the app), one line per event, text or JSON.
#pragma once

#include <spdlog/spdlog.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/duration.h"

namespace lameduck {

enum class LogFormat { text, json };

// --log-format and --log-level.
struct LogOptions {
  LogFormat format = LogFormat::text;
  std::string level = "info";
};

// Installs the default logger. Safe to call again (e.g. after parsing the options).
void setup_logging(const LogOptions& options);

// For a start-up that runs no logging code until it must (the run, until the app is
// started): print_error follows the options' format at once; the logger is installed by
// setup_logging() (or by print_error, in JSON). Nothing may log in between.
void defer_logging(const LogOptions& options);
// Installs the logger with the deferred options; nothing when none are deferred.
void setup_logging();

// `lameduck prestop` while PID 1 is not lameduck: every log line also goes to PID 1's stderr
// (/proc/1/fd/2), where `kubectl logs` reads (the kubelet shows a hook's own output only
// when it fails), marked "lameduck prestop (pid N)". Best effort and never blocking: no copy
// when it cannot be opened or is our own stderr; a line that would block is dropped.
// Call after setup_logging.
void copy_log_to_pid1(const LogOptions& options);
// PID 1 is lameduck after all: it logs the drain itself.
void stop_copy_to_pid1();

// Prints "lameduck: <message>" on stderr as one line: for usage errors (before the log
// format is known) and setup failures; as a JSON log line once --log-format json is set.
void print_error(const std::string& message);

// The drain's timeline, "the product's evidence": every line of a drain is stamped with
// the milliseconds since the drain's start (stamp()), the clock read as the line is
// written, so lines are on one clock and never older than what they report. Lines before
// the drain starts carry no stamp. A Timeline made with a sink writes its lines there
// instead of the log, at every level (the tests read what a part wrote).
class Timeline {
 public:
  using Sink = std::function<void(spdlog::level::level_enum level, std::string_view line)>;
  Timeline() = default;
  explicit Timeline(Sink sink) : sink_(std::move(sink)) {}

  void start(TimePoint zero) { zero_ = zero; }
  bool started() const { return zero_.has_value(); }
  // The start (the epoch before it).
  TimePoint zero() const { return zero_.value_or(TimePoint{}); }
  // Since the start (0 before it).
  Millis elapsed(TimePoint now = Clock::now()) const;
  // The stamp of a line written at `when`, also for naming a moment inside a line.
  std::string stamp(TimePoint when = Clock::now()) const;

  template <class... A>
  void info(spdlog::format_string_t<A...> format, A&&... args) const {
    log(spdlog::level::info, format, std::forward<A>(args)...);
  }
  template <class... A>
  void warn(spdlog::format_string_t<A...> format, A&&... args) const {
    log(spdlog::level::warn, format, std::forward<A>(args)...);
  }
  template <class... A>
  void debug(spdlog::format_string_t<A...> format, A&&... args) const {
    log(spdlog::level::debug, format, std::forward<A>(args)...);
  }
  template <class... A>
  void log(spdlog::level::level_enum level, spdlog::format_string_t<A...> format,
           A&&... args) const {
    if (!sink_ && !spdlog::should_log(level)) return;
    write(level, fmt::format(format, std::forward<A>(args)...));
  }

 private:
  void write(spdlog::level::level_enum level, std::string_view text) const;

  std::optional<TimePoint> zero_;
  Sink sink_;
};

}  // namespace lameduck
