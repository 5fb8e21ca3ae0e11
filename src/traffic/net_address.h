// SPDX-License-Identifier: Apache-2.0
// IP addresses and CIDR ranges as plain values, for --ignore-peer and the traffic wait's
// attribution of connections to peers. IPv4 is kept as IPv4-mapped IPv6 (::ffff:a.b.c.d),
// the form sock_diag reports for IPv4 peers of dual-stack sockets, so one compare covers both.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lameduck {

struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 as ::ffff:a.b.c.d

  static IpAddress v4(std::uint32_t network_order);
  static IpAddress v6(const std::uint8_t (&raw)[16]);
  bool is_v4() const;
  bool is_loopback() const;  // 127.0.0.0/8 or ::1
  bool operator==(const IpAddress&) const = default;
  bool operator<(const IpAddress& other) const { return bytes < other.bytes; }
};

// "10.0.3.7", "fd00::1", "::ffff:10.0.3.7"; nullopt for anything else.
std::optional<IpAddress> parse_ip(std::string_view text);

// "10.0.3.7" for IPv4 (also when mapped), "fd00::1" for IPv6.
std::string format_ip(const IpAddress& ip);

// "10.0.3.7:41822" or "[fd00::1]:41822".
std::string format_endpoint(const IpAddress& ip, std::uint16_t port);

struct Cidr {
  IpAddress base;
  int prefix = 128;  // in IPv6 bits: an IPv4 /24 is stored as /120
  bool contains(const IpAddress& ip) const;
  bool operator==(const Cidr&) const = default;
};

// "10.0.0.0/8", "fd00::/64", or a bare address (a single host). nullopt when malformed.
std::optional<Cidr> parse_cidr(std::string_view text);

// "10.0.0.0/8" or "fd00::/64", as a user would write it.
std::string format_cidr(const Cidr& cidr);

}  // namespace lameduck
