// SPDX-License-Identifier: Apache-2.0
#include "base/unique_fd.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

using namespace lameduck;

TEST_CASE("UniqueFd::close closes now and reports close()'s result") {
  UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  REQUIRE(fd);
  int number = fd.get();
  CHECK(fd.close() == 0);
  CHECK_FALSE(fd);
  CHECK(::fcntl(number, F_GETFD) == -1);  // really closed
  CHECK(fd.close() == 0);                 // nothing left to close
  UniqueFd stale(number);                 // a number that is not open: EBADF
  CHECK(stale.close() == -1);
  CHECK(errno == EBADF);
}
