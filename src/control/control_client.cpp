// SPDX-License-Identifier: Apache-2.0
#include "control/control_client.h"

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace lameduck {
namespace {

// At most this many other names are tried: a squatter could bind thousands.
constexpr std::size_t kMaxCandidates = 64;
constexpr Millis kBusyPause{20};

std::string read_all(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The inodes of PID 1's sockets, from /proc/1/fd (empty when it cannot be read: another
// uid without CAP_SYS_PTRACE).
std::set<std::uint64_t> pid1_socket_inodes() {
  std::set<std::uint64_t> out;
  DIR* dir = ::opendir("/proc/1/fd");
  if (dir == nullptr) return out;
  while (dirent* entry = ::readdir(dir)) {
    std::string path = std::string("/proc/1/fd/") + entry->d_name;
    char target[64] = {};
    ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    std::string_view link(target, n > 0 ? static_cast<std::size_t>(n) : 0);
    if (!link.starts_with("socket:[") || !link.ends_with("]")) continue;
    out.insert(std::strtoull(target + 8, nullptr, 10));
  }
  ::closedir(dir);
  return out;
}

}  // namespace

std::vector<UnixListener> find_listeners(std::string_view proc_net_unix, std::string_view prefix) {
  std::vector<UnixListener> out;
  std::istringstream in{std::string(proc_net_unix)};
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string num, refs, protocol, flags, type, state, inode, path;
    if (!(fields >> num >> refs >> protocol >> flags >> type >> state >> inode >> path)) continue;
    // __SO_ACCEPTCON (listening), SOCK_STREAM, an abstract name ("@").
    if (flags != "00010000" || type != "0001" || !path.starts_with('@')) continue;
    std::string_view name = std::string_view(path).substr(1);
    if (name != prefix && !(name.starts_with(prefix) && name.substr(prefix.size(), 1) == "/")) {
      continue;
    }
    out.push_back({std::string(name), std::strtoull(inode.c_str(), nullptr, 10)});
  }
  return out;
}

std::unique_ptr<ControlClient> ControlClient::connect(const std::string& name, std::string& why_not,
                                                      Millis busy_for, bool* busy) {
  if (busy != nullptr) *busy = false;
  sockaddr_un addr;
  socklen_t size = abstract_address(name, addr);
  auto until = Clock::now() + busy_for;
  for (;;) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      why_not = std::string("socket failed: ") + std::strerror(errno);
      return nullptr;
    }
    int rc;
    do {
      rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), size);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      int error = errno;
      // EAGAIN: the listen backlog is full; a busy PID 1 catches up in a moment.
      if (error == EAGAIN && Clock::now() < until) {
        std::this_thread::sleep_for(kBusyPause);
        continue;
      }
      if (busy != nullptr) *busy = error == EAGAIN;
      why_not = std::string("connect to @") + name + ": " + std::strerror(error);
      return nullptr;
    }
    auto server = peer_credentials(fd.get());
    if (!server) {
      why_not = std::string("SO_PEERCRED failed: ") + std::strerror(errno);
      return nullptr;
    }
    return std::unique_ptr<ControlClient>(new ControlClient(std::move(fd), *server));
  }
}

std::optional<std::string> ControlClient::send_drain_request() {
  return send_line(kDrainRequest);
}

std::optional<std::string> ControlClient::send_line(std::string_view line) {
  for (;;) {
    ssize_t n = ::send(fd_.get(), line.data(), line.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    // A fresh connection's buffer always takes one short line at once.
    if (n == static_cast<ssize_t>(line.size())) return std::nullopt;
    return std::string("send failed: ") + (n < 0 ? std::strerror(errno) : "short write");
  }
}

bool ControlClient::read_replies(std::vector<Reply>& out, std::string& closed_why) {
  char buffer[512];
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n <= 0) {
      closed_why = n == 0 ? "" : std::strerror(errno);
      return false;
    }
    if (!in_.append(std::string_view(buffer, static_cast<std::size_t>(n)))) {
      closed_why = "reply line too long";
      return false;
    }
    while (auto line = in_.next_line()) out.push_back(parse_reply(*line));
  }
}

Pid1Connection connect_to_pid1(std::uint64_t pid_namespace, uid_t own_uid, Millis busy_for) {
  using Failure = Pid1Connection::Failure;
  std::string base = control_socket_name(pid_namespace);
  Pid1Connection first;
  bool busy = false;
  first.client = ControlClient::connect(base, first.why, busy_for, &busy);
  if (!first.client) {
    first.failure = busy ? Failure::busy : Failure::absent;
    if (busy) {
      first.why = "its control socket's backlog stayed full for " + format_duration(busy_for);
    }
  } else if (auto refusal = refuse_server(first.client->server(), own_uid)) {
    first.failure = Failure::untrusted;
    first.why = *refusal;
    first.client.reset();
  } else {
    return first;
  }
  // PID 1 found the name taken and listens on name/<random>: look for it.
  auto candidates = find_listeners(read_all("/proc/net/unix"), base);
  auto own = pid1_socket_inodes();
  std::size_t tried = 0;
  for (const auto& listener : candidates) {
    if (listener.name == base) continue;
    if (!own.empty() && own.count(listener.inode) == 0) continue;
    if (++tried > kMaxCandidates) break;
    std::string why;
    auto client = ControlClient::connect(listener.name, why, busy_for);
    if (client && !refuse_server(client->server(), own_uid)) {
      Pid1Connection found;
      found.client = std::move(client);
      return found;
    }
  }
  return first;
}

}  // namespace lameduck
