// Logging: stderr only (stdout belongs to the app), one line per event, text or JSON.
#pragma once

#include <spdlog/spdlog.h>

#include "options.h"

namespace lameduck {

// Installs the default logger. Safe to call again (e.g. after parsing the options).
void setup_logging(const LogOptions& options);

// Prints "lameduck: <message>" on stderr without the logger: for usage errors, which
// must be one clear line whatever the log format.
void print_error(const std::string& message);

}  // namespace lameduck
