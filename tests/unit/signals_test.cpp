#include "signals.h"

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
  for (const char* bad : {"", "SIG", "TERMINATE", "0", "65", "999", "RTMIN+99", "RTMIN+", "-1"}) {
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
}
