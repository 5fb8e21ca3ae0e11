// SPDX-License-Identifier: Apache-2.0
#include "control/control_server.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "base/procfs.h"
#include "base/text.h"
#include "control/control_socket.h"

namespace lameduck {
namespace {

// A hook that connected gets this long to say what it wants; a finished one this long to
// take its last line. Hooks waiting for the drain have no limit here: the drain has one.
constexpr Millis kRequestTimeout{5000};
constexpr Millis kCloseTimeout{5000};
// Only the kubelet's hook (and the odd operator) connects; more than this is a runaway.
constexpr std::size_t kMaxClients = 16;

// 16 hex digits from getrandom: a name no other process can guess and bind first.
std::string random_suffix() {
  std::uint64_t bits = 0;
  if (::getrandom(&bits, sizeof bits, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof bits)) {
    bits = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) ^
           (static_cast<std::uint64_t>(::getpid()) << 32);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (auto& c : out) {
    c = kHex[bits & 0xf];
    bits >>= 4;
  }
  return out;
}

// Binds and listens on the abstract name; the errno on failure.
int listen_on(const UniqueFd& fd, const std::string& name) {
  sockaddr_un addr;
  socklen_t size = abstract_address(name, addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), size) != 0) return errno;
  if (::listen(fd.get(), 8) != 0) return errno;
  return 0;
}

UniqueFd new_socket() {
  return UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

}  // namespace

std::unique_ptr<ControlServer> ControlServer::open_for_pid1() {
  // Only a real PID 1 listens: with shareProcessNamespace every container shares one PID
  // namespace (PID 1 is the pause process), and no lameduck may answer for the others.
  if (!is_pid1()) {
    spdlog::debug("not PID 1: no preStop control socket (preStop hooks wait on their own)");
    return nullptr;
  }
  auto own = own_pid_namespace();
  if (!own.ok()) {
    spdlog::warn("no preStop control socket: {}; preStop hooks will wait on their own", own.error);
    return nullptr;
  }
  // The peer check reads /proc/<pid>/ns/pid, which only means something when /proc is
  // this namespace's procfs (a runtime always mounts it so; `unshare` needs --mount-proc).
  auto init = namespace_inode("/proc/1/ns/pid");
  if (!init.ok() || init.inode != own.inode) {
    spdlog::warn(
        "no preStop control socket: /proc is not this PID namespace's procfs ({}); preStop "
        "hooks will wait on their own",
        init.ok() ? "/proc/1 is another process" : "/proc/1/ns/pid: " + init.error);
    return nullptr;
  }
  auto server = open(control_socket_name(own.inode), own.inode);
  // main() blocked every signal (SignalFd) before anything else, so this is done.
  if (server && !server->wake_with_sigio()) {
    spdlog::debug("preStop control socket: no SIGIO on connect ({}); polling it",
                  std::strerror(errno));
  }
  return server;
}

bool ControlServer::wake_with_sigio() {
  sigset_t blocked;
  if (::pthread_sigmask(SIG_BLOCK, nullptr, &blocked) != 0 || sigismember(&blocked, SIGIO) != 1) {
    errno = EINVAL;
    return false;
  }
  // The owner first: O_ASYNC without one signals nobody. F_SETSIG stays 0: a plain SIGIO
  // with si_code SI_KERNEL, which a process cannot send (EventLoop::is_io_wakeup).
  if (::fcntl(fd_.get(), F_SETOWN, ::getpid()) != 0) return false;
  if (::fcntl(fd_.get(), F_SETFL, O_NONBLOCK | O_ASYNC) != 0) return false;
  sigio_ = true;
  return true;
}

std::unique_ptr<ControlServer> ControlServer::open(const std::string& name,
                                                   std::uint64_t pid_namespace) {
  UniqueFd fd = new_socket();
  if (!fd) {
    spdlog::warn("no preStop control socket: socket failed: {}", std::strerror(errno));
    return nullptr;
  }
  std::string bound = name;
  int error = listen_on(fd, bound);
  if (error == EADDRINUSE) {
    // Someone bound the predictable name first (any process in the Pod's network
    // namespace can): move to a name nobody can guess; the hook finds it by its owner.
    fd = new_socket();
    bound = name + "/" + random_suffix();
    error = fd ? listen_on(fd, bound) : errno;
    if (error == 0) {
      spdlog::warn(
          "preStop control socket: @{} is taken by another process (a sidecar?); listening on "
          "@{} instead, where lameduck prestop finds it",
          name, bound);
    }
  }
  if (error != 0) {
    spdlog::warn("no preStop control socket: cannot listen on @{}: {}", bound,
                 std::strerror(error));
    return nullptr;
  }
  spdlog::debug("listening for preStop hooks on @{}", bound);
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(fd), bound, pid_namespace));
}

std::optional<std::string> ControlServer::check_peer(const PeerCredentials& peer) const {
  auto ns = PeerNamespace::unreadable;
  std::string unreadable_why;
  if (peer.pid > 0) {
    auto inode = namespace_inode("/proc/" + std::to_string(peer.pid) + "/ns/pid");
    if (inode.ok()) {
      ns = inode.inode == pid_namespace_ ? PeerNamespace::same : PeerNamespace::different;
    } else {
      unreadable_why = inode.error;
    }
  }
  return refuse_client(peer, geteuid(), ns, unreadable_why);
}

void ControlServer::refuse(UniqueFd fd, const PeerCredentials& peer, const std::string& why,
                           TimePoint now) {
  std::string what =
      "from pid " + std::to_string(peer.pid) + " uid " + std::to_string(peer.uid) + ": " + why;
  if (refusals_.on_refused(now)) {
    spdlog::warn("refused a preStop control connection {}", what);
  } else {
    last_refusal_ = std::move(what);
  }
  auto line = format_reply(ReplyKind::refused, why);
  [[maybe_unused]] auto sent = ::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL);
}

void ControlServer::log_refusal_summary(TimePoint now) {
  if (int more = refusals_.take(now); more > 0) {
    spdlog::warn("refused {} more preStop control connection{} in the last {} (last {})", more,
                 more == 1 ? "" : "s", format_duration(refusals_.window()), last_refusal_);
  }
}

void ControlServer::accept_clients(TimePoint now) {
  for (;;) {
    UniqueFd fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        spdlog::warn("preStop control socket: accept failed: {}", std::strerror(errno));
      }
      return;
    }
    Client client;
    client.deadline = now + kRequestTimeout;
    std::optional<std::string> refusal;
    if (auto peer = peer_credentials(fd.get())) {
      client.peer = *peer;
      refusal = check_peer(*peer);
    } else {
      refusal = std::string("SO_PEERCRED failed: ") + std::strerror(errno);
    }
    if (!refusal && clients_.size() >= kMaxClients) refusal = "too many connections";
    if (refusal) {
      refuse(std::move(fd), client.peer, *refusal, now);
      continue;
    }
    spdlog::debug("preStop control connection from pid {} uid {}", client.peer.pid,
                  client.peer.uid);
    client.fd = std::move(fd);
    clients_.push_back(std::move(client));
  }
}

void ControlServer::read_from(Client& client, TimePoint now) {
  char buffer[512];
  for (;;) {
    ssize_t n = ::recv(client.fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      if (client.state == State::taken || client.state == State::waiting) {
        spdlog::info("preStop hook (pid {}) went away before the drain was done", client.peer.pid);
      }
      client.dead = true;
      return;
    }
    if (client.state != State::reading) continue;  // nothing more is expected; discard
    if (!client.in.append(std::string_view(buffer, static_cast<std::size_t>(n)))) {
      client.state = State::closing;
      client.deadline = now + kCloseTimeout;
      send_to(client, format_reply(ReplyKind::refused, "request line too long"));
      return;
    }
    if (auto line = client.in.next_line()) {
      if (is_drain_request(*line)) {
        client.state = State::requested;
      } else if (auto how = parse_waited_request(*line)) {
        waited_.push_back({client.peer.pid, clean_text(*how, 200)});
        client.state = State::closing;
        client.deadline = now + kCloseTimeout;
        send_to(client, format_reply(ReplyKind::done, "noted"));
      } else {
        spdlog::warn("preStop control connection from pid {}: unknown request '{}'",
                     client.peer.pid, clean_text(*line, 120));
        client.state = State::closing;
        client.deadline = now + kCloseTimeout;
        send_to(client,
                format_reply(ReplyKind::refused, "unknown request (expected: drain or waited)"));
      }
    }
  }
}

void ControlServer::send_to(Client& client, std::string_view bytes) {
  client.out.append(bytes);
  flush(client);
}

void ControlServer::flush(Client& client) {
  while (!client.out.empty() && !client.dead) {
    ssize_t n =
        ::send(client.fd.get(), client.out.data(), client.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) {
      spdlog::debug("preStop control connection from pid {}: send failed: {}", client.peer.pid,
                    std::strerror(errno));
      client.dead = true;
      return;
    }
    client.out.erase(0, static_cast<std::size_t>(n));
  }
  if (client.state == State::closing && client.out.empty() && !client.dead && !client.shut) {
    // The hook sees EOF after the last line, as before; PID 1 keeps its end until the
    // hook hangs up.
    ::shutdown(client.fd.get(), SHUT_WR);
    client.shut = true;
  }
}

void ControlServer::drop_finished() {
  // A client told its last line stays until it hangs up (or kCloseTimeout): PID 1 then
  // knows when a hook is gone (idle), and does not exit under a hook that is still exiting.
  std::erase_if(clients_, [](const Client& c) { return c.dead; });
}

std::size_t ControlServer::connected() const {
  return static_cast<std::size_t>(
      std::count_if(clients_.begin(), clients_.end(), [](const Client& c) { return !c.dead; }));
}

bool ControlServer::idle() const {
  return connected() == 0;
}

void ControlServer::add_fds(std::vector<pollfd>& fds) {
  drop_finished();
  fds.push_back({fd_.get(), POLLIN, 0});
  for (const auto& client : clients_) {
    short events = POLLIN;
    if (!client.out.empty()) events |= POLLOUT;
    fds.push_back({client.fd.get(), events, 0});
  }
}

std::optional<TimePoint> ControlServer::next_timeout() const {
  std::optional<TimePoint> next = refusals_.due();
  for (const auto& client : clients_) {
    if (client.state != State::reading && client.state != State::closing) continue;
    next = earliest(next, client.deadline);
  }
  return next;
}

void ControlServer::on_ready(std::span<const pollfd> fds, TimePoint now) {
  bool listener_ready = false;
  for (const auto& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == fd_.get()) {
      listener_ready = true;
      continue;
    }
    // Matched by descriptor: clients may have been told "done" since add_fds.
    auto it = std::find_if(clients_.begin(), clients_.end(),
                           [&](const Client& c) { return c.fd.get() == p.fd; });
    if (it == clients_.end() || it->dead) continue;
    if ((p.revents & POLLOUT) != 0) flush(*it);
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) read_from(*it, now);
  }
  if (listener_ready) accept_clients(now);
  log_refusal_summary(now);
  for (auto& client : clients_) {
    bool timed = client.state == State::reading || client.state == State::closing;
    if (timed && !client.dead && now >= client.deadline) {
      spdlog::debug("preStop control connection from pid {}: timed out", client.peer.pid);
      client.dead = true;
    }
  }
  drop_finished();
}

std::optional<ControlChannel::Waited> ControlServer::take_waited() {
  if (waited_.empty()) return std::nullopt;
  Waited first = std::move(waited_.front());
  waited_.erase(waited_.begin());
  return first;
}

std::optional<pid_t> ControlServer::take_drain_request() {
  for (auto& client : clients_) {
    if (client.state == State::requested && !client.dead) {
      client.state = State::taken;
      return client.peer.pid;
    }
  }
  return std::nullopt;
}

void ControlServer::report_draining(std::string_view details) {
  for (auto& client : clients_) {
    if (client.state != State::taken || client.dead) continue;
    client.state = State::waiting;
    send_to(client, format_reply(ReplyKind::draining, details));
  }
}

void ControlServer::report_drained(std::string_view how) {
  auto now = Clock::now();
  for (auto& client : clients_) {
    if (client.dead) continue;
    if (client.state == State::reading || client.state == State::closing) continue;
    client.state = State::closing;
    client.deadline = now + kCloseTimeout;
    send_to(client, format_reply(ReplyKind::done, how));
  }
}

}  // namespace lameduck
