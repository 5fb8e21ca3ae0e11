// SPDX-License-Identifier: Apache-2.0
#include "traffic/net_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace lameduck {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

IpAddress IpAddress::v4(std::uint32_t network_order) {
  IpAddress ip;
  std::memcpy(ip.bytes.data(), kMappedPrefix.data(), kMappedPrefix.size());
  std::memcpy(ip.bytes.data() + 12, &network_order, 4);
  return ip;
}

IpAddress IpAddress::v6(const std::uint8_t (&raw)[16]) {
  IpAddress ip;
  std::memcpy(ip.bytes.data(), raw, 16);
  return ip;
}

bool IpAddress::is_v4() const {
  return std::memcmp(bytes.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0;
}

bool IpAddress::is_loopback() const {
  if (is_v4()) return bytes[12] == 127;
  static constexpr std::array<std::uint8_t, 16> kLoopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                          0, 0, 0, 0, 0, 0, 0, 1};
  return bytes == kLoopback;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return IpAddress::v4(v4.s_addr);
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) return IpAddress::v6(v6.s6_addr);
  return std::nullopt;
}

std::string format_ip(const IpAddress& ip) {
  char text[INET6_ADDRSTRLEN] = "";
  if (ip.is_v4()) {
    inet_ntop(AF_INET, ip.bytes.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, ip.bytes.data(), text, sizeof text);
  }
  return text;
}

std::string format_endpoint(const IpAddress& ip, std::uint16_t port) {
  auto host = format_ip(ip);
  if (!ip.is_v4()) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

bool Cidr::contains(const IpAddress& ip) const {
  int full = prefix / 8;
  if (std::memcmp(base.bytes.data(), ip.bytes.data(), static_cast<std::size_t>(full)) != 0) {
    return false;
  }
  int rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (base.bytes[full] & mask) == (ip.bytes[full] & mask);
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip) return std::nullopt;
  int max = ip->is_v4() ? 32 : 128;
  int prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
        prefix < 0 || prefix > max) {
      return std::nullopt;
    }
  }
  Cidr cidr{*ip, ip->is_v4() ? prefix + 96 : prefix};
  // Clear the host bits, so "10.1.2.3/8" and "10.0.0.0/8" are the same range.
  for (int bit = cidr.prefix; bit < 128; ++bit) {
    cidr.base.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  }
  return cidr;
}

std::string format_cidr(const Cidr& cidr) {
  bool v4 = cidr.base.is_v4() && cidr.prefix >= 96;
  return format_ip(cidr.base) + "/" + std::to_string(v4 ? cidr.prefix - 96 : cidr.prefix);
}

}  // namespace lameduck
