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

// lameduck's own failures, the convention of env(1), timeout(1) and nohup(1).
inline constexpr int kExitUsage = 125;          // bad usage, cannot fork, internal error
inline constexpr int kExitNotExecutable = 126;  // COMMAND found but cannot be run
inline constexpr int kExitNotFound = 127;       // COMMAND not found

struct SetupError : std::runtime_error {
  SetupError(int code, const std::string& message) : std::runtime_error(message), exit_code(code) {}
  int exit_code;  // kExitUsage, ... (a command may have its own: install exits 1)
};

struct Status {
  std::string error;
  bool ok() const { return error.empty(); }
};

// "what: <strerror(errno)>", for the error fields and messages.
std::string errno_text(std::string_view what, int error = errno);

}  // namespace lameduck
