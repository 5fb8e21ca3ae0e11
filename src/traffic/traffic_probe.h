// SPDX-License-Identifier: Apache-2.0
// Linux: what the traffic wait looks at, in the network namespace lameduck runs in (the
// Pod's): the TCP PassiveOpens counter of /proc/net/snmp and a NETLINK_SOCK_DIAG dump of
// every TCP socket with its tcp_info. Both are per network namespace and readable by any
// user. Nothing is opened until the first look, and close() drops the netlink socket, so
// a serving Pod pays nothing.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "traffic/traffic_policy.h"

namespace lameduck {

// Owns one NETLINK_SOCK_DIAG socket.
class SockDiagSocket {
 public:
  SockDiagSocket() = default;
  ~SockDiagSocket();
  SockDiagSocket(const SockDiagSocket&) = delete;
  SockDiagSocket& operator=(const SockDiagSocket&) = delete;

  // Every TCP socket (IPv4 and IPv6, all states) with bytes received where known.
  // Opens the socket on first use. nullopt with `error` set when the dump failed.
  std::optional<std::vector<SocketSample>> dump_tcp(std::string& error);
  void close();
  bool is_open() const { return static_cast<bool>(fd_); }

 private:
  bool dump_family(int family, std::vector<SocketSample>& out, std::string& error);
  UniqueFd fd_;
};

// Owns a NETLINK_SOCK_DIAG socket subscribed to the kernel's TCP destroy events (any user
// may): every socket of the namespace that is freed, with its last state and tcp_info, so
// connections that open and close between two looks are attributed to their peers.
class SockDiagEvents {
 public:
  SockDiagEvents() = default;
  ~SockDiagEvents();
  SockDiagEvents(const SockDiagEvents&) = delete;
  SockDiagEvents& operator=(const SockDiagEvents&) = delete;

  bool subscribe(std::string& error);
  bool subscribed() const { return static_cast<bool>(fd_); }
  // Every socket destroyed since the last call; nullopt when not subscribed or when the
  // kernel dropped events (the receive buffer overflowed).
  std::optional<std::vector<SocketSample>> drain();
  void close();

 private:
  UniqueFd fd_;
};

// Where the traffic wait's looks come from: the namespace (NamespaceProbe), or a test's.
class LookSource {
 public:
  virtual ~LookSource() = default;
  // One look, stamped when its reads are done.
  virtual TrafficLook take() = 0;
  virtual void close() = 0;
  // How long the Pod's PID 1 has run: the namespace's counters are at least as old.
  virtual std::optional<Millis> pod_age() = 0;
};

// The looks of the network namespace lameduck runs in (take_look); nothing is open
// before the first and after close().
class NamespaceProbe final : public LookSource {
 public:
  TrafficLook take() override;
  void close() override;
  std::optional<Millis> pod_age() override;

 private:
  SockDiagSocket diag_;
  SockDiagEvents events_;
  // The next look is the baseline until one is taken. Not diag_.is_open(): a dump that
  // fails closes the socket, and the look after it must not be retaken, or the destroy
  // events its first attempt drained would be lost.
  bool taken_ = false;
};

// Tcp: PassiveOpens of this network namespace; nullopt with `error` when unreadable.
std::optional<std::uint64_t> read_passive_opens(std::string& error);

// How a look reads the counter: read_passive_opens, or a test's.
using CounterReader = std::optional<std::uint64_t> (*)(std::string& error);

// One look: the counter first, then the sockets, then the destroy events since the last
// look (traffic_policy.cpp explains why this order is safe). Stamped when the reads are
// done, not when they began. A `baseline` (the first look) is taken again, up to
// kBaselineAttempts times in all, while the counter moves across its reads.
constexpr int kBaselineAttempts = 3;
TrafficLook take_look(SockDiagSocket& diag, SockDiagEvents& events, bool baseline,
                      CounterReader read_counter = read_passive_opens);

// The TCP ports the given processes listen on: their socket inodes (/proc/PID/fd) matched
// with the listening sockets of `sockets`. nullopt with `why` when a process's descriptors
// cannot be read (another user's process, no /proc): then no port can be told apart.
std::optional<std::set<std::uint16_t>> listening_ports_of(const std::vector<pid_t>& pids,
                                                          const std::vector<SocketSample>& sockets,
                                                          std::string& why);

}  // namespace lameduck
