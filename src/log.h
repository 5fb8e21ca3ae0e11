// Logging: stderr only (stdout belongs to the app), one line per event, text or JSON.
#pragma once

#include <spdlog/spdlog.h>

#include "options.h"

namespace lameduck {

// Installs the default logger. Safe to call again (e.g. after parsing the options).
void setup_logging(const LogOptions& options);

// Prints "lameduck: <message>" on stderr as one line: for usage errors (before the log
// format is known) and setup failures; as a JSON log line once --log-format json is set.
void print_error(const std::string& message);

}  // namespace lameduck
