// SPDX-License-Identifier: Apache-2.0
#include "kube/resolver.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "kube/dns_message.h"

using namespace lameduck;

namespace {

using Names = std::vector<std::string>;

struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/resolver-test-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() { std::system(("rm -rf " + path).c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string write(const std::string& name, const std::string& content) const {
    std::string file = path + "/" + name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }
};

// A DNS server on 127.0.0.1 and a free port, on a thread: answer(query) gives the reply
// bytes (empty: no reply).
class FakeDns {
 public:
  explicit FakeDns(std::function<std::string(const std::string&)> answer)
      : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t n = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeDns() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  FakeDns(const FakeDns&) = delete;
  FakeDns& operator=(const FakeDns&) = delete;
  std::uint16_t port() const { return port_; }
  std::vector<std::string> asked;  // the names asked, in order (read after a resolve)

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      char buffer[512];
      sockaddr_in from{};
      socklen_t n = sizeof from;
      ssize_t got =
          ::recvfrom(fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &n);
      if (got <= 12) continue;
      std::string query(buffer, static_cast<std::size_t>(got));
      std::size_t at = 12;
      auto name = dns::read_name(query, at);
      if (name && (query[at + 1] == dns::kTypeA)) asked.push_back(*name);
      std::string reply = answer_(query);
      if (!reply.empty()) {
        ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), n);
      }
    }
  }
  std::function<std::string(const std::string&)> answer_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The reply to query: rcode, plus an A record 10.96.0.1 when the query is for want (wire
// form) and A; the question is copied.
std::string reply_to(const std::string& query, const std::string& want, bool nxdomain_else) {
  std::string reply = query;
  reply[2] = static_cast<char>(0x81);
  std::size_t at = 12;
  auto name = dns::read_name(query, at);
  bool a = static_cast<unsigned char>(query[at + 1]) == dns::kTypeA;
  bool match = name && *name == want;
  reply[3] = static_cast<char>(0x80 | (match || !nxdomain_else ? 0 : dns::kRcodeNxDomain));
  if (match && a) {
    reply[7] = 1;
    reply += std::string("\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x1e\x00\x04\x0a\x60\x00\x01", 16);
  }
  return reply;
}

}  // namespace

TEST_CASE("resolv.conf: nameservers, search, options") {
  ResolvConf c = parse_resolv_conf(
      "# Kubernetes\n"
      "nameserver 10.96.0.10\n"
      "nameserver fd00::a\n"
      "nameserver not-an-address\n"
      "search default.svc.cluster.local svc.cluster.local cluster.local.\n"
      "options ndots:5 timeout:2 attempts:3 rotate\n");
  REQUIRE(c.nameservers.size() == 2);
  CHECK(c.nameservers[0].text == "10.96.0.10");
  CHECK(c.nameservers[0].address.ss_family == AF_INET);
  CHECK(c.nameservers[1].address.ss_family == AF_INET6);
  CHECK(c.search == Names{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"});
  CHECK(c.ndots == 5);
  CHECK(c.timeout_s == 2);
  CHECK(c.attempts == 3);
  CHECK_FALSE(c.default_nameserver);
}

TEST_CASE("resolv.conf: glibc's defaults, caps and last-wins") {
  ResolvConf empty = parse_resolv_conf("");
  REQUIRE(empty.nameservers.size() == 1);
  CHECK(empty.nameservers[0].text == "127.0.0.1");
  CHECK(empty.default_nameserver);
  CHECK(empty.ndots == 1);
  CHECK(empty.timeout_s == 5);
  CHECK(empty.attempts == 2);
  ResolvConf c = parse_resolv_conf(
      "nameserver 1.1.1.1\nnameserver 1.1.1.2\nnameserver 1.1.1.3\nnameserver 1.1.1.4\n"
      "search a.example b.example\ndomain c.example\n"
      "options ndots:99 timeout:999 attempts:0\n");
  CHECK(c.nameservers.size() == 3);
  CHECK(c.search == Names{"c.example"});
  CHECK(c.ndots == 15);
  CHECK(c.timeout_s == 30);
  CHECK(c.attempts == 1);
}

TEST_CASE("hosts: every address of the lines that name the host") {
  std::string hosts =
      "127.0.0.1 localhost\n"
      "# 10.0.0.9 api.example\n"
      "10.0.0.1\tAPI.example api # the API\n"
      "fd00::1 api.example\n"
      "10.0.0.1 api.example\n"
      "999.0.0.1 api.example\n";
  CHECK(hosts_addresses(hosts, "api.example") == Names{"10.0.0.1", "fd00::1"});
  CHECK(hosts_addresses(hosts, "api.example.") == Names{"10.0.0.1", "fd00::1"});
  CHECK(hosts_addresses(hosts, "api") == Names{"10.0.0.1"});
  CHECK(hosts_addresses(hosts, "example").empty());
}

TEST_CASE("search: like glibc's res_search") {
  ResolvConf k8s = parse_resolv_conf(
      "search default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n");
  CHECK(search_names("kubernetes.default.svc", k8s) ==
        Names{"kubernetes.default.svc.default.svc.cluster.local",
              "kubernetes.default.svc.svc.cluster.local", "kubernetes.default.svc.cluster.local",
              "kubernetes.default.svc"});
  CHECK(search_names("api.example.com.", k8s) == Names{"api.example.com"});
  ResolvConf one = parse_resolv_conf("search corp.example\n");
  CHECK(search_names("api.example.com", one) ==
        Names{"api.example.com", "api.example.com.corp.example"});
  CHECK(search_names("api", one) == Names{"api.corp.example", "api"});
  CHECK(search_names("a..b", one).empty());
}

TEST_CASE("resolve: literals and /etc/hosts need no DNS") {
  TempDir dir;
  ResolverFiles files{dir.write("hosts", "10.0.0.1 api.example\n"),
                      dir.write("resolv.conf", "nameserver 127.0.0.1\n"), 9};
  CHECK(resolve_host("10.1.2.3", files).addresses == Names{"10.1.2.3"});
  CHECK(resolve_host("[fd00::1]", files).addresses == Names{"fd00::1"});
  CHECK(resolve_host("api.example", files).addresses == Names{"10.0.0.1"});
}

TEST_CASE("resolve: search domains and ndots over DNS, A and AAAA") {
  FakeDns dns([](const std::string& q) {
    return reply_to(q, dns::wire_name("kubernetes.default.svc.cluster.local"), true);
  });
  TempDir dir;
  ResolverFiles files{dir.write("hosts", "127.0.0.1 localhost\n"),
                      dir.write("resolv.conf",
                                "nameserver 127.0.0.1\n"
                                "search default.svc.cluster.local svc.cluster.local cluster.local\n"
                                "options ndots:5 timeout:2\n"),
                      dns.port()};
  Resolution r = resolve_host("kubernetes.default.svc", files);
  CHECK(r.ok());
  CHECK(r.addresses == Names{"10.96.0.1"});
  CHECK(dns.asked == Names{dns::wire_name("kubernetes.default.svc.default.svc.cluster.local"),
                           dns::wire_name("kubernetes.default.svc.svc.cluster.local"),
                           dns::wire_name("kubernetes.default.svc.cluster.local")});
}

TEST_CASE("resolve: NXDOMAIN everywhere names what was tried") {
  FakeDns dns([](const std::string& q) { return reply_to(q, "", true); });
  TempDir dir;
  ResolverFiles files{dir.write("hosts", ""),
                      dir.write("resolv.conf", "nameserver 127.0.0.1\nsearch a.example\n"),
                      dns.port()};
  Resolution r = resolve_host("api", files);
  CHECK_FALSE(r.ok());
  CHECK(r.error.find("has no address: NXDOMAIN for api.a.example, api") != std::string::npos);
}

TEST_CASE("resolve: a server that never answers times out after timeout x attempts") {
  FakeDns dns([](const std::string&) { return std::string(); });
  TempDir dir;
  ResolverFiles files{
      dir.write("hosts", ""),
      dir.write("resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), dns.port()};
  auto t0 = std::chrono::steady_clock::now();
  Resolution r = resolve_host("api.example.com", files);
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK_FALSE(r.ok());
  CHECK(r.error.find("no answer from nameserver 127.0.0.1 for api.example.com") !=
        std::string::npos);
  CHECK(took >= std::chrono::milliseconds(900));
  CHECK(took < std::chrono::seconds(3));
}

TEST_CASE("resolve: a reply with another id is ignored; a malformed one is an error") {
  FakeDns wrong_id([](const std::string& q) {
    std::string r = reply_to(q, dns::wire_name("api.example.com"), true);
    r[0] = static_cast<char>(r[0] ^ 0x55);
    return r;
  });
  TempDir dir;
  ResolverFiles files{
      dir.write("hosts", ""),
      dir.write("resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"),
      wrong_id.port()};
  CHECK(resolve_host("api.example.com", files).error.find("no answer") != std::string::npos);
  FakeDns bad([](const std::string& q) {
    std::string r = reply_to(q, dns::wire_name("api.example.com"), true);
    r[7] = 9;  // nine answers, one there
    return r;
  });
  files.port = bad.port();
  Resolution r = resolve_host("api.example.com", files);
  CHECK(r.error.find("a malformed DNS reply from 127.0.0.1 for api.example.com") !=
        std::string::npos);
}
