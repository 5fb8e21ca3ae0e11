// SPDX-License-Identifier: Apache-2.0
// lameduck's own host name resolver, for a host name in --api-server (host_lookup.h runs
// it on its thread). The static binary does not link glibc's getaddrinfo: that one
// brings NSS and dlopen (168 KiB) and, linked statically, needs the shared NSS modules of
// the glibc it was built with at run time, which a FROM scratch or distroless image lacks.
//
// What it does, in glibc's order (README.md, "Hardening against the outside world"):
//   1. an IPv4 or IPv6 literal is its own answer;
//   2. /etc/hosts: every address of a line that names the host (case-insensitive);
//   3. DNS over UDP to the nameservers of /etc/resolv.conf (at most 3; 127.0.0.1 when it
//      names none), A and AAAA at once, with `search` and `ndots` applied like glibc's
//      res_search (Kubernetes Pods: ndots:5 and three search domains), `options timeout:`
//      and `attempts:`, and CNAME chains in the answer.
// Not supported: nsswitch.conf (always files, then dns), mDNS, DNSSEC, EDNS0, TCP (a
// truncated reply is used for the addresses it holds), `options rotate`, `domain`-less
// search from the host name, scoped (%eth0) IPv6 nameservers.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <string_view>
#include <vector>

namespace lameduck {

struct Nameserver {
  sockaddr_storage address{};
  socklen_t length = 0;
  std::string text;  // "10.96.0.10", for messages
};

struct ResolvConf {
  std::vector<Nameserver> nameservers;  // at most kMaxNameservers
  std::vector<std::string> search;      // without trailing dots
  int ndots = 1;
  int timeout_s = 5;                // per try and server
  int attempts = 2;                 // tries of each server
  bool default_nameserver = false;  // none in the file: 127.0.0.1, like glibc
};

inline constexpr std::size_t kMaxNameservers = 3;  // glibc's MAXNS
inline constexpr std::size_t kMaxSearchDomains = 32;

// The text of /etc/resolv.conf read like glibc: `nameserver`, `search` and `domain` (the
// last of the two wins), `options ndots:N timeout:N attempts:N` (capped at 15, 30, 5);
// the rest is ignored. port is for tests (DNS is 53).
ResolvConf parse_resolv_conf(std::string_view text, std::uint16_t port = 53);

// The numeric addresses /etc/hosts text gives name, in the file's order, without repeats.
std::vector<std::string> hosts_addresses(std::string_view text, std::string_view name);

// The names to ask DNS for, in order, like glibc's res_search: a trailing dot means the
// name alone; otherwise the name first when it has at least ndots dots, then the name in
// each search domain, then the name alone when it was not first.
std::vector<std::string> search_names(std::string_view name, const ResolvConf& conf);

struct Resolution {
  std::vector<std::string> addresses;  // numeric; IPv6 without brackets
  std::string error;                   // empty when addresses holds one at least
  bool ok() const { return error.empty(); }
};

struct ResolverFiles {
  std::string hosts = "/etc/hosts";
  std::string resolv_conf = "/etc/resolv.conf";
  std::uint16_t port = 53;  // tests only
};

// Resolves host; blocks for as long as DNS takes (at most attempts x servers x timeout per
// name tried): run it off the loop.
Resolution resolve_host(const std::string& host, const ResolverFiles& files = {});

}  // namespace lameduck
