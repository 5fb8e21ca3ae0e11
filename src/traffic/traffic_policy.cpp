// SPDX-License-Identifier: Apache-2.0
#include "traffic/traffic_policy.h"

#include <algorithm>
#include <tuple>

namespace lameduck {
namespace {

// A connection by its two ends, whichever side of it a socket is: both sockets of a
// connection inside the namespace (loopback, or to the Pod's own IP) give the same key.
struct ConnectionKey {
  IpAddress server;
  std::uint16_t server_port;
  IpAddress client;
  std::uint16_t client_port;
  bool operator<(const ConnectionKey& o) const {
    return std::tie(server, server_port, client, client_port) <
           std::tie(o.server, o.server_port, o.client, o.client_port);
  }
};

enum class Side { server, internal_client, outbound };

Side side_of(const SocketSample& s, const std::set<std::uint16_t>& server_ports) {
  if (server_ports.contains(s.local_port)) return Side::server;
  // The client end of a connection to one of our own listeners.
  if (server_ports.contains(s.peer_port) && (s.peer.is_loopback() || s.peer == s.local)) {
    return Side::internal_client;
  }
  return Side::outbound;
}

ConnectionKey key_of(const SocketSample& s, Side side) {
  if (side == Side::server) return {s.local, s.local_port, s.peer, s.peer_port};
  return {s.peer, s.peer_port, s.local, s.local_port};
}

}  // namespace

bool can_receive(TcpState state) {
  switch (state) {
    case TcpState::established:
    case TcpState::syn_recv:
    case TcpState::new_syn_recv:
    case TcpState::fin_wait1:
    case TcpState::fin_wait2: return true;
    default: return false;
  }
}

TrafficPolicy::TrafficPolicy(TrafficOptions options)
    : options_(std::move(options)), quiet_(options_.quiet) {}

std::optional<TimePoint> TrafficPolicy::quiet_until() const {
  if (!quiet_since_) return std::nullopt;
  auto since = pending_ > 0 ? std::max(*quiet_since_, pending_at_) : *quiet_since_;
  return since + quiet_;
}

bool TrafficPolicy::holds(const IpAddress& peer, TimePoint at) const {
  if (options_.pooled_peers.empty()) return true;
  if (std::any_of(options_.pooled_peers.begin(), options_.pooled_peers.end(),
                  [&](const Cidr& c) { return c.contains(peer); })) {
    return true;
  }
  // Another peer (an in-cluster client through kube-proxy): its open connections stay on
  // this Pod until the app closes them, so they count only while it still opens new ones.
  auto it = last_new_.find(peer);
  return it != last_new_.end() && at - it->second <= quiet_;
}

bool TrafficPolicy::ignored(const IpAddress& client, const IpAddress& server) const {
  if (client.is_loopback() || client == server) return true;
  return std::any_of(options_.ignore_peers.begin(), options_.ignore_peers.end(),
                     [&](const Cidr& c) { return c.contains(client); });
}

void TrafficPolicy::note(std::vector<PeerEvent>& events, TimePoint at, const IpAddress& ip,
                         std::uint64_t connections, std::uint64_t bytes, LookResult& result,
                         std::uint16_t port) {
  events.push_back({at, ip, connections, bytes});
  result.last_peer = ip;
  result.last_port = port;
}

void TrafficPolicy::prune(TimePoint now) {
  auto window = std::max(quiet_, Millis(1000)) + Millis(1000);
  std::erase_if(events_, [&](const PeerEvent& e) { return e.at + window < now; });
  std::erase_if(anonymous_, [&](const auto& a) { return a.first + window < now; });
}

LookResult TrafficPolicy::observe(const TrafficLook& look) {
  LookResult result;
  prune(look.at);
  bool need_sockets = options_.wait_pooled;
  if (!look.passive_opens || (need_sockets && !look.sockets)) {
    // Blind for this look: it counts as traffic, and the next readable look is compared
    // with the last readable one.
    result.error = look.error.empty() ? "look failed" : look.error;
    quiet_since_ = look.at;
    anonymous_.emplace_back(look.at, 1);
    return result;
  }

  std::set<std::uint16_t> listening;
  if (look.sockets) {
    for (const auto& s : *look.sockets) {
      if (s.state == TcpState::listen) listening.insert(s.local_port);
    }
  }
  std::set<std::uint16_t> server_ports = listening;
  server_ports.insert(options_.ports.begin(), options_.ports.end());
  ports_ = options_.ports.empty() ? listening : options_.ports;

  // This look's sockets by cookie, and which connections they are: the live ones, and
  // those destroyed since the last look (their final state).
  std::map<std::uint64_t, Known> now_known, destroyed;
  std::map<ConnectionKey, const Known*> new_keys;
  std::set<ConnectionKey> old_keys;
  for (const auto& [cookie, known] : sockets_) {
    Side side = side_of(known.socket, server_ports);
    if (side != Side::outbound) old_keys.insert(key_of(known.socket, side));
  }
  auto classify = [&](const std::vector<SocketSample>& list, std::map<std::uint64_t, Known>& into) {
    for (const auto& s : list) {
      // A handshake in progress is not accepted yet, so not in PassiveOpens: it is
      // counted, and attributed, at the next look.
      if (s.state == TcpState::listen || s.state == TcpState::syn_recv ||
          s.state == TcpState::new_syn_recv) {
        continue;
      }
      Side side = side_of(s, server_ports);
      if (side == Side::outbound) continue;
      ConnectionKey key = key_of(s, side);
      Known known{
          s, side == Side::server && ports_.contains(s.local_port) && !ignored(s.peer, s.local)};
      auto [it, inserted] = into.emplace(s.cookie, known);
      if (!inserted || old_keys.contains(key)) continue;
      // One connection, however many of its sockets are listed: counted if any view is.
      auto [slot, fresh] = new_keys.emplace(key, &it->second);
      if (!fresh && it->second.counted) slot->second = &it->second;
    }
  };
  if (look.sockets) classify(*look.sockets, now_known);
  if (look.destroyed) classify(*look.destroyed, destroyed);

  if (!baseline_) {
    baseline_ = true;
    quiet_since_ = look.at;
    passive_opens_ = look.passive_opens;
    baseline_opens_ = *look.passive_opens;
    for (const auto& [cookie, known] : now_known) {
      if (known.counted && holds(known.socket.peer, look.at)) {
        baseline_segments_ += known.socket.data_segments.value_or(0);
      }
    }
    sockets_ = std::move(now_known);
    return result;
  }

  // New connections: those seen, plus what the counter says was never seen. The backlog
  // is counted minus seen since the baseline; a connection seen before the counter moved
  // (accepted between the two reads) makes it negative for one look only.
  std::int64_t seen = 0;
  std::uint64_t seen_counted = 0;
  for (const auto& [key, known] : new_keys) {
    ++seen;
    if (known->counted) {
      ++seen_counted;
      last_new_[key.client] = look.at;
      note(events_, look.at, key.client, 1, 0, result, key.client_port);
    } else {
      ++result.uncounted;  // an accepted connection that does not count
    }
  }
  std::int64_t delta = 0;
  if (*look.passive_opens >= *passive_opens_) {
    delta = static_cast<std::int64_t>(*look.passive_opens - *passive_opens_);
  } else {
    ++result.uncertain;  // a counter never goes back; something is wrong: count it
  }
  std::int64_t before = std::max<std::int64_t>(backlog_, 0);
  backlog_ = std::max(backlog_ + delta - seen, -seen);
  auto now_unseen = std::max<std::int64_t>(backlog_, 0);
  // The last look's unattributed connections that this look still cannot name count now;
  // those a late destroy event named are gone from the backlog. This look's new ones wait
  // for the next (quiet_until holds the end meanwhile).
  auto named = static_cast<std::uint64_t>(std::max<std::int64_t>(before - now_unseen, 0));
  result.unattributed = pending_ - std::min(pending_, named);
  pending_ = static_cast<std::uint64_t>(std::max<std::int64_t>(now_unseen - before, 0));
  pending_at_ = look.at;
  result.new_connections = seen_counted + result.unattributed;
  result.requests = seen_counted;

  if (options_.wait_pooled && look.sockets) {
    auto count_bytes = [&](const Known& known, bool gone) {
      const auto& s = known.socket;
      if (!holds(s.peer, look.at)) return;
      auto before_it = sockets_.find(s.cookie);
      std::uint64_t bytes = 0;
      bool unknown = false;
      if (before_it == sockets_.end()) {
        bytes = s.bytes_received.value_or(0);
      } else if (const auto& b = before_it->second.socket; b.bytes_received && s.bytes_received) {
        if (*s.bytes_received >= *b.bytes_received) {
          bytes = *s.bytes_received - *b.bytes_received;
          if (b.data_segments && s.data_segments && *s.data_segments >= *b.data_segments) {
            result.requests += *s.data_segments - *b.data_segments;
          } else if (bytes > 0) {
            ++result.requests;
          }
        } else {
          unknown = true;
        }
      } else if (b.bytes_received && can_receive(b.state) && !gone &&
                 !destroyed.contains(s.cookie)) {
        unknown = true;  // closed by the app (TIME_WAIT) after bytes we did not see
      }
      if (unknown) ++result.uncertain;
      if (bytes > 0 || unknown) {
        result.bytes += bytes;
        note(events_, look.at, s.peer, 0, bytes, result, s.peer_port);
      }
    };
    for (const auto& [cookie, known] : now_known) {
      // A socket that turned TIME_WAIT is also listed as destroyed, with its last bytes.
      if (known.counted && !destroyed.contains(cookie)) count_bytes(known, false);
    }
    for (const auto& [cookie, known] : destroyed) {
      if (known.counted) count_bytes(known, true);
    }
    for (const auto& [cookie, known] : sockets_) {
      if (!known.counted || now_known.contains(cookie) || destroyed.contains(cookie) ||
          !can_receive(known.socket.state) || !holds(known.socket.peer, look.at)) {
        continue;
      }
      // Gone while it could still receive, and no word of how: what arrived since the
      // last look is unknown.
      ++result.uncertain;
      note(events_, look.at, known.socket.peer, 0, 0, result, known.socket.peer_port);
    }
  }

  open_.clear();
  for (const auto& [cookie, known] : now_known) {
    if (known.counted && can_receive(known.socket.state)) ++open_[known.socket.peer];
  }
  if (result.unattributed > 0) anonymous_.emplace_back(look.at, result.unattributed);
  if (result.active()) quiet_since_ = look.at;
  passive_opens_ = look.passive_opens;
  if (look.sockets) sockets_ = std::move(now_known);
  return result;
}

std::vector<PeerTraffic> TrafficPolicy::active_peers(TimePoint since) const {
  std::map<IpAddress, PeerTraffic> peers;
  for (const auto& e : events_) {
    if (e.at < since) continue;
    auto& p = peers[e.ip];
    p.ip = e.ip;
    p.connections += e.connections;
    p.bytes += e.bytes;
  }
  std::vector<PeerTraffic> out;
  for (auto& [ip, p] : peers) {
    if (auto it = open_.find(ip); it != open_.end()) p.open = it->second;
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const PeerTraffic& a, const PeerTraffic& b) {
    return std::tie(b.bytes, b.connections) < std::tie(a.bytes, a.connections);
  });
  return out;
}

std::uint64_t TrafficPolicy::anonymous_since(TimePoint since) const {
  std::uint64_t n = 0;
  for (const auto& [at, count] : anonymous_) {
    if (at >= since) n += count;
  }
  return n;
}

}  // namespace lameduck
