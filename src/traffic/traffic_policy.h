// SPDX-License-Identifier: Apache-2.0
// The traffic wait's decision, pure: fed one look at the Pod's network namespace after
// another (the namespace's count of accepted TCP connections and a list of its TCP
// sockets), it tells when traffic that counts was last seen. No I/O here: traffic_probe.*
// takes the looks, traffic_wait.* drives them. README.md, "The traffic wait".
//
// Safety rule: whatever cannot be seen counts as traffic. A look that could not be read,
// a connection that was accepted but never seen in a socket list, a connection that
// vanished (or was closed by the app) while it could still receive data, a counter that
// went backwards: each makes the look "active", so the quiet period starts again. Such
// errors make the wait longer, never shorter.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/duration.h"
#include "traffic/net_address.h"
#include "traffic/traffic_options.h"

namespace lameduck {

// The kernel's TCP states (include/net/tcp_states.h), as sock_diag reports them.
enum class TcpState : std::uint8_t {
  established = 1,
  syn_sent,
  syn_recv,
  fin_wait1,
  fin_wait2,
  time_wait,
  close,
  close_wait,
  last_ack,
  listen,
  closing,
  new_syn_recv,
};

// True while the peer has not sent its FIN, so more bytes may still arrive.
bool can_receive(TcpState state);

struct SocketSample {
  std::uint64_t cookie = 0;  // the kernel's socket id; kept when a socket turns TIME_WAIT
  IpAddress local;
  std::uint16_t local_port = 0;
  IpAddress peer;
  std::uint16_t peer_port = 0;
  TcpState state = TcpState::close;
  std::optional<std::uint64_t> bytes_received;  // tcpi_bytes_received; none for TIME_WAIT
  std::optional<std::uint32_t> data_segments;   // tcpi_data_segs_in: about one per request
  std::uint64_t inode = 0;                      // 0 for TIME_WAIT and orphaned sockets
};

// One look. Fields are nullopt when they could not be read; `error` says why.
struct TrafficLook {
  TimePoint at;
  std::optional<std::uint64_t> passive_opens;        // Tcp PassiveOpens of the namespace
  std::optional<std::vector<SocketSample>> sockets;  // every TCP socket of the namespace
  // The sockets destroyed since the last look, in their last state (sock_diag's destroy
  // events); nullopt when they are not known (not subscribed, or events were lost).
  std::optional<std::vector<SocketSample>> destroyed;
  std::string error;
};

// What one look found that counts, for the timeline.
struct LookResult {
  std::uint64_t new_connections = 0;  // counted, including those never seen in a list
  std::uint64_t unattributed = 0;     // of new_connections: accepted and gone between looks
  std::uint64_t bytes = 0;            // received on the app's connections
  std::uint64_t uncertain = 0;        // closed or vanished with unknown bytes
  // For the rate (--quiet auto): requests that count (new connections seen from counted
  // peers, and data segments on the app's connections that hold the wait), and new
  // connections seen that do not count (ignored peers, other ports).
  std::uint64_t requests = 0;
  std::uint64_t uncounted = 0;
  std::string error;                   // the look could not be read (counts as traffic)
  std::optional<IpAddress> last_peer;  // one peer that sent in this look
  std::uint16_t last_port = 0;
  bool active() const {
    return new_connections > 0 || bytes > 0 || uncertain > 0 || !error.empty();
  }
};

// A peer's counted traffic within a window.
struct PeerTraffic {
  IpAddress ip;
  std::uint64_t connections = 0;  // new connections
  std::uint64_t bytes = 0;
  std::uint64_t open = 0;  // the app's connections from this peer open at the last look
};

class TrafficPolicy {
 public:
  // Reads quiet, ignore_peers (loopback and the Pod's own addresses are always ignored),
  // ports and wait_pooled.
  explicit TrafficPolicy(TrafficOptions options);

  // Looks must come in time order. The first one only sets the baseline.
  LookResult observe(const TrafficLook& look);

  // The last look that saw counted traffic, or the first look when none has.
  std::optional<TimePoint> quiet_since() const { return quiet_since_; }
  // When the quiet period is complete: quiet_since + quiet. nullopt before the first look.
  // Not before the look after one with unattributed connections (pending()).
  std::optional<TimePoint> quiet_until() const;
  // Connections the last look counted but could not attribute yet: the next look names
  // them (a late destroy event) or counts them as traffic, dated to itself.
  std::uint64_t pending() const { return pending_; }
  // The quiet period: options.quiet at first; --quiet auto changes it as it learns.
  Millis quiet() const { return quiet_; }
  void set_quiet(Millis quiet) { quiet_ = quiet; }
  // At the first look: PassiveOpens, and the data segments the app's connections from
  // counted peers received over their lifetimes (both count from their births).
  std::uint64_t baseline_opens() const { return baseline_opens_; }
  std::uint64_t baseline_segments() const { return baseline_segments_; }
  // Peers with counted traffic in looks at or after `since`, most bytes first.
  std::vector<PeerTraffic> active_peers(TimePoint since) const;
  // Counted traffic that no peer can be named for (unattributed, unreadable looks) since.
  std::uint64_t anonymous_since(TimePoint since) const;
  // The ports that count: the configured ones, or every listening port at the last look.
  const std::set<std::uint16_t>& ports() const { return ports_; }

 private:
  struct Known {
    SocketSample socket;
    bool counted = false;  // an app connection from a peer that counts
  };
  struct PeerEvent {
    TimePoint at;
    IpAddress ip;
    std::uint64_t connections;
    std::uint64_t bytes;
  };
  bool ignored(const IpAddress& client, const IpAddress& server) const;
  // --pooled-peer: whether this peer's open connections count at `at`.
  bool holds(const IpAddress& peer, TimePoint at) const;
  void note(std::vector<PeerEvent>& events, TimePoint at, const IpAddress& ip,
            std::uint64_t connections, std::uint64_t bytes, LookResult& result, std::uint16_t port);
  void prune(TimePoint now);

  TrafficOptions options_;
  Millis quiet_;
  std::map<IpAddress, TimePoint> last_new_;  // each counted peer's last new connection
  std::uint64_t baseline_opens_ = 0;
  std::uint64_t baseline_segments_ = 0;
  std::optional<TimePoint> quiet_since_;
  std::optional<std::uint64_t> passive_opens_;  // at the last readable look
  std::map<std::uint64_t, Known> sockets_;      // by cookie, at the last readable look
  std::vector<SocketSample> last_destroyed_;    // the last look's destroy events
  std::set<std::uint16_t> ports_;
  std::vector<PeerEvent> events_;  // counted traffic per peer, within the window
  std::vector<std::pair<TimePoint, std::uint64_t>> anonymous_;
  std::map<IpAddress, std::uint64_t> open_;  // counted connections per peer at the last look
  // Accepted (PassiveOpens) minus seen and minus counted unattributed, since the baseline:
  // pending_ when positive; negative for one look after connections seen before the
  // counter moved.
  std::int64_t backlog_ = 0;
  // Connections the last look could not attribute, judged at the next one: a destroy
  // event comes from a kernel work queue, so it can reach the look after the close.
  std::uint64_t pending_ = 0;
  TimePoint pending_at_{};
  bool baseline_ = false;
};

}  // namespace lameduck
