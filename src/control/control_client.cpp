// SPDX-License-Identifier: Apache-2.0
#include "control/control_client.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "base/procfs.h"
#include "base/text.h"
#include "base/unique_fd.h"

namespace lameduck {
namespace {

// At most this many other names are tried: a squatter could bind thousands.
constexpr std::size_t kMaxCandidates = 64;
constexpr Millis kBusyPause{20};

std::string read_all(const char* path) {
  std::string text;
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return text;
  char buffer[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace

std::vector<UnixListener> find_listeners(std::string_view proc_net_unix, std::string_view prefix) {
  std::vector<UnixListener> out;
  std::string_view rest = proc_net_unix;
  bool header = true;
  while (!rest.empty()) {
    std::string_view line = rest.substr(0, rest.find('\n'));
    rest.remove_prefix(std::min(rest.size(), line.size() + 1));
    if (std::exchange(header, false)) continue;
    // Num RefCount Protocol Flags Type St Inode Path
    auto fields = split_words(line);
    if (fields.size() < 8) continue;
    std::string_view flags = fields[3], type = fields[4], path = fields[7];
    std::string inode(fields[6]);
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

ControlConnection ControlClient::connect(const std::string& name, Millis busy_for,
                                         const RetryPause& pause) {
  using Failure = ControlConnection::Failure;
  ControlConnection out;
  sockaddr_un addr;
  socklen_t size = abstract_address(name, addr);
  auto until = Clock::now() + busy_for;
  for (;;) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      out.failure = Failure::absent;
      out.why = errno_text("socket failed");
      return out;
    }
    int rc;
    do {
      rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), size);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      int error = errno;
      // EAGAIN: the listen backlog is full; a busy PID 1 catches up in a moment.
      if (error == EAGAIN && Clock::now() < until) {
        if (pause && !pause(std::min(until, Clock::now() + kBusyPause))) {
          out.failure = Failure::interrupted;
          return out;
        }
        continue;
      }
      out.failure = error == EAGAIN ? Failure::busy : Failure::absent;
      out.why = errno_text("connect to @" + name, error);
      return out;
    }
    auto server = peer_credentials(fd.get());
    if (!server) {
      out.failure = Failure::absent;
      out.why = errno_text("SO_PEERCRED failed");
      return out;
    }
    out.client.reset(new ControlClient(std::move(fd), *server));
    return out;
  }
}

Status ControlClient::send_drain_request() {
  return send_line(kDrainRequest);
}

Status ControlClient::send_line(std::string_view line) {
  for (;;) {
    ssize_t n = ::send(fd_.get(), line.data(), line.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    // A fresh connection's buffer always takes one short line at once.
    if (n == static_cast<ssize_t>(line.size())) return {};
    return {n < 0 ? errno_text("send failed") : "send failed: short write"};
  }
}

ReadReplies ControlClient::read_replies() {
  ReadReplies out;
  char buffer[512];
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return out;
    if (n <= 0) {
      out.open = false;
      if (n < 0) out.error = std::strerror(errno);
      return out;
    }
    if (!in_.append(std::string_view(buffer, static_cast<std::size_t>(n)))) {
      out.open = false;
      out.error = "reply line too long";
      return out;
    }
    while (auto line = in_.next_line()) out.replies.push_back(parse_reply(*line));
  }
}

ControlClient::Awaited ControlClient::await_reply(EventLoop& loop, TimePoint until) {
  FdSource answer(fd_.get());
  LoopSource* sources[] = {&answer};
  auto woke = loop.wait(sources, until);
  loop.dispatch(sources, woke.now);
  Awaited out;
  out.signals = woke.signals;
  if (answer.ready()) {
    out.read = read_replies();
  } else {
    out.timed_out = woke.now >= until;
  }
  return out;
}

ControlConnection connect_to_pid1(std::uint64_t pid_namespace, uid_t own_uid, Millis busy_for,
                                  const RetryPause& pause) {
  using Failure = ControlConnection::Failure;
  std::string base = control_socket_name(pid_namespace);
  ControlConnection first = ControlClient::connect(base, busy_for, pause);
  if (first.failure == Failure::interrupted) return first;
  if (first.failure == Failure::busy) {
    first.why = "its control socket's backlog stayed full for " + format_duration(busy_for);
  } else if (first.client) {
    auto refusal = refuse_server(first.client->server(), own_uid);
    if (!refusal) return first;
    first.failure = Failure::untrusted;
    first.why = *refusal;
    first.client.reset();
  }
  // PID 1 found the name taken and listens on name/<random>: look for it.
  auto candidates = find_listeners(read_all("/proc/net/unix"), base);
  // Empty when /proc/1/fd cannot be read (another uid without CAP_SYS_PTRACE).
  auto own = socket_inodes(1).inodes;
  std::size_t tried = 0;
  for (const auto& listener : candidates) {
    if (listener.name == base) continue;
    if (!own.empty() && own.count(listener.inode) == 0) continue;
    if (++tried > kMaxCandidates) break;
    auto found = ControlClient::connect(listener.name, busy_for, pause);
    if (found.failure == Failure::interrupted) return found;
    if (found.client && !refuse_server(found.client->server(), own_uid)) return found;
  }
  return first;
}

}  // namespace lameduck
