// SPDX-License-Identifier: Apache-2.0
#include "traffic/net_address.h"

#include <doctest/doctest.h>

using namespace lameduck;

TEST_CASE("addresses parse and format, IPv4 as mapped IPv6") {
  auto v4 = parse_ip("10.0.3.7");
  REQUIRE(v4);
  CHECK(v4->is_v4());
  CHECK(format_ip(*v4) == "10.0.3.7");
  CHECK(parse_ip("::ffff:10.0.3.7") == v4);
  CHECK(format_endpoint(*v4, 41822) == "10.0.3.7:41822");
  auto v6 = parse_ip("fd00::1");
  REQUIRE(v6);
  CHECK_FALSE(v6->is_v4());
  CHECK(format_endpoint(*v6, 80) == "[fd00::1]:80");
  for (const char* bad : {"", "10.0.0", "10.0.0.256", "fd00:::1", "host", "10.0.0.1/8"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_ip(bad));
  }
}

TEST_CASE("loopback is 127.0.0.0/8 and ::1") {
  CHECK(parse_ip("127.0.0.1")->is_loopback());
  CHECK(parse_ip("127.3.2.1")->is_loopback());
  CHECK(parse_ip("::1")->is_loopback());
  CHECK_FALSE(parse_ip("10.0.0.1")->is_loopback());
  CHECK_FALSE(parse_ip("::2")->is_loopback());
}

TEST_CASE("CIDR ranges contain their addresses, in both families") {
  auto net = parse_cidr("10.1.2.3/8");
  REQUIRE(net);
  CHECK(format_cidr(*net) == "10.0.0.0/8");
  CHECK(net->contains(*parse_ip("10.200.0.1")));
  CHECK_FALSE(net->contains(*parse_ip("11.0.0.1")));
  CHECK_FALSE(net->contains(*parse_ip("fd00::1")));
  auto host = parse_cidr("192.168.1.5");
  REQUIRE(host);
  CHECK(format_cidr(*host) == "192.168.1.5/32");
  CHECK(host->contains(*parse_ip("192.168.1.5")));
  CHECK_FALSE(host->contains(*parse_ip("192.168.1.6")));
  auto odd = parse_cidr("10.0.3.0/25");
  REQUIRE(odd);
  CHECK(odd->contains(*parse_ip("10.0.3.127")));
  CHECK_FALSE(odd->contains(*parse_ip("10.0.3.128")));
  auto v6 = parse_cidr("fd00:1::/32");
  REQUIRE(v6);
  CHECK(v6->contains(*parse_ip("fd00:1:ffff::5")));
  CHECK_FALSE(v6->contains(*parse_ip("fd00:2::5")));
  CHECK(parse_cidr("0.0.0.0/0")->contains(*parse_ip("8.8.8.8")));
  for (const char* bad : {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/x", "/8",
                          "10.0.0.0/-1", "10.0.0.0/8/8"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_cidr(bad));
  }
}
