// SPDX-License-Identifier: Apache-2.0
#include "kube/host_lookup.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include "base/unique_fd.h"

namespace lameduck {

struct HostLookup::Shared {
  std::mutex mutex;
  std::optional<LookupAnswer> answer;
  UniqueFd event_fd;
};

namespace {

LookupAnswer resolve(const std::string& host) {
  LookupAnswer answer;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    answer.error = gai_strerror(rc);
    return answer;
  }
  for (addrinfo* it = list; it != nullptr; it = it->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* address = nullptr;
    if (it->ai_family == AF_INET) {
      address = &reinterpret_cast<sockaddr_in*>(it->ai_addr)->sin_addr;
    } else if (it->ai_family == AF_INET6) {
      address = &reinterpret_cast<sockaddr_in6*>(it->ai_addr)->sin6_addr;
    } else {
      continue;
    }
    if (inet_ntop(it->ai_family, address, text, sizeof text) == nullptr) continue;
    std::string numeric = it->ai_family == AF_INET6 ? "[" + std::string(text) + "]" : text;
    bool seen = false;
    for (const auto& a : answer.addresses) seen = seen || a == numeric;
    if (!seen) answer.addresses.push_back(numeric);
  }
  ::freeaddrinfo(list);
  if (answer.addresses.empty()) answer.error = "no IPv4 or IPv6 address";
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
