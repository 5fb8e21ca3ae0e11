// SPDX-License-Identifier: Apache-2.0
#include "init/signals.h"

#include <doctest/doctest.h>

#include <csignal>

#include "base/errors.h"

using namespace lameduck;

TEST_CASE("signal names parse in every common spelling") {
  CHECK(parse_signal("SIGTERM") == SIGTERM);
  CHECK(parse_signal("TERM") == SIGTERM);
  CHECK(parse_signal("term") == SIGTERM);
  CHECK(parse_signal("sigquit") == SIGQUIT);
  CHECK(parse_signal("15") == 15);
  CHECK(parse_signal("SIGRTMIN") == SIGRTMIN);
  CHECK(parse_signal("RTMIN+2") == SIGRTMIN + 2);
  CHECK(parse_signal("SIGRTMAX-1") == SIGRTMAX - 1);
}

TEST_CASE("bad signal names are refused") {
  // 32 and 33 belong to the C library (its SIGRTMIN is above them): not signals to send.
  for (const char* bad :
       {"", "SIG", "TERMINATE", "0", "32", "33", "65", "999", "RTMIN+99", "RTMIN+", "-1"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_signal(bad).has_value());
  }
}

TEST_CASE("signal_name round-trips") {
  CHECK(signal_name(SIGTERM) == "SIGTERM");
  CHECK(signal_name(SIGWINCH) == "SIGWINCH");
  CHECK(signal_name(SIGRTMIN + 3) == "SIGRTMIN+3");
  for (int sig = 1; sig < SIGRTMIN; ++sig) {
    if (signal_name(sig).substr(0, 3) == "SIG" && parse_signal(signal_name(sig))) {
      CHECK(parse_signal(signal_name(sig)) == sig);
    }
  }
}

TEST_CASE("rewrite maps, drops and refuses what cannot be forwarded") {
  SignalRewrite rewrite;
  CHECK_NOTHROW(rewrite.add("TERM:QUIT"));
  CHECK_NOTHROW(rewrite.add("SIGHUP:0"));
  CHECK(rewrite.apply(SIGTERM) == SIGQUIT);
  CHECK(rewrite.apply(SIGHUP) == 0);
  CHECK(rewrite.apply(SIGUSR1) == SIGUSR1);
  CHECK_THROWS_AS(rewrite.add("TERM"), SetupError);
  CHECK_THROWS_AS(rewrite.add("BOGUS:TERM"), SetupError);
  CHECK_THROWS_AS(rewrite.add("TERM:BOGUS"), SetupError);
  CHECK_THROWS_AS(rewrite.add("KILL:TERM"), SetupError);
  CHECK_THROWS_AS(rewrite.add("CHLD:TERM"), SetupError);
  CHECK_THROWS_AS(rewrite.add("1:32"), SetupError);
  CHECK_NOTHROW(rewrite.add("1:31"));
}

TEST_CASE("fault signals sent with kill can be rewritten") {
  SignalRewrite rewrite;
  for (const char* spec :
       {"ABRT:QUIT", "SEGV:0", "BUS:USR1", "FPE:USR2", "ILL:HUP", "TRAP:INT", "SYS:TERM"}) {
    CAPTURE(spec);
    CHECK_NOTHROW(rewrite.add(spec));
  }
  CHECK(rewrite.apply(SIGABRT) == SIGQUIT);
  CHECK(rewrite.apply(SIGSEGV) == 0);
}

TEST_CASE("job-control stops cannot be the stop signal") {
  for (int sig : {SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU}) {
    CAPTURE(sig);
    CHECK_THROWS_WITH_AS(check_stop_signal(sig, "--signal "),
                         doctest::Contains("only suspends the app"), SetupError);
  }
  CHECK_THROWS_WITH_AS(check_stop_signal(SIGTSTP, "--signal "),
                       "--signal SIGTSTP: SIGTSTP only suspends the app, which would then never "
                       "exit; use e.g. SIGTERM or SIGQUIT",
                       SetupError);
  CHECK_NOTHROW(check_stop_signal(SIGTERM, "--signal "));
  CHECK_NOTHROW(check_stop_signal(SIGKILL, "--signal "));
}
