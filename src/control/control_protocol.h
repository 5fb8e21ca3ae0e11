// SPDX-License-Identifier: Apache-2.0
// The preStop control protocol and its peer checks, as pure functions. `lameduck prestop`
// asks a lameduck PID 1 to drain over an abstract Unix socket; control_server.cpp and
// control_client.cpp do the I/O.
//
//   client: drain\n                  (or: waited <how>\n, after a wait of its own; "done")
//   server: draining <details>\n     at once, e.g. "draining phase=waiting-delay elapsed=0ms"
//           done <how it ended>\n    when the drain is over; then the server closes
//       or: refused <reason>\n       the peer check failed (or a bad request); then it closes
//   EOF before "done": PID 1 went away (the container is stopping), so the hook is over too.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/duration.h"

namespace lameduck {

// The abstract socket name (without its leading NUL) for the PID namespace with this inode.
// All containers of a Pod share one network namespace, hence one abstract namespace; each
// has its own PID namespace, so a sidecar's lameduck never answers for the app's.
std::string control_socket_name(std::uint64_t pid_namespace_inode);

// Splits a byte stream into lines, with a bound so a misbehaving peer cannot grow it.
class LineBuffer {
 public:
  explicit LineBuffer(std::size_t max_line = 512) : max_line_(max_line) {}
  // False when a line grew past the bound (the bytes are dropped).
  bool append(std::string_view bytes);
  // The next complete line without its "\n" (and "\r"), if there is one.
  std::optional<std::string> next_line();

 private:
  std::string buffer_;
  std::size_t max_line_;
  std::size_t open_line_ = 0;  // bytes since the last '\n'
};

// "drain", optionally followed by words later versions may add (ignored).
bool is_drain_request(std::string_view line);
inline constexpr std::string_view kDrainRequest = "drain\n";
// "waited <how>": a hook that could not reach PID 1 did the wait itself (how: what ended
// it), so PID 1 forwards the kubelet's SIGTERM at once. The rest of the line, or nullopt.
std::optional<std::string> parse_waited_request(std::string_view line);
// how is cleaned and cut to kMaxWaitedHow bytes, so the line stays far inside the server's
// 512-byte bound (an API fallback's reason alone can be longer).
inline constexpr std::size_t kMaxWaitedHow = 200;
std::string format_waited_request(std::string_view how);

enum class ReplyKind { draining, done, refused, unknown };

struct Reply {
  ReplyKind kind = ReplyKind::unknown;
  std::string text;  // the rest of the line
};

Reply parse_reply(std::string_view line);
// One line; newlines in text become spaces so the framing holds.
std::string format_reply(ReplyKind kind, std::string_view text);

// What SO_PEERCRED says about the other end (pid 0: not visible in our PID namespace).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
};

// The client's /proc/<pid>/ns/pid compared with the server's own.
enum class PeerNamespace { same, different, unreadable };

// Server side: why this client may not trigger a drain, or nullopt to accept it.
// own_uid is lameduck's effective uid; unreadable_why names the errno when the client's
// /proc entry could not be read.
std::optional<std::string> refuse_client(const PeerCredentials& peer, uid_t own_uid,
                                         PeerNamespace ns, std::string_view unreadable_why = "");

// Refused connections are logged one at a time only now and then: a sidecar that connects
// in a loop must not flood the app container's log. The first refusal of a window is
// logged; the rest of the window is counted and reported once when it ends.
class RefusalSummary {
 public:
  explicit RefusalSummary(Millis window = Millis(10000)) : window_(window) {}
  // True when this refusal is to be logged in full now.
  bool on_refused(TimePoint now);
  // When the count of the refusals not logged is due, if there are any.
  std::optional<TimePoint> due() const;
  // Once due: how many were not logged (then the count starts over); 0 before.
  int take(TimePoint now);
  Millis window() const { return window_; }

 private:
  Millis window_;
  std::optional<TimePoint> window_end_;
  int unlogged_ = 0;
};

// Client side: why the socket's owner is not a PID 1 to trust, or nullopt.
std::optional<std::string> refuse_server(const PeerCredentials& peer, uid_t own_uid);

}  // namespace lameduck
