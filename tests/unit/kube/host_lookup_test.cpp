// SPDX-License-Identifier: Apache-2.0
#include "kube/host_lookup.h"

#include <doctest/doctest.h>
#include <poll.h>

using namespace lameduck;

TEST_CASE("IP literals need no lookup") {
  CHECK(is_ip_literal("10.96.0.1"));
  CHECK(is_ip_literal("fd00::1"));
  CHECK(is_ip_literal("[fd00::1]"));
  CHECK_FALSE(is_ip_literal("kubernetes.default.svc"));
  CHECK_FALSE(is_ip_literal("10.96.0.1.nip.io"));
  CHECK_FALSE(is_ip_literal(""));
}

TEST_CASE("host and port of an API URL") {
  std::string host;
  std::string port;
  CHECK(url_host_port("https://10.96.0.1:6443/apis", host, port));
  CHECK(host == "10.96.0.1");
  CHECK(port == "6443");
  CHECK(url_host_port("https://[fd00::1]:443", host, port));
  CHECK(host == "fd00::1");
  CHECK(port == "443");
  CHECK(url_host_port("https://kubernetes.default.svc/apis?x=1", host, port));
  CHECK(host == "kubernetes.default.svc");
  CHECK(port == "443");
  CHECK_FALSE(url_host_port("https:///x", host, port));
}

TEST_CASE("a lookup answers through its eventfd") {
  HostLookup lookup("localhost");
  REQUIRE(lookup.fd() >= 0);
  pollfd fd{lookup.fd(), POLLIN, 0};
  REQUIRE(::poll(&fd, 1, 10000) == 1);
  auto answer = lookup.answer();
  REQUIRE(answer);
  CHECK(answer->ok());
  CHECK_FALSE(answer->addresses.empty());
}

TEST_CASE("a lookup that fails says why") {
  HostLookup lookup("no-such-host.invalid");
  pollfd fd{lookup.fd(), POLLIN, 0};
  REQUIRE(::poll(&fd, 1, 20000) == 1);
  auto answer = lookup.answer();
  REQUIRE(answer);
  CHECK_FALSE(answer->ok());
}
