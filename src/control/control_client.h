// SPDX-License-Identifier: Apache-2.0
// The preStop control socket, the hook's side: finding PID 1's socket and talking to it.
// Protocol: control_protocol.h.
#pragma once

#include <sys/signalfd.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/errors.h"
#include "base/event_loop.h"
#include "base/unique_fd.h"
#include "control/control_protocol.h"
#include "control/control_socket.h"

namespace lameduck {

class ControlClient;

// How a retry waits: until `until` at most, hearing signals meanwhile (the hook's event
// loop). False when the caller must give up now: a signal ended the hook's wait.
using RetryPause = std::function<bool(TimePoint until)>;

// A connection attempt: the client, or the failure and why.
struct ControlConnection {
  enum class Failure { none, absent, busy, untrusted, interrupted };
  std::unique_ptr<ControlClient> client;  // set when failure == none
  Failure failure = Failure::none;
  std::string why;  // for absent, busy and untrusted
};

// What one read of the connection brought.
struct ReadReplies {
  std::vector<Reply> replies;  // the complete replies, oldest first
  bool open = true;            // false once the server closed the connection, or it broke
  std::string error;           // why it broke; empty while open or on a clean close
};

// One connection to a control socket.
class ControlClient {
 public:
  // Connects without blocking: absent and the reason (e.g. "Connection refused": nobody
  // listens, so PID 1 is not lameduck) when that fails. A full listen backlog (EAGAIN) is
  // retried for up to busy_for, with pause() between the attempts, then called busy.
  static ControlConnection connect(const std::string& name, Millis busy_for = Millis(0),
                                   const RetryPause& pause = {});
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
  // Sends "drain\n".
  Status send_drain_request();
  // Sends one request line (e.g. format_waited_request).
  Status send_line(std::string_view line);
  // Reads what is available without blocking.
  ReadReplies read_replies();

  // What await_reply saw: the replies read (if the socket became readable), and the
  // signals that arrived meanwhile, for the caller to judge.
  struct Awaited {
    ReadReplies read;
    std::span<const signalfd_siginfo> signals;  // valid until the loop's next wait
    bool timed_out = false;                     // until passed with nothing to read
  };
  // One round of loop: waits until the server's answer can be read, a signal, or until.
  Awaited await_reply(EventLoop& loop, TimePoint until);

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
ControlConnection connect_to_pid1(std::uint64_t pid_namespace, uid_t own_uid,
                                  Millis busy_for = kBusyRetry, const RetryPause& pause = {});

// Pure: the listening abstract sockets in /proc/net/unix text whose name is prefix or
// starts with prefix + "/" (names without the leading "@"), with their inodes.
struct UnixListener {
  std::string name;
  std::uint64_t inode = 0;
};
std::vector<UnixListener> find_listeners(std::string_view proc_net_unix, std::string_view prefix);

}  // namespace lameduck
