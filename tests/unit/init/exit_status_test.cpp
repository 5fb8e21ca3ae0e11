// SPDX-License-Identifier: Apache-2.0
#include "init/exit_status.h"

#include <doctest/doctest.h>
#include <sys/wait.h>

using namespace lameduck;

namespace {
int exited(int code) {
  return code << 8;
}  // W_EXITCODE(code, 0)
int signaled(int sig, bool core = false) {
  return sig | (core ? 0x80 : 0);
}
}  // namespace

TEST_CASE("exit codes pass through") {
  CHECK(exit_code_from_status(exited(0), {}) == 0);
  CHECK(exit_code_from_status(exited(1), {}) == 1);
  CHECK(exit_code_from_status(exited(42), {}) == 42);
  CHECK(exit_code_from_status(exited(255), {}) == 255);
}

TEST_CASE("death by signal N is 128+N") {
  CHECK(exit_code_from_status(signaled(SIGTERM), {}) == 143);
  CHECK(exit_code_from_status(signaled(SIGKILL), {}) == 137);
  CHECK(exit_code_from_status(signaled(SIGSEGV, true), {}) == 139);
}

TEST_CASE("success exit codes map to 0, whether exited or signalled") {
  CHECK(exit_code_from_status(exited(143), {143}) == 0);
  CHECK(exit_code_from_status(signaled(SIGTERM), {143}) == 0);
  CHECK(exit_code_from_status(exited(1), {143}) == 1);
}

TEST_CASE("statuses are described for the timeline") {
  CHECK(describe_status(exited(3)) == "exited with 3");
  CHECK(describe_status(signaled(SIGKILL)) == "killed by SIGKILL");
  CHECK(describe_status(signaled(SIGSEGV, true)) == "killed by SIGSEGV (core dumped)");
}
