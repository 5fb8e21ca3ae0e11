#include "control.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "log.h"
#include "text.h"

namespace lameduck {
namespace {

// A hook that connected gets this long to say what it wants; a finished one this long to
// take its last line. Hooks waiting for the drain have no limit here: the drain has one.
constexpr Millis kRequestTimeout{5000};
constexpr Millis kCloseTimeout{5000};
// Only the kubelet's hook (and the odd operator) connects; more than this is a runaway.
constexpr std::size_t kMaxClients = 16;

socklen_t abstract_address(const std::string& name, sockaddr_un& addr) {
  addr = {};
  addr.sun_family = AF_UNIX;
  std::size_t n = std::min(name.size(), sizeof addr.sun_path - 1);
  std::memcpy(addr.sun_path + 1, name.data(), n);  // sun_path[0] == '\0': abstract
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
}

std::optional<PeerCredentials> peer_credentials(int fd) {
  ucred cred{};
  socklen_t size = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) return std::nullopt;
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

std::optional<std::uint64_t> namespace_inode(const std::string& path, int& error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    error = errno;
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(st.st_ino);
}

}  // namespace

std::optional<std::uint64_t> own_pid_namespace(std::string& why_not) {
  int error = 0;
  auto inode = namespace_inode("/proc/self/ns/pid", error);
  if (!inode) why_not = std::string("cannot read /proc/self/ns/pid: ") + std::strerror(error);
  return inode;
}

// ---- server -----------------------------------------------------------------------------

std::unique_ptr<ControlServer> ControlServer::open_for_pid1() {
  // Only a real PID 1 listens: with shareProcessNamespace every container shares one PID
  // namespace (PID 1 is the pause process), and no lameduck may answer for the others.
  if (getpid() != 1) {
    spdlog::debug("not PID 1: no preStop control socket (preStop hooks wait on their own)");
    return nullptr;
  }
  std::string why_not;
  auto inode = own_pid_namespace(why_not);
  if (!inode) {
    spdlog::warn("no preStop control socket: {}; preStop hooks will wait on their own", why_not);
    return nullptr;
  }
  // The peer check reads /proc/<pid>/ns/pid, which only means something when /proc is
  // this namespace's procfs (a runtime always mounts it so; `unshare` needs --mount-proc).
  int error = 0;
  auto init = namespace_inode("/proc/1/ns/pid", error);
  if (init != inode) {
    spdlog::warn(
        "no preStop control socket: /proc is not this PID namespace's procfs ({}); preStop "
        "hooks will wait on their own",
        init ? "/proc/1 is another process"
             : std::string("/proc/1/ns/pid: ") + std::strerror(error));
    return nullptr;
  }
  return open(control_socket_name(*inode), *inode);
}

std::unique_ptr<ControlServer> ControlServer::open(const std::string& name,
                                                   std::uint64_t pid_namespace) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    spdlog::warn("no preStop control socket: socket failed: {}", std::strerror(errno));
    return nullptr;
  }
  sockaddr_un addr;
  socklen_t size = abstract_address(name, addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), size) != 0 || ::listen(fd, 8) != 0) {
    int error = errno;
    ::close(fd);
    spdlog::warn("no preStop control socket: cannot listen on @{}: {}{}", name,
                 std::strerror(error),
                 error == EADDRINUSE ? " (another process holds the name)" : "");
    return nullptr;
  }
  spdlog::debug("listening for preStop hooks on @{}", name);
  return std::unique_ptr<ControlServer>(new ControlServer(fd, pid_namespace));
}

ControlServer::~ControlServer() {
  for (auto& client : clients_) ::close(client.fd);
  ::close(fd_);
}

std::optional<std::string> ControlServer::check_peer(const PeerCredentials& peer) const {
  auto ns = PeerNamespace::unreadable;
  std::string unreadable_why;
  if (peer.pid > 0) {
    int error = 0;
    auto inode = namespace_inode("/proc/" + std::to_string(peer.pid) + "/ns/pid", error);
    if (inode) {
      ns = *inode == pid_namespace_ ? PeerNamespace::same : PeerNamespace::different;
    } else {
      unreadable_why = std::strerror(error);
    }
  }
  return refuse_client(peer, geteuid(), ns, unreadable_why);
}

void ControlServer::accept_clients(TimePoint now) {
  for (;;) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        spdlog::warn("preStop control socket: accept failed: {}", std::strerror(errno));
      }
      return;
    }
    Client client;
    client.fd = fd;
    client.deadline = now + kRequestTimeout;
    std::optional<std::string> refusal;
    if (auto peer = peer_credentials(fd)) {
      client.peer = *peer;
      refusal = check_peer(*peer);
    } else {
      refusal = std::string("SO_PEERCRED failed: ") + std::strerror(errno);
    }
    if (!refusal && clients_.size() >= kMaxClients) refusal = "too many connections";
    if (refusal) {
      spdlog::warn("refused a preStop control connection from pid {} uid {}: {}", client.peer.pid,
                   client.peer.uid, *refusal);
      auto line = format_reply(ReplyKind::refused, *refusal);
      [[maybe_unused]] auto sent = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
      ::close(fd);
      continue;
    }
    spdlog::debug("preStop control connection from pid {} uid {}", client.peer.pid,
                  client.peer.uid);
    clients_.push_back(std::move(client));
  }
}

void ControlServer::read_from(Client& client, TimePoint now) {
  char buffer[512];
  for (;;) {
    ssize_t n = ::recv(client.fd, buffer, sizeof buffer, MSG_DONTWAIT);
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
      send_to(client, format_reply(ReplyKind::refused, "request line too long"));
      client.state = State::closing;
      client.deadline = now + kCloseTimeout;
      return;
    }
    if (auto line = client.in.next_line()) {
      if (is_drain_request(*line)) {
        client.state = State::requested;
      } else {
        spdlog::warn("preStop control connection from pid {}: unknown request '{}'",
                     client.peer.pid, clean_text(*line, 120));
        send_to(client, format_reply(ReplyKind::refused, "unknown request (expected: drain)"));
        client.state = State::closing;
        client.deadline = now + kCloseTimeout;
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
        ::send(client.fd, client.out.data(), client.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
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
}

void ControlServer::drop_finished() {
  auto finished = [](const Client& c) {
    return c.dead || (c.state == State::closing && c.out.empty());
  };
  for (auto& client : clients_) {
    if (finished(client)) ::close(client.fd);
  }
  std::erase_if(clients_, finished);
}

void ControlServer::add_fds(std::vector<pollfd>& fds) {
  drop_finished();
  fds.push_back({fd_, POLLIN, 0});
  for (const auto& client : clients_) {
    short events = POLLIN;
    if (!client.out.empty()) events |= POLLOUT;
    fds.push_back({client.fd, events, 0});
  }
}

std::optional<TimePoint> ControlServer::next_timeout() const {
  std::optional<TimePoint> earliest;
  for (const auto& client : clients_) {
    if (client.state != State::reading && client.state != State::closing) continue;
    if (!earliest || client.deadline < *earliest) earliest = client.deadline;
  }
  return earliest;
}

void ControlServer::on_ready(std::span<const pollfd> fds, TimePoint now) {
  bool listener_ready = false;
  for (const auto& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == fd_) {
      listener_ready = true;
      continue;
    }
    // Matched by descriptor: clients may have been told "done" since add_fds.
    auto it = std::find_if(clients_.begin(), clients_.end(),
                           [&](const Client& c) { return c.fd == p.fd; });
    if (it == clients_.end() || it->dead) continue;
    if ((p.revents & POLLOUT) != 0) flush(*it);
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) read_from(*it, now);
  }
  if (listener_ready) accept_clients(now);
  for (auto& client : clients_) {
    bool timed = client.state == State::reading || client.state == State::closing;
    if (timed && !client.dead && now >= client.deadline) {
      spdlog::debug("preStop control connection from pid {}: timed out", client.peer.pid);
      client.dead = true;
    }
  }
  drop_finished();
}

bool ControlServer::take_drain_request() {
  for (auto& client : clients_) {
    if (client.state == State::requested && !client.dead) {
      client.state = State::taken;
      return true;
    }
  }
  return false;
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

// ---- client -----------------------------------------------------------------------------

std::unique_ptr<ControlClient> ControlClient::connect(const std::string& name,
                                                      std::string& why_not) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why_not = std::string("socket failed: ") + std::strerror(errno);
    return nullptr;
  }
  sockaddr_un addr;
  socklen_t size = abstract_address(name, addr);
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), size);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    // EAGAIN: the listen backlog is full, which a live lameduck never lets happen.
    why_not = std::string("connect to @") + name + ": " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  auto server = peer_credentials(fd);
  if (!server) {
    why_not = std::string("SO_PEERCRED failed: ") + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<ControlClient>(new ControlClient(fd, *server));
}

ControlClient::~ControlClient() {
  ::close(fd_);
}

std::optional<std::string> ControlClient::send_drain_request() {
  for (;;) {
    ssize_t n = ::send(fd_, kDrainRequest.data(), kDrainRequest.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    // A fresh connection's buffer always takes these six bytes at once.
    if (n == static_cast<ssize_t>(kDrainRequest.size())) return std::nullopt;
    return std::string("send failed: ") + (n < 0 ? std::strerror(errno) : "short write");
  }
}

bool ControlClient::read_replies(std::vector<Reply>& out, std::string& closed_why) {
  char buffer[512];
  for (;;) {
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
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

}  // namespace lameduck
