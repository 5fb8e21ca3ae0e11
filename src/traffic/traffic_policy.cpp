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
  // The connections this look shows that the last one did not, by key: one view to
  // attribute them by (counted if any view is), and the server end's full sockets.
  struct NewConnection {
    const Known* view = nullptr;
    std::set<std::uint64_t> full;
  };
  std::map<ConnectionKey, NewConnection> new_keys;
  // What the last look showed of each connection, by key: the two ends of one connection
  // inside the namespace share it, and so does a 4-tuple used again (a client's port
  // comes round while the Pod still holds the old connection's TIME_WAIT: the client's
  // SYN ends it). Cookies tell sockets apart, but only from the first list that shows
  // one on: a full socket keeps its cookie into its destroy event and its TIME_WAIT
  // socket, while one never listed gets a new cookie in each.
  struct Shown {
    bool client = false;                            // the client end of an internal connection
    std::optional<std::uint64_t> client_time_wait;  // that end in TIME_WAIT: its cookie
    std::optional<std::uint64_t> server_time_wait;  // the server end in TIME_WAIT: its cookie
    bool server_event = false;                      // the server end's destroy event
  };
  std::map<ConnectionKey, Shown> old_keys;
  auto shown = [&](const SocketSample& s, bool event) {
    Side side = side_of(s, server_ports);
    if (side == Side::outbound) return;
    Shown& k = old_keys[key_of(s, side)];
    if (side == Side::internal_client) {
      k.client = true;
      if (!event && s.state == TcpState::time_wait) k.client_time_wait = s.cookie;
    } else if (event) {
      k.server_event = true;
    } else if (s.state == TcpState::time_wait) {
      k.server_time_wait = s.cookie;
    }
  };
  for (const auto& [cookie, known] : sockets_) shown(known.socket, false);
  // A connection accepted and closed while the last look read is in its events, and its
  // TIME_WAIT socket only in this look's list.
  for (const auto& s : last_destroyed_) shown(s, true);
  // The cookies this look lists, to tell whether a TIME_WAIT socket of the last is still there.
  std::set<std::uint64_t> listed;
  if (look.sockets) {
    for (const auto& s : *look.sockets) listed.insert(s.cookie);
  }
  auto ended = [&](const std::optional<std::uint64_t>& time_wait) {
    return look.sockets && time_wait && !listed.contains(*time_wait);
  };
  auto known_before = [&](const SocketSample& s, const ConnectionKey& key, Side side, bool event) {
    if (sockets_.contains(s.cookie)) return true;
    auto it = old_keys.find(key);
    if (it == old_keys.end()) return false;
    const Shown& k = it->second;
    // A TIME_WAIT socket the last look listed on this key and this one does not: a SYN on
    // its 4-tuple ended it (a client's port came round; on loopback, connect() takes over
    // its own TIME_WAIT once it is a second old, tcp_tw_reuse), or it expired. What has a
    // new cookie on the key is the new connection's. (The old one's destroy events come
    // as its TIME_WAIT socket is made; one later than a look is taken for a new
    // connection, which errs towards more traffic seen, as before for the server end.)
    if (ended(k.client_time_wait) || ended(k.server_time_wait)) return false;
    if (side == Side::internal_client || k.client) return true;
    // An event after a TIME_WAIT socket (still listed) is its full socket's, late.
    if (event) return k.server_time_wait.has_value();
    // A TIME_WAIT socket whose full socket's event came with the last look. The event of
    // one listed then was that one's own.
    if (s.state == TcpState::time_wait) return k.server_event && !k.server_time_wait;
    return false;  // a live server end with a new cookie: the 4-tuple was used again
  };
  auto classify = [&](const std::vector<SocketSample>& list, std::map<std::uint64_t, Known>& into,
                      bool event) {
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
      if (!inserted || known_before(s, key, side, event)) continue;
      NewConnection& n = new_keys[key];
      if (n.view == nullptr || (it->second.counted && !n.view->counted)) n.view = &it->second;
      // Two full server ends on one key are two connections: the 4-tuple was used twice
      // between the looks. A TIME_WAIT socket is one of them, or its own.
      if (side == Side::server && s.state != TcpState::time_wait) n.full.insert(s.cookie);
    }
  };
  if (look.sockets) classify(*look.sockets, now_known, false);
  if (look.destroyed) classify(*look.destroyed, destroyed, true);

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
    last_destroyed_ = look.destroyed.value_or(std::vector<SocketSample>{});
    return result;
  }

  // New connections: those seen, plus what the counter says was never seen. The backlog
  // is what the counter counted since the baseline and no look saw, less what was already
  // counted unseen; a connection seen before the counter moved (accepted between the two
  // reads) makes it negative for one look only.
  std::int64_t seen = 0;
  std::uint64_t seen_counted = 0;
  for (const auto& [key, n] : new_keys) {
    auto connections = std::max<std::uint64_t>(1, n.full.size());
    seen += static_cast<std::int64_t>(connections);
    if (n.view->counted) {
      seen_counted += connections;
      last_new_[key.client] = look.at;
      note(events_, look.at, key.client, connections, 0, result, key.client_port);
    } else {
      result.uncounted += connections;  // accepted connections that do not count
    }
  }
  std::int64_t delta = 0;
  if (*look.passive_opens >= *passive_opens_) {
    delta = static_cast<std::int64_t>(*look.passive_opens - *passive_opens_);
  } else {
    ++result.uncertain;  // a counter never goes back; something is wrong: count it
  }
  backlog_ = std::max(backlog_ + delta - seen, -seen);
  auto unseen = static_cast<std::uint64_t>(std::max<std::int64_t>(backlog_, 0));
  // The last look's unattributed connections that this look still cannot name count now,
  // and leave the backlog: counted once, they must not be counted again when a later
  // connection is seen before the counter moves. Those a late destroy event named are
  // gone from it already. This look's new ones wait for the next (quiet_until holds the
  // end meanwhile).
  result.unattributed = std::min(pending_, unseen);
  pending_ = unseen - result.unattributed;
  pending_at_ = look.at;
  backlog_ -= static_cast<std::int64_t>(result.unattributed);
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
  last_destroyed_ = look.destroyed.value_or(std::vector<SocketSample>{});
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
