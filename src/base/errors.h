// SPDX-License-Identifier: Apache-2.0
// lameduck's two error conventions. Setup (parsing, reading the configuration, starting
// the app) throws SetupError: main prints its message and exits with its code. The run
// phase never throws on purpose: a call returns its result with an `error` field (empty
// when it worked), as SmallFile, HttpResult and TrafficLook do; Status is that result for
// calls with nothing else to return.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lameduck {

struct SetupError : std::runtime_error {
  SetupError(int code, const std::string& message) : std::runtime_error(message), exit_code(code) {}
  int exit_code;  // exit_status.h
};

struct Status {
  std::string error;
  bool ok() const { return error.empty(); }
};

// "what: <strerror(errno)>", for the error fields and messages.
std::string errno_text(std::string_view what, int error = errno);

}  // namespace lameduck
