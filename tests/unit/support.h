// SPDX-License-Identifier: Apache-2.0
// What the unit tests share (ninja's test.h): the fixtures and the common drain set-up.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "cli/options.h"
#include "drain/drain.h"

namespace lameduck::test {

// tests/fixtures/<name>, whole; the test fails when it cannot be read.
inline std::string fixture_text(const char* name) {
  std::ifstream in(std::string(LAMEDUCK_FIXTURES) + "/" + name);
  REQUIRE(in.good());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A drain that waits for the EndpointSlices: --settle 5s, --max-delay 25s, and --delay 15s
// when the API cannot be used.
inline DrainConfig endpoints_drain() {
  DrainConfig config;
  config.delay = Millis(15000);
  config.settle = Millis(5000);
  config.max_delay = Millis(25000);
  config.wait_endpoints = true;
  return config;
}

// `lameduck ARGS...` parsed as main parses it (the environment as it is).
inline Command parse(std::vector<const char*> args) {
  args.insert(args.begin(), "lameduck");
  return parse_command_line(static_cast<int>(args.size()), args.data());
}

// The same, for a command line that must be the run mode.
inline RunOptions run(std::vector<const char*> args) {
  return std::get<RunOptions>(parse(std::move(args)));
}

}  // namespace lameduck::test
