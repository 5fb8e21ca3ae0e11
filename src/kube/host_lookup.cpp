// SPDX-License-Identifier: Apache-2.0
#include "kube/host_lookup.h"

#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include "base/unique_fd.h"
#include "kube/resolver.h"

namespace lameduck {

struct HostLookup::Shared {
  std::mutex mutex;
  std::optional<LookupAnswer> answer;
  UniqueFd event_fd;
};

namespace {

LookupAnswer resolve(const std::string& host) {
  Resolution r = resolve_host(host);
  LookupAnswer answer;
  answer.error = std::move(r.error);
  for (auto& a : r.addresses) {
    answer.addresses.push_back(a.find(':') != std::string::npos ? "[" + a + "]" : std::move(a));
  }
  return answer;
}

}  // namespace

HostLookup::HostLookup(const std::string& host) : host_(host), shared_(std::make_shared<Shared>()) {
  shared_->event_fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  // The thread inherits lameduck's blocked signal mask (main blocks everything first), so
  // no signal is ever delivered to it.
  try {
    std::thread([shared = shared_, host] {
      LookupAnswer answer = resolve(host);
      std::lock_guard lock(shared->mutex);
      shared->answer = std::move(answer);
      if (shared->event_fd) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(shared->event_fd.get(), &one, sizeof one);
      }
    }).detach();
  } catch (const std::system_error& e) {
    std::lock_guard lock(shared_->mutex);
    shared_->answer = LookupAnswer{{}, std::string("cannot start a thread: ") + e.what()};
  }
}

int HostLookup::fd() const {
  return shared_->event_fd.get();
}

std::optional<LookupAnswer> HostLookup::answer() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->answer;
}

std::shared_ptr<HostLookup> shared_lookup(const std::string& host) {
  static std::shared_ptr<HostLookup> lookup;
  if (lookup && lookup->host() == host) {
    auto answer = lookup->answer();
    if (!answer || answer->ok()) return lookup;
  }
  lookup = std::make_shared<HostLookup>(host);
  return lookup;
}

void prefetch_host(const std::string& url) {
  std::string host;
  std::string port;
  if (url_host_port(url, host, port) && !is_ip_literal(host)) shared_lookup(host);
}

bool is_ip_literal(const std::string& host) {
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  in6_addr v6{};
  in_addr v4{};
  return inet_pton(AF_INET, bare.c_str(), &v4) == 1 || inet_pton(AF_INET6, bare.c_str(), &v6) == 1;
}

bool url_host_port(const std::string& url, std::string& host, std::string& port) {
  auto scheme = url.find("://");
  std::size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  std::size_t end = url.find_first_of("/?#", start);
  std::string authority =
      url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  port.clear();
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return false;
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (port.empty()) port = "443";
  return !host.empty();
}

}  // namespace lameduck
