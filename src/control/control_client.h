// SPDX-License-Identifier: Apache-2.0
// The preStop control socket, the hook's side: finding PID 1's socket and talking to it.
// Protocol: control_protocol.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "control/control_protocol.h"
#include "control/control_socket.h"

namespace lameduck {

// One connection to a control socket.
class ControlClient {
 public:
  // Connects without blocking; nullptr and the reason (e.g. "Connection refused": nobody
  // listens, so PID 1 is not lameduck) in why_not. EAGAIN (a full listen backlog) is
  // retried for up to busy_for; *busy tells the caller it was that.
  static std::unique_ptr<ControlClient> connect(const std::string& name, std::string& why_not,
                                                Millis busy_for = Millis(0), bool* busy = nullptr);
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  int fd() const { return fd_.get(); }
  // Leaves the connection open until the process exits: the kernel closes it in exit(),
  // after the exit status is set. PID 1 waits for that hang-up before it exits (which
  // SIGKILLs what is left of its PID namespace), so the hook is never killed on its way out.
  void keep_open_until_exit() { keep_open_ = true; }
  ~ControlClient() {
    if (keep_open_) [[maybe_unused]]
      int kept = fd_.release();
  }
  // Who listens: SO_PEERCRED as of its listen().
  const PeerCredentials& server() const { return server_; }
  // Sends "drain\n"; the error text on failure.
  std::optional<std::string> send_drain_request();
  // Sends one request line (e.g. format_waited_request); the error text on failure.
  std::optional<std::string> send_line(std::string_view line);
  // Reads what is available and appends the complete replies. False once the server
  // closed the connection (or it broke: the reason in closed_why).
  bool read_replies(std::vector<Reply>& out, std::string& closed_why);

 private:
  ControlClient(UniqueFd fd, PeerCredentials server) : fd_(std::move(fd)), server_(server) {}

  UniqueFd fd_;
  PeerCredentials server_;
  LineBuffer in_;
  bool keep_open_ = false;
};

// How long a hook retries a full listen backlog before it calls PID 1 busy.
inline constexpr Millis kBusyRetry{2000};

// The hook's way to its PID 1: the name of the PID namespace first; when that is not PID
// 1's (a squatter) or nobody listens there, the names PID 1 moves to (name + "/suffix"),
// found in /proc/net/unix and, where /proc/1/fd is readable, only PID 1's own sockets.
// Every candidate must pass refuse_server (PID 1, root or our uid).
struct Pid1Connection {
  enum class Failure { none, absent, busy, untrusted };
  std::unique_ptr<ControlClient> client;  // set when failure == none
  Failure failure = Failure::none;
  std::string why;  // for absent, busy and untrusted
};
Pid1Connection connect_to_pid1(std::uint64_t pid_namespace, uid_t own_uid,
                               Millis busy_for = kBusyRetry);

// Pure: the listening abstract sockets in /proc/net/unix text whose name is prefix or
// starts with prefix + "/" (names without the leading "@"), with their inodes.
struct UnixListener {
  std::string name;
  std::uint64_t inode = 0;
};
std::vector<UnixListener> find_listeners(std::string_view proc_net_unix, std::string_view prefix);

}  // namespace lameduck
