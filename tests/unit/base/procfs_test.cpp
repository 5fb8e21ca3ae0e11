// SPDX-License-Identifier: Apache-2.0
#include "base/procfs.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/unique_fd.h"

using namespace lameduck;

TEST_CASE("/proc/PID/stat: state and parent after the last ')' of the name") {
  auto plain = parse_proc_stat("42 (sleep) S 7 42 42 0 -1 4194560 95 0 0 0");
  REQUIRE(plain);
  CHECK(plain->state == 'S');
  CHECK(plain->ppid == 7);
  CHECK_FALSE(plain->start_ticks);  // cut short before field 22
  auto whole = parse_proc_stat(
      "1 (lameduck) S 0 1 1 0 -1 4194560 95 0 0 0 1 2 0 0 20 0 1 0 123456 2654208 200");
  REQUIRE(whole);
  CHECK(whole->start_ticks == 123456u);
  // A name may hold spaces and parentheses: "a) Z 99 (b".
  auto tricky = parse_proc_stat("43 (a) Z 99 (b) T 1 43 43 0");
  REQUIRE(tricky);
  CHECK(tricky->state == 'T');
  CHECK(tricky->ppid == 1);
  CHECK_FALSE(parse_proc_stat(""));
  CHECK_FALSE(parse_proc_stat("44 (no end"));
  CHECK_FALSE(parse_proc_stat("45 (x)"));
}

TEST_CASE("this process: its stat and its sockets") {
  auto self = read_proc_stat(::getpid());
  REQUIRE(self);
  CHECK(self->ppid == ::getppid());
  CHECK(self->state == 'R');
  CHECK(self->start_ticks);
  CHECK_FALSE(is_pid1());
  // This test binary started a moment ago; its parent no later.
  auto age = process_age(::getpid());
  REQUIRE(age);
  CHECK(*age < Millis(600'000));
  CHECK(process_age(::getppid()) >= age);

  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  UniqueFd a(pair[0]), b(pair[1]);
  struct stat st {};
  REQUIRE(::fstat(a.get(), &st) == 0);
  auto held = socket_inodes(::getpid());
  CHECK(held.error == 0);
  CHECK(held.inodes.contains(st.st_ino));
  a.reset();
  CHECK_FALSE(socket_inodes(::getpid()).inodes.contains(st.st_ino));
}

TEST_CASE("a process that is gone") {
  // The largest pid_max is 2^22: this pid cannot exist.
  CHECK_FALSE(read_proc_stat(4'194'305));
  CHECK(socket_inodes(4'194'305).error == ENOENT);
}
