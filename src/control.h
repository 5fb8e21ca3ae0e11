// The preStop control socket: PID 1's listening side (a ControlChannel in the supervisor's
// poll loop) and the hook's client side. An abstract Unix socket, so it needs no writable
// filesystem (readOnlyRootFilesystem, scratch images). Protocol: control_protocol.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control_protocol.h"
#include "event_loop.h"

namespace lameduck {

// This process's PID namespace: the inode of /proc/self/ns/pid. On failure, nullopt and
// the reason in why_not.
std::optional<std::uint64_t> own_pid_namespace(std::string& why_not);

// Owns the listening socket and the connected hooks. Never blocks; all sends use
// MSG_NOSIGNAL, so a hook that went away cannot raise SIGPIPE in PID 1.
class ControlServer final : public ControlChannel {
 public:
  // Listens on the abstract name; nullptr (with a log line saying why) when it cannot.
  // pid_namespace is the inode the clients' /proc/<pid>/ns/pid must match.
  static std::unique_ptr<ControlServer> open(const std::string& name, std::uint64_t pid_namespace);
  // Listens on this PID namespace's name when lameduck is PID 1 and /proc is this
  // namespace's; otherwise nullptr, with a log line saying why.
  static std::unique_ptr<ControlServer> open_for_pid1();
  ~ControlServer() override;
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  void add_fds(std::vector<pollfd>& fds) override;
  std::optional<TimePoint> next_timeout() const override;
  void on_ready(std::span<const pollfd> fds, TimePoint now) override;
  bool take_drain_request() override;
  void report_draining(std::string_view details) override;
  void report_drained(std::string_view how) override;

 private:
  enum class State { reading, requested, taken, waiting, closing };
  struct Client {
    int fd = -1;
    PeerCredentials peer;
    State state = State::reading;
    LineBuffer in;
    std::string out;
    TimePoint deadline;  // reading and closing clients are dropped after it
    bool dead = false;
  };

  ControlServer(int fd, std::uint64_t pid_namespace) : fd_(fd), pid_namespace_(pid_namespace) {}
  void accept_clients(TimePoint now);
  std::optional<std::string> check_peer(const PeerCredentials& peer) const;
  void read_from(Client& client, TimePoint now);
  void send_to(Client& client, std::string_view bytes);
  void flush(Client& client);
  void drop_finished();

  int fd_;
  std::uint64_t pid_namespace_;
  std::vector<Client> clients_;
};

// The hook's side: one connection to PID 1.
class ControlClient {
 public:
  // Connects without blocking; nullptr and the reason (e.g. "Connection refused": nobody
  // listens, so PID 1 is not lameduck) in why_not.
  static std::unique_ptr<ControlClient> connect(const std::string& name, std::string& why_not);
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  int fd() const { return fd_; }
  // Who listens: SO_PEERCRED as of its listen().
  const PeerCredentials& server() const { return server_; }
  // Sends "drain\n"; the error text on failure.
  std::optional<std::string> send_drain_request();
  // Reads what is available and appends the complete replies. False once the server
  // closed the connection (or it broke: the reason in closed_why).
  bool read_replies(std::vector<Reply>& out, std::string& closed_why);

 private:
  ControlClient(int fd, PeerCredentials server) : fd_(fd), server_(server) {}

  int fd_;
  PeerCredentials server_;
  LineBuffer in_;
};

}  // namespace lameduck
