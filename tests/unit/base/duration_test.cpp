// SPDX-License-Identifier: Apache-2.0
#include "base/duration.h"

#include <doctest/doctest.h>

using namespace lameduck;

TEST_CASE("durations accept ms, s, m, h and bare seconds") {
  CHECK(parse_duration("500ms") == Millis(500));
  CHECK(parse_duration("15s") == Millis(15000));
  CHECK(parse_duration("2m") == Millis(120000));
  CHECK(parse_duration("1h") == Millis(3600000));
  CHECK(parse_duration("15") == Millis(15000));
  CHECK(parse_duration("0") == Millis(0));
  CHECK(parse_duration("1.5") == Millis(1500));
  CHECK(parse_duration("0.25s") == Millis(250));
  CHECK(parse_duration(".5") == Millis(500));
}

TEST_CASE("durations reject garbage, negatives and absurd values") {
  for (const char* bad : {"", "s", "ms", "-1", "1.2.3", "5 s", "5sec", "abc", "1d", "10x",
                          "99999999999999999999", "25h", "1e3", "+5"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}

TEST_CASE("durations format back to their shortest spelling") {
  CHECK(format_duration(Millis(0)) == "0s");
  CHECK(format_duration(Millis(250)) == "250ms");
  CHECK(format_duration(Millis(1500)) == "1.5s");
  CHECK(format_duration(Millis(1050)) == "1.05s");
  CHECK(format_duration(Millis(15000)) == "15s");
  CHECK(format_duration(Millis(120000)) == "2m");
}
