// SPDX-License-Identifier: Apache-2.0
#include "kube/resolver.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/small_file.h"
#include "base/unique_fd.h"
#include "kube/dns_message.h"

namespace lameduck {
namespace {

constexpr std::size_t kMaxHostsBytes = 1u << 20;
constexpr std::size_t kMaxResolvConfBytes = 64u << 10;
constexpr std::size_t kMaxNamesInError = 6;

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; };
           return lower(x) == lower(y);
         });
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

template <typename Fn>
void for_each_line(std::string_view text, Fn fn) {
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    fn(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

// "10.96.0.1" or "fd00::1" in canonical text; empty when text is neither.
std::string numeric(std::string_view text) {
  std::string s(text);
  unsigned char bytes[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, s.c_str(), bytes) == 1) {
    return inet_ntop(AF_INET, bytes, out, sizeof out) != nullptr ? out : "";
  }
  if (inet_pton(AF_INET6, s.c_str(), bytes) == 1) {
    return inet_ntop(AF_INET6, bytes, out, sizeof out) != nullptr ? out : "";
  }
  return {};
}

int option_value(std::string_view option, std::string_view key, int current, int max) {
  if (option.substr(0, key.size()) != key) return current;
  int value = 0;
  for (char c : option.substr(key.size())) {
    if (c < '0' || c > '9') break;
    value = std::min(value * 10 + (c - '0'), 1000);
  }
  return std::min(value, max);
}

std::optional<Nameserver> nameserver(std::string_view text, std::uint16_t port) {
  Nameserver ns;
  std::string s(text);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ns.address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ns.address);
  if (inet_pton(AF_INET, s.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    ns.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, s.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    ns.length = sizeof(sockaddr_in6);
  } else {
    return std::nullopt;  // also "fe80::1%eth0": scoped addresses are not supported
  }
  ns.text = s;
  return ns;
}

bool same_address(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
  const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
  return x.sin6_port == y.sin6_port &&
         std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
}

// Query ids from the kernel's random pool; the kernel picks a random source port.
std::uint16_t random_id() {
  std::uint16_t id = 0;
  if (::getrandom(&id, sizeof id, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof id)) {
    auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    id = static_cast<std::uint16_t>(static_cast<std::uint64_t>(t) * 0x9e3779b97f4a7c15ull >> 48);
  }
  return id;
}

// What one try of one server said about one name.
struct Outcome {
  enum Kind { found, nxdomain, nodata, servfail, truncated, timeout, refused, malformed, failed };
  Kind kind = timeout;
  std::vector<std::string> addresses;
  std::string detail;  // servfail: the rcode; malformed, failed: why
  std::string server;  // the nameserver that said it
};

// The name is known to DNS (or known not to exist): asking another server changes nothing.
bool settled(Outcome::Kind k) {
  return k == Outcome::found || k == Outcome::nxdomain || k == Outcome::nodata;
}

// Asks ns for the A and the AAAA records of name at once (like glibc), from one
// connected UDP socket, and waits at most timeout_s for both.
Outcome ask(const Nameserver& ns, const std::string& name, int timeout_s) {
  Outcome out;
  UniqueFd fd(::socket(ns.address.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  auto fail = [&out](Outcome::Kind kind, std::string detail) {
    out.kind = kind;
    out.detail = std::move(detail);
    return out;
  };
  if (!fd) return fail(Outcome::failed, std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ns.address), ns.length) != 0) {
    return fail(Outcome::failed, std::string("connect: ") + std::strerror(errno));
  }
  const std::uint16_t types[2] = {dns::kTypeA, dns::kTypeAaaa};
  std::uint16_t ids[2] = {random_id(), random_id()};
  while (ids[1] == ids[0]) ids[1] = random_id();
  for (int i = 0; i < 2; ++i) {
    std::string query = dns::build_query(ids[i], name, types[i]);
    if (::send(fd.get(), query.data(), query.size(), 0) < 0) {
      if (errno == ECONNREFUSED) return fail(Outcome::refused, {});
      return fail(Outcome::failed, std::string("send: ") + std::strerror(errno));
    }
  }
  dns::Reply replies[2];
  bool got[2] = {false, false};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (!(got[0] && got[1])) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) break;
    pollfd p{fd.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60000)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    char buffer[4096];
    sockaddr_storage from{};
    socklen_t from_length = sizeof from;
    ssize_t got_bytes = ::recvfrom(fd.get(), buffer, sizeof buffer, 0,
                                   reinterpret_cast<sockaddr*>(&from), &from_length);
    if (got_bytes < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      if (errno == ECONNREFUSED) return fail(Outcome::refused, {});
      return fail(Outcome::failed, std::string("recv: ") + std::strerror(errno));
    }
    if (!same_address(from, ns.address)) continue;  // not from the server we asked
    std::string_view bytes(buffer, static_cast<std::size_t>(got_bytes));
    for (int i = 0; i < 2; ++i) {
      if (got[i]) continue;
      dns::Reply reply = dns::parse_reply(bytes, ids[i], name, types[i]);
      if (reply.verdict == dns::Reply::Verdict::not_ours) continue;
      if (reply.verdict == dns::Reply::Verdict::malformed) {
        return fail(Outcome::malformed, reply.error);
      }
      replies[i] = std::move(reply);
      got[i] = true;
      break;
    }
  }
  if (!got[0] && !got[1]) return fail(Outcome::timeout, {});
  for (int i = 0; i < 2; ++i) {
    if (!got[i]) continue;
    for (auto& a : replies[i].addresses) out.addresses.push_back(std::move(a));
  }
  if (!out.addresses.empty()) {
    out.kind = Outcome::found;
    return out;
  }
  for (int i = 0; i < 2; ++i) {
    if (got[i] && replies[i].rcode == dns::kRcodeNxDomain) return fail(Outcome::nxdomain, {});
  }
  for (int i = 0; i < 2; ++i) {
    if (got[i] && replies[i].rcode != dns::kRcodeNoError) {
      return fail(Outcome::servfail, dns::rcode_name(replies[i].rcode));
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (got[i] && replies[i].truncated) return fail(Outcome::truncated, {});
  }
  if (got[0] && got[1]) return fail(Outcome::nodata, {});
  return fail(Outcome::timeout, {});  // one NOERROR without records, the other silent
}

// Every try of every server for name, until one settles it.
Outcome query(const std::string& name, const ResolvConf& conf) {
  Outcome last;
  Outcome worst;  // the most telling failure: servfail > malformed > truncated > ...
  auto rank = [](Outcome::Kind k) {
    switch (k) {
      case Outcome::servfail: return 5;
      case Outcome::malformed: return 4;
      case Outcome::truncated: return 3;
      case Outcome::failed: return 2;
      case Outcome::refused: return 1;
      default: return 0;
    }
  };
  for (int attempt = 0; attempt < conf.attempts; ++attempt) {
    for (const auto& ns : conf.nameservers) {
      last = ask(ns, name, conf.timeout_s);
      if (settled(last.kind)) return last;
      last.server = ns.text;
      if (rank(last.kind) >= rank(worst.kind)) worst = last;
    }
  }
  return worst;
}

std::string servers_text(const ResolvConf& conf) {
  std::string out;
  for (const auto& ns : conf.nameservers) out += (out.empty() ? "" : ", ") + ns.text;
  if (conf.default_nameserver) out += " (/etc/resolv.conf names no nameserver)";
  return out;
}

}  // namespace

ResolvConf parse_resolv_conf(std::string_view text, std::uint16_t port) {
  ResolvConf conf;
  for_each_line(text, [&](std::string_view line) {
    if (!line.empty() && (line[0] == '#' || line[0] == ';')) return;
    auto w = words(line);
    if (w.empty()) return;
    if (w[0] == "nameserver" && w.size() >= 2) {
      if (conf.nameservers.size() >= kMaxNameservers) return;
      if (auto ns = nameserver(w[1], port)) conf.nameservers.push_back(std::move(*ns));
    } else if ((w[0] == "search" || w[0] == "domain") && w.size() >= 2) {
      conf.search.clear();
      for (std::size_t i = 1; i < w.size() && conf.search.size() < kMaxSearchDomains; ++i) {
        if (w[i][0] == '#' || w[i][0] == ';') break;
        std::string_view d = w[i];
        while (!d.empty() && d.back() == '.') d.remove_suffix(1);
        if (!d.empty()) conf.search.emplace_back(d);
        if (w[0] == "domain") break;
      }
    } else if (w[0] == "options") {
      for (std::size_t i = 1; i < w.size(); ++i) {
        conf.ndots = option_value(w[i], "ndots:", conf.ndots, 15);
        conf.timeout_s = option_value(w[i], "timeout:", conf.timeout_s, 30);
        conf.attempts = option_value(w[i], "attempts:", conf.attempts, 5);
      }
    }
  });
  conf.timeout_s = std::max(conf.timeout_s, 1);
  conf.attempts = std::max(conf.attempts, 1);
  if (conf.nameservers.empty()) {
    conf.nameservers.push_back(*nameserver("127.0.0.1", port));
    conf.default_nameserver = true;
  }
  return conf;
}

std::vector<std::string> hosts_addresses(std::string_view text, std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::vector<std::string> out;
  for_each_line(text, [&](std::string_view line) {
    line = line.substr(0, line.find('#'));
    auto w = words(line);
    if (w.size() < 2) return;
    if (std::none_of(w.begin() + 1, w.end(), [&](std::string_view n) { return iequal(n, name); })) {
      return;
    }
    std::string address = numeric(w[0]);
    if (!address.empty() && std::find(out.begin(), out.end(), address) == out.end() &&
        out.size() < dns::kMaxAddresses) {
      out.push_back(std::move(address));
    }
  });
  return out;
}

std::vector<std::string> search_names(std::string_view name, const ResolvConf& conf) {
  std::vector<std::string> out;
  auto add = [&out](std::string candidate) {
    if (!dns::wire_name(candidate).empty()) out.push_back(std::move(candidate));
  };
  if (!name.empty() && name.back() == '.') {
    add(std::string(name.substr(0, name.size() - 1)));
    return out;
  }
  auto dots = static_cast<int>(std::count(name.begin(), name.end(), '.'));
  bool alone_first = dots >= conf.ndots;
  if (alone_first) add(std::string(name));
  for (const auto& domain : conf.search) add(std::string(name) + "." + domain);
  if (!alone_first) add(std::string(name));
  return out;
}

Resolution resolve_host(const std::string& host, const ResolverFiles& files) {
  Resolution result;
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  if (auto literal = numeric(bare); !literal.empty()) {
    result.addresses.push_back(literal);
    return result;
  }
  if (SmallFile hosts = read_small_file("the hosts file", files.hosts, kMaxHostsBytes);
      hosts.ok()) {
    result.addresses = hosts_addresses(hosts.data, host);
    if (!result.addresses.empty()) return result;
  }
  SmallFile resolv = read_small_file("resolv.conf", files.resolv_conf, kMaxResolvConfBytes);
  ResolvConf conf = parse_resolv_conf(resolv.ok() ? resolv.data : "", files.port);
  std::vector<std::string> names = search_names(host, conf);
  if (names.empty()) {
    result.error = "not a valid host name";
    return result;
  }
  // What each name tried got, grouped: "NXDOMAIN for a, b; no A/AAAA record for c".
  std::vector<std::pair<std::string, std::vector<std::string>>> not_found;
  std::size_t listed = 0;
  for (const auto& name : names) {
    Outcome o = query(name, conf);
    switch (o.kind) {
      case Outcome::found: result.addresses = std::move(o.addresses); return result;
      case Outcome::nxdomain:
      case Outcome::nodata:
      case Outcome::servfail: {
        // Like glibc: the next search name after these three; any other failure ends it.
        std::string what = o.kind == Outcome::nxdomain ? "NXDOMAIN"
                           : o.kind == Outcome::nodata ? "no A/AAAA record"
                                                       : o.detail + " from " + o.server;
        if (listed++ >= kMaxNamesInError) continue;
        auto group = std::find_if(not_found.begin(), not_found.end(),
                                  [&](const auto& g) { return g.first == what; });
        if (group == not_found.end()) group = not_found.insert(not_found.end(), {what, {}});
        group->second.push_back(name);
        continue;
      }
      case Outcome::timeout:
        result.error = "no answer from nameserver " + servers_text(conf) + " for " + name +
                       " (options timeout:" + std::to_string(conf.timeout_s) +
                       " attempts:" + std::to_string(conf.attempts) + ")";
        return result;
      case Outcome::refused:
        result.error =
            "nameserver " + o.server + " refused the query (port unreachable) for " + name;
        if (conf.default_nameserver) result.error += " (/etc/resolv.conf names no nameserver)";
        return result;
      case Outcome::truncated:
        result.error = "a truncated reply without an address from " + o.server + " for " + name +
                       " (lameduck does not retry over TCP)";
        return result;
      case Outcome::malformed:
        result.error = "a malformed DNS reply from " + o.server + " for " + name + ": " + o.detail;
        return result;
      case Outcome::failed:
        result.error = "cannot ask nameserver " + o.server + " for " + name + ": " + o.detail;
        return result;
    }
  }
  std::string text;
  for (const auto& [what, which] : not_found) {
    text += (text.empty() ? "" : "; ") + what + " for ";
    for (std::size_t i = 0; i < which.size(); ++i) text += (i == 0 ? "" : ", ") + which[i];
  }
  if (listed > kMaxNamesInError) {
    text += " (and " + std::to_string(listed - kMaxNamesInError) + " more names)";
  }
  result.error =
      "not in " + files.hosts + ", and DNS (" + servers_text(conf) + ") has no address: " + text;
  return result;
}

}  // namespace lameduck
