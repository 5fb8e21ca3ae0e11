// SPDX-License-Identifier: Apache-2.0
// The preStop control socket, PID 1's listening side: a ControlChannel in the supervisor's
// poll loop. An abstract Unix socket, so it needs no writable filesystem
// (readOnlyRootFilesystem, scratch images). Protocol: control_protocol.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/event_loop.h"
#include "base/unique_fd.h"
#include "control/control_protocol.h"

namespace lameduck {

// Owns the listening socket and the connected hooks. Never blocks; all sends use
// MSG_NOSIGNAL, so a hook that went away cannot raise SIGPIPE in PID 1.
class ControlServer final : public ControlChannel {
 public:
  // Listens on the abstract name; when another process holds it (a sidecar in the Pod's
  // network namespace can bind it first), on name + "/" + a random suffix, which the
  // hook finds (control_client.h). nullptr (with a log line saying why) when it cannot.
  // pid_namespace is the inode the clients' /proc/<pid>/ns/pid must match.
  static std::unique_ptr<ControlServer> open(const std::string& name, std::uint64_t pid_namespace);
  // Listens on this PID namespace's name when lameduck is PID 1 and /proc is this
  // namespace's; otherwise nullptr, with a log line saying why.
  static std::unique_ptr<ControlServer> open_for_pid1();
  ~ControlServer() override = default;
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // The abstract name it listens on (without the leading NUL).
  const std::string& name() const { return name_; }
  // Makes a connecting hook raise a SIGIO in this process (O_ASYNC, F_SETOWN; plain SIGIO
  // with si_code SI_KERNEL), so an idle loop can wait in sigtimedwait() alone (event_loop.h).
  // Only when SIGIO is blocked in this thread (it would kill the process otherwise, and
  // only a process that reads its signals from a SignalFd can take it); false when not
  // done, and the loop polls the listener as before.
  bool wake_with_sigio();

  void add_fds(std::vector<pollfd>& fds) override;
  std::optional<TimePoint> next_timeout() const override;
  void on_ready(std::span<const pollfd> fds, TimePoint now) override;
  // Only the listener, and a connection raises a SIGIO: no client is connected.
  bool fds_raise_sigio() const override { return sigio_ && clients_.empty(); }
  std::optional<pid_t> take_drain_request() override;
  std::optional<Waited> take_waited() override;
  void report_draining(std::string_view details) override;
  void report_drained(std::string_view how) override;
  bool idle() const override;
  // How many hooks are still connected.
  std::size_t connected() const;

 private:
  enum class State { reading, requested, taken, waiting, closing };
  struct Client {
    UniqueFd fd;
    PeerCredentials peer;
    State state = State::reading;
    LineBuffer in;
    std::string out;
    TimePoint deadline;  // reading and closing clients are dropped after it
    bool dead = false;
    bool shut = false;  // closing and flushed: shut down for writing, waiting for the hang-up
  };

  ControlServer(UniqueFd fd, std::string name, std::uint64_t pid_namespace)
      : fd_(std::move(fd)), name_(std::move(name)), pid_namespace_(pid_namespace) {}
  void accept_clients(TimePoint now);
  std::optional<std::string> check_peer(const PeerCredentials& peer) const;
  void refuse(UniqueFd fd, const PeerCredentials& peer, const std::string& why, TimePoint now);
  void read_from(Client& client, TimePoint now);
  void send_to(Client& client, std::string_view bytes);
  void flush(Client& client);
  void drop_finished();
  void log_refusal_summary(TimePoint now);

  UniqueFd fd_;
  std::string name_;
  std::uint64_t pid_namespace_;
  bool sigio_ = false;  // wake_with_sigio() done
  std::vector<Client> clients_;
  std::vector<Waited> waited_;  // oldest first
  RefusalSummary refusals_;
  std::string last_refusal_;
};

}  // namespace lameduck
