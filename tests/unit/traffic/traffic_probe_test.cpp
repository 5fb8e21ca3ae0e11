// SPDX-License-Identifier: Apache-2.0
#include "traffic/traffic_probe.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"

using namespace lameduck;

namespace {

// The counter as a test sets it: each read returns the next value of the script (the
// last one again once the script is used up); nullopt is an unreadable counter.
std::vector<std::optional<std::uint64_t>> script;
std::size_t reads = 0;

std::optional<std::uint64_t> scripted_counter(std::string& error) {
  auto value = script.at(std::min(reads, script.size() - 1));
  ++reads;
  if (!value) error = "counter unreadable";
  return value;
}

// One look of this namespace with the counter scripted as `values`.
TrafficLook look_with_counter(bool baseline, std::vector<std::optional<std::uint64_t>> values) {
  script = std::move(values);
  reads = 0;
  SockDiagSocket diag;
  SockDiagEvents events;
  return take_look(diag, events, baseline, scripted_counter);
}

// A TCP listener on 127.0.0.1 and a port the kernel picks.
struct Listener {
  UniqueFd fd;
  std::uint16_t port = 0;
};

Listener listen_on_loopback() {
  Listener l;
  l.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(l.fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(l.fd.get(), 4) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  l.port = ntohs(addr.sin_port);
  return l;
}

bool lists_listener(const TrafficLook& look, std::uint16_t port) {
  if (!look.sockets) return false;
  return std::ranges::any_of(*look.sockets, [&](const SocketSample& s) {
    return s.state == TcpState::listen && s.local_port == port;
  });
}

}  // namespace

TEST_CASE("a baseline the counter moved across is taken again") {
  // First attempt: 10, then 11 after the list (a connection was accepted meanwhile);
  // second attempt: 11 before and after.
  TrafficLook look = look_with_counter(true, {10, 11, 11, 11});
  CHECK(reads == 4);
  CHECK(look.passive_opens == 11U);
  CHECK(look.error.empty());
}

TEST_CASE("a baseline the counter did not move across is taken once") {
  TrafficLook look = look_with_counter(true, {10, 10});
  CHECK(reads == 2);
  CHECK(look.passive_opens == 10U);
}

TEST_CASE("a baseline is taken at most kBaselineAttempts times, the last one kept") {
  // The counter moves across every attempt: 1..2, 3..4, then 5 is kept without a check.
  TrafficLook look = look_with_counter(true, {1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(reads == 2 * kBaselineAttempts - 1);
  CHECK(look.passive_opens == 2U * kBaselineAttempts - 1);
}

TEST_CASE("a later look is taken once, even while the counter moves") {
  // Taking it again would drop the destroy events its first attempt drained.
  TrafficLook look = look_with_counter(false, {10, 11, 12});
  CHECK(reads == 1);
  CHECK(look.passive_opens == 10U);
}

TEST_CASE("a baseline with an unreadable counter is not retaken, and says why") {
  TrafficLook look = look_with_counter(true, {std::nullopt, 10});
  CHECK(reads == 1);
  CHECK_FALSE(look.passive_opens);
  CHECK(look.error == "counter unreadable");
}

TEST_CASE("a look of this namespace lists its listening sockets and counts accepted ones") {
  Listener listener = listen_on_loopback();
  SockDiagSocket diag;
  SockDiagEvents events;
  TrafficLook before = take_look(diag, events, true);
  REQUIRE(before.passive_opens);
  CHECK(lists_listener(before, listener.port));
  CHECK(diag.is_open());

  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(client);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(listener.port);
  REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

  TrafficLook after = take_look(diag, events, false);
  REQUIRE(after.passive_opens);
  // The handshake is done once connect() returns: the server side counts as opened.
  // Other processes of the namespace may open more, never fewer.
  CHECK(*after.passive_opens >= *before.passive_opens + 1);
  CHECK(after.at >= before.at);
  REQUIRE(after.sockets);
  CHECK(std::ranges::any_of(*after.sockets, [&](const SocketSample& s) {
    return s.state == TcpState::established && s.local_port == listener.port;
  }));

  diag.close();
  CHECK_FALSE(diag.is_open());
}
