// SPDX-License-Identifier: Apache-2.0
#include "init/signals.h"

#include <doctest/doctest.h>

#include <csignal>

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
  CHECK(rewrite.add("TERM:QUIT").empty());
  CHECK(rewrite.add("SIGHUP:0").empty());
  CHECK(rewrite.apply(SIGTERM) == SIGQUIT);
  CHECK(rewrite.apply(SIGHUP) == 0);
  CHECK(rewrite.apply(SIGUSR1) == SIGUSR1);
  CHECK_FALSE(rewrite.add("TERM").empty());
  CHECK_FALSE(rewrite.add("BOGUS:TERM").empty());
  CHECK_FALSE(rewrite.add("TERM:BOGUS").empty());
  CHECK_FALSE(rewrite.add("KILL:TERM").empty());
  CHECK_FALSE(rewrite.add("CHLD:TERM").empty());
  CHECK_FALSE(rewrite.add("1:32").empty());
  CHECK(rewrite.add("1:31").empty());
}

TEST_CASE("fault signals sent with kill can be rewritten") {
  SignalRewrite rewrite;
  for (const char* spec :
       {"ABRT:QUIT", "SEGV:0", "BUS:USR1", "FPE:USR2", "ILL:HUP", "TRAP:INT", "SYS:TERM"}) {
    CAPTURE(spec);
    CHECK(rewrite.add(spec).empty());
  }
  CHECK(rewrite.apply(SIGABRT) == SIGQUIT);
  CHECK(rewrite.apply(SIGSEGV) == 0);
}

TEST_CASE("only a signal a process sent is one to forward") {
  CHECK(sent_by_process(SI_USER));
  CHECK(sent_by_process(SI_QUEUE));
  CHECK(sent_by_process(SI_TKILL));
  CHECK_FALSE(sent_by_process(SEGV_MAPERR));
  CHECK_FALSE(sent_by_process(SI_KERNEL));
  CHECK_FALSE(sent_by_process(SI_TIMER));
}

TEST_CASE("job-control stops cannot be the stop signal") {
  for (int sig : {SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU}) {
    CAPTURE(sig);
    CHECK_FALSE(refuse_stop_signal(sig).empty());
  }
  CHECK(refuse_stop_signal(SIGTERM).empty());
  CHECK(refuse_stop_signal(SIGKILL).empty());
}
