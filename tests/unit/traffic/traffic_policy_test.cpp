// SPDX-License-Identifier: Apache-2.0
#include "traffic/traffic_policy.h"

#include <doctest/doctest.h>

using namespace lameduck;

namespace {

const TimePoint t0{};
TimePoint at(int ms) {
  return t0 + Millis(ms);
}

IpAddress ip(const char* text) {
  return *parse_ip(text);
}

SocketSample listener(std::uint16_t port) {
  SocketSample s;
  s.cookie = 1000 + port;
  s.local = ip("0.0.0.0");
  s.local_port = port;
  s.state = TcpState::listen;
  return s;
}

// An accepted connection on the Pod's 10.0.0.5:port from peer:peer_port.
SocketSample accepted(std::uint64_t cookie, const char* peer, std::uint16_t peer_port,
                      std::uint64_t bytes, std::uint16_t port = 8080) {
  SocketSample s;
  s.cookie = cookie;
  s.local = ip("10.0.0.5");
  s.local_port = port;
  s.peer = ip(peer);
  s.peer_port = peer_port;
  s.state = TcpState::established;
  s.bytes_received = bytes;
  return s;
}

struct Looks {
  std::uint64_t opens = 0;
  std::vector<SocketSample> sockets{listener(8080)};
  std::optional<std::vector<SocketSample>> destroyed;  // since the last look
  TrafficLook at(int ms) const {
    return {lameduck::TimePoint{} + Millis(ms), opens, sockets, destroyed, ""};
  }
};

TrafficPolicy policy(bool wait_pooled = true) {
  TrafficOptions config;
  config.quiet = Millis(2000);
  config.ignore_peers = {*parse_cidr("192.168.1.10")};  // the node
  config.wait_pooled = wait_pooled;
  return TrafficPolicy(config);
}

}  // namespace

TEST_CASE("the first look is the baseline: what was there before does not count") {
  auto p = policy();
  Looks w;
  w.opens = 500;
  w.sockets.push_back(accepted(1, "10.0.3.7", 41822, 100000));
  auto r = p.observe(w.at(0));
  CHECK_FALSE(r.active());
  CHECK(p.quiet_since() == at(0));
  CHECK(p.quiet_until() == at(2000));
  CHECK(p.ports() == std::set<std::uint16_t>{8080});
}

TEST_CASE("a connection accepted and closed between two looks is counted by the counter") {
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  w.opens += 3;  // never seen in a socket list
  auto r = p.observe(w.at(250));
  // Judged at the next look (a late destroy event may still name them); meanwhile the
  // quiet period cannot end before this look's + --quiet.
  CHECK(r.unattributed == 0);
  CHECK(p.pending() == 3);
  CHECK(p.quiet_until() == at(2250));
  r = p.observe(w.at(500));
  CHECK(r.active());
  CHECK(r.new_connections == 3);
  CHECK(r.unattributed == 3);
  CHECK(p.pending() == 0);
  CHECK(p.quiet_since() == at(500));
  CHECK(p.anonymous_since(at(0)) == 3);
  CHECK_FALSE(p.observe(w.at(750)).active());
  CHECK(p.quiet_until() == at(2500));
}

TEST_CASE("a late destroy event names the connection the last look could not attribute") {
  // The kernel sends destroy events from a work queue: on a busy machine one can reach
  // the look after the close. A probe from the node, closed before the list:
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  w.opens += 1;
  CHECK_FALSE(p.observe(w.at(250)).active());
  CHECK(p.pending() == 1);
  CHECK(p.quiet_until() == at(2250));
  SocketSample probe = accepted(7, "192.168.1.10", 50000, 10);
  probe.state = TcpState::close;
  w.destroyed = std::vector<SocketSample>{probe};
  auto r = p.observe(w.at(500));
  CHECK_FALSE(r.active());
  CHECK(p.pending() == 0);
  CHECK(p.quiet_since() == at(0));
  CHECK(p.quiet_until() == at(2000));
}

TEST_CASE("new connections from ignored peers, loopback and the Pod itself do not count") {
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  w.opens += 3;
  w.sockets.push_back(accepted(1, "192.168.1.10", 50000, 120));  // kubelet probe
  w.sockets.push_back(accepted(2, "127.0.0.1", 50001, 80));      // sidecar over loopback
  w.sockets.push_back(accepted(3, "10.0.0.5", 50002, 80));       // the Pod to itself
  auto r = p.observe(w.at(250));
  CHECK_FALSE(r.active());
  CHECK(p.quiet_since() == at(0));
}

TEST_CASE("a short loopback connection is attributed by its client end in TIME_WAIT") {
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  w.opens += 1;
  SocketSample client;  // the client closed first: its end waits, the server end is gone
  client.cookie = 7;
  client.local = ip("127.0.0.1");
  client.local_port = 43000;
  client.peer = ip("127.0.0.1");
  client.peer_port = 8080;
  client.state = TcpState::time_wait;
  w.sockets.push_back(client);
  CHECK_FALSE(p.observe(w.at(250)).active());
}

TEST_CASE("both ends of one loopback connection are one connection") {
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  w.opens += 2;  // one loopback connection, one from a client that closed at once
  w.sockets.push_back(accepted(1, "127.0.0.1", 43000, 10));
  w.sockets.back().local = ip("127.0.0.1");
  SocketSample client = accepted(2, "127.0.0.1", 8080, 0);
  client.local = ip("127.0.0.1");
  client.local_port = 43000;
  w.sockets.push_back(client);
  auto r = p.observe(w.at(250));
  CHECK(r.new_connections == 0);
  CHECK(p.pending() == 1);
  r = p.observe(w.at(500));
  CHECK(r.new_connections == 1);
  CHECK(r.unattributed == 1);
}

TEST_CASE("a connection to a port that is not the app's does not count") {
  TrafficOptions config;
  config.ports = {8080};
  TrafficPolicy p(config);
  Looks w;
  w.sockets.push_back(listener(9090));  // a sidecar's metrics port
  p.observe(w.at(0));
  w.opens += 1;
  w.sockets.push_back(accepted(1, "10.0.9.9", 50000, 300, 9090));
  CHECK_FALSE(p.observe(w.at(250)).active());
  w.sockets.back().bytes_received = 600;
  CHECK_FALSE(p.observe(w.at(500)).active());
  CHECK(p.ports() == std::set<std::uint16_t>{8080});
}

TEST_CASE("without --port, every listening port is the app's") {
  auto p = policy();
  Looks w;
  w.sockets.push_back(listener(9090));
  p.observe(w.at(0));
  CHECK(p.ports() == std::set<std::uint16_t>{8080, 9090});
  w.opens += 1;
  w.sockets.push_back(accepted(1, "10.0.9.9", 50000, 300, 9090));
  CHECK(p.observe(w.at(250)).new_connections == 1);
}

TEST_CASE("outgoing connections of the app are not inbound traffic") {
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  SocketSample out = accepted(9, "10.96.0.1", 443, 0);  // lameduck's own API watch
  out.local_port = 51000;
  w.sockets.push_back(out);
  CHECK_FALSE(p.observe(w.at(250)).active());
  w.sockets.back().bytes_received = 5000;
  CHECK_FALSE(p.observe(w.at(500)).active());
}

TEST_CASE("requests on a pooled connection count while they flow, then the quiet starts") {
  auto p = policy();
  Looks w;
  w.sockets.push_back(accepted(1, "10.0.3.7", 41822, 1000));
  p.observe(w.at(0));
  w.sockets.back().bytes_received = 3000;
  auto r = p.observe(w.at(250));
  CHECK(r.active());
  CHECK(r.new_connections == 0);
  CHECK(r.bytes == 2000);
  REQUIRE(r.last_peer);
  CHECK(format_endpoint(*r.last_peer, r.last_port) == "10.0.3.7:41822");
  w.sockets.back().bytes_received = 4000;
  p.observe(w.at(500));
  CHECK(p.quiet_since() == at(500));
  for (int ms = 750; ms <= 2500; ms += 250) CHECK_FALSE(p.observe(w.at(ms)).active());
  CHECK(p.quiet_until() == at(2500));
  auto peers = p.active_peers(at(0));
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].bytes == 3000);
  CHECK(peers[0].open == 1);
  CHECK(p.active_peers(at(501)).empty());
}

TEST_CASE("--no-wait-pooled: bytes on open connections do not count, new connections do") {
  auto p = policy(false);
  Looks w;
  w.sockets.push_back(accepted(1, "10.0.3.7", 41822, 1000));
  p.observe(w.at(0));
  w.sockets.back().bytes_received = 3000;
  CHECK_FALSE(p.observe(w.at(250)).active());
  w.sockets.pop_back();  // the pooled connection vanishes: does not count either
  CHECK_FALSE(p.observe(w.at(500)).active());
  w.opens += 1;
  w.sockets.push_back(accepted(2, "10.0.3.8", 5000, 10));
  CHECK(p.observe(w.at(750)).new_connections == 1);
}

TEST_CASE("--no-wait-pooled works without a socket list: every new connection counts") {
  auto p = policy(false);
  p.observe({at(0), 10, std::nullopt, std::nullopt, "sock_diag: Operation not permitted"});
  auto r =
      p.observe({at(250), 12, std::nullopt, std::nullopt, "sock_diag: Operation not permitted"});
  CHECK(p.pending() == 2);
  r = p.observe({at(500), 12, std::nullopt, std::nullopt, ""});
  CHECK(r.new_connections == 2);
  CHECK(r.unattributed == 2);
  CHECK(r.error.empty());
  CHECK_FALSE(p.observe({at(750), 12, std::nullopt, std::nullopt, ""}).active());
}

TEST_CASE("a look that cannot be read counts as traffic") {
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  auto r = p.observe(
      {at(250), std::nullopt, w.sockets, std::nullopt, "cannot read /proc/net/snmp: EACCES"});
  CHECK(r.active());
  CHECK(r.error == "cannot read /proc/net/snmp: EACCES");
  CHECK(p.quiet_since() == at(250));
  // A socket list that cannot be read, with --wait-pooled, too.
  CHECK(p.observe({at(500), w.opens, std::nullopt, std::nullopt, "sock_diag failed"}).active());
  CHECK(p.quiet_since() == at(500));
  CHECK(p.anonymous_since(at(0)) == 2);
  // The next readable look compares with the last readable one.
  w.opens += 1;
  p.observe(w.at(750));
  CHECK(p.pending() == 1);
  CHECK(p.observe(w.at(1000)).unattributed == 1);
}

TEST_CASE("an always unreadable namespace is never quiet") {
  auto p = policy();
  for (int ms = 0; ms <= 30000; ms += 250) {
    p.observe({at(ms), std::nullopt, std::nullopt, std::nullopt, "no /proc"});
  }
  CHECK(p.quiet_until() == at(32000));
}

TEST_CASE("a connection that vanished while it could still receive counts") {
  auto p = policy();
  Looks w;
  w.sockets.push_back(accepted(1, "10.0.3.7", 41822, 1000));
  w.sockets.push_back(accepted(2, "10.0.3.8", 41823, 1000));
  w.sockets.back().state = TcpState::close_wait;  // the peer already said goodbye
  p.observe(w.at(0));
  w.sockets.pop_back();
  CHECK_FALSE(p.observe(w.at(250)).active());
  w.sockets.clear();
  w.sockets.push_back(listener(8080));
  auto r = p.observe(w.at(500));
  CHECK(r.uncertain == 1);
  CHECK(r.active());
  REQUIRE(r.last_peer);
  CHECK(format_ip(*r.last_peer) == "10.0.3.7");
}

TEST_CASE("a connection the app closed (TIME_WAIT) after unseen bytes counts once") {
  auto p = policy();
  Looks w;
  w.sockets.push_back(accepted(1, "10.0.3.7", 41822, 1000));
  p.observe(w.at(0));
  w.sockets.back().state = TcpState::time_wait;
  w.sockets.back().bytes_received.reset();
  CHECK(p.observe(w.at(250)).uncertain == 1);
  CHECK_FALSE(p.observe(w.at(500)).active());
}

TEST_CASE("a counter that goes back, or bytes that shrink, count as traffic") {
  auto p = policy();
  Looks w;
  w.opens = 100;
  w.sockets.push_back(accepted(1, "10.0.3.7", 41822, 1000));
  p.observe(w.at(0));
  w.opens = 90;
  CHECK(p.observe(w.at(250)).uncertain == 1);
  w.sockets.back().bytes_received = 10;
  CHECK(p.observe(w.at(500)).uncertain == 1);
}

TEST_CASE("a connection seen before the counter moved counts once") {
  // The counter is read before the list: a connection accepted in between is in the list
  // but not yet in the counter. It counts now; the counter catches up next look.
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  w.sockets.push_back(accepted(1, "10.0.3.7", 41822, 50));
  auto r = p.observe(w.at(250));
  CHECK(r.new_connections == 1);
  CHECK(r.bytes == 50);
  w.opens += 1;
  CHECK_FALSE(p.observe(w.at(500)).active());
}

TEST_CASE("an ignored probe seen early does not hide a real connection later") {
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  w.sockets.push_back(accepted(1, "192.168.1.10", 50000, 10));  // before the counter moved
  CHECK_FALSE(p.observe(w.at(250)).active());
  w.opens += 1;  // the probe
  CHECK_FALSE(p.observe(w.at(500)).active());
  w.opens += 1;  // a real one, never seen
  p.observe(w.at(750));
  CHECK(p.observe(w.at(1000)).unattributed == 1);
}

TEST_CASE("a connection counted unseen is not counted again when a later one is seen early") {
  // Once counted, it leaves the backlog: a probe seen before the counter moved then
  // balances the counter on its own, and nothing more counts.
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  w.opens += 1;  // never seen
  p.observe(w.at(250));
  CHECK(p.observe(w.at(500)).unattributed == 1);
  w.sockets.push_back(accepted(1, "192.168.1.10", 50000, 10));  // before the counter moved
  CHECK_FALSE(p.observe(w.at(750)).active());
  w.opens += 1;  // the probe
  CHECK_FALSE(p.observe(w.at(1000)).active());
  CHECK(p.pending() == 0);
  CHECK_FALSE(p.observe(w.at(1250)).active());
  CHECK(p.quiet_since() == at(500));
  CHECK(p.anonymous_since(at(0)) == 1);
  w.opens += 1;  // a real one, never seen: still counted
  p.observe(w.at(1500));
  CHECK(p.observe(w.at(1750)).unattributed == 1);
}

TEST_CASE("destroyed sockets attribute short connections, whoever closed first") {
  auto p = policy();
  Looks w;
  w.destroyed.emplace();
  p.observe(w.at(0));
  // The kubelet's probe: closed by the probe first, so no TIME_WAIT in the Pod.
  auto probe = accepted(1, "192.168.1.10", 50000, 120);
  probe.state = TcpState::close;
  w.opens += 1;
  w.destroyed = {probe};
  CHECK_FALSE(p.observe(w.at(250)).active());
  auto real = accepted(2, "10.0.3.7", 50001, 300);
  real.state = TcpState::close;
  w.opens += 1;
  w.destroyed = {real};
  auto r = p.observe(w.at(500));
  CHECK(r.new_connections == 1);
  CHECK(r.unattributed == 0);
  CHECK(r.bytes == 300);
  REQUIRE(r.last_peer);
  CHECK(format_ip(*r.last_peer) == "10.0.3.7");
}

// A connection on the Pod's 10.0.0.5:8080 from 10.0.3.7:50000, in `state`.
SocketSample on_tuple(std::uint64_t cookie, TcpState state) {
  SocketSample s = accepted(cookie, "10.0.3.7", 50000, 0);
  s.state = state;
  if (state == TcpState::time_wait) s.bytes_received.reset();
  return s;
}

TEST_CASE("a 4-tuple used again after its TIME_WAIT is a new connection") {
  // The app closed first, so the Pod holds the TIME_WAIT; the client's port came round
  // and its SYN ended it.
  auto p = policy();
  Looks w;
  w.destroyed.emplace();
  w.sockets.push_back(on_tuple(1, TcpState::time_wait));
  p.observe(w.at(0));
  w.sockets.back() = on_tuple(2, TcpState::established);
  w.opens += 1;
  auto r = p.observe(w.at(250));
  CHECK(r.new_connections == 1);
  CHECK(r.unattributed == 0);
  CHECK(p.pending() == 0);
  // Closed by the app again: its event, then a new TIME_WAIT socket (its cookie kept).
  w.sockets.back() = on_tuple(2, TcpState::time_wait);
  w.destroyed = {on_tuple(2, TcpState::close)};
  CHECK(p.observe(w.at(500)).new_connections == 0);
  // Once more, opened and closed between two looks: a new cookie in both views.
  w.sockets.back() = on_tuple(4, TcpState::time_wait);
  w.destroyed = {on_tuple(3, TcpState::close)};
  w.opens += 1;
  r = p.observe(w.at(750));
  CHECK(r.new_connections == 1);
  CHECK(r.unattributed == 0);
  CHECK(p.pending() == 0);
}

TEST_CASE("a late destroy event of a TIME_WAIT socket still listed is not a new connection") {
  auto p = policy();
  Looks w;
  w.destroyed.emplace();
  p.observe(w.at(0));
  w.sockets.push_back(on_tuple(5, TcpState::time_wait));  // its event not sent yet
  w.opens += 1;
  CHECK(p.observe(w.at(250)).new_connections == 1);
  w.destroyed = {on_tuple(6, TcpState::close)};
  auto r = p.observe(w.at(500));
  CHECK_FALSE(r.active());
  CHECK(p.pending() == 0);
  CHECK(p.observe(w.at(750)).unattributed == 0);
}

TEST_CASE("a TIME_WAIT socket listed after its connection's event is not a new connection") {
  // Accepted and closed while the last look read: its event came with that look, its
  // TIME_WAIT socket (another cookie) only with this one.
  auto p = policy();
  Looks w;
  w.destroyed.emplace();
  p.observe(w.at(0));
  w.destroyed = {on_tuple(7, TcpState::close)};
  w.opens += 1;
  CHECK(p.observe(w.at(250)).new_connections == 1);
  w.destroyed->clear();
  w.sockets.push_back(on_tuple(8, TcpState::time_wait));
  CHECK_FALSE(p.observe(w.at(500)).active());
  CHECK(p.observe(w.at(750)).unattributed == 0);
}

TEST_CASE("two connections on one 4-tuple between two looks are two") {
  auto p = policy();
  Looks w;
  w.destroyed.emplace();
  p.observe(w.at(0));
  w.destroyed = {on_tuple(7, TcpState::close), on_tuple(9, TcpState::close)};
  w.sockets.push_back(on_tuple(10, TcpState::time_wait));  // the second's
  w.opens += 2;
  auto r = p.observe(w.at(250));
  CHECK(r.new_connections == 2);
  CHECK(p.pending() == 0);
  CHECK(p.active_peers(at(0)).front().connections == 2);
}

// A loopback connection inside the Pod, from 127.0.0.1:43102 to the app's :8080: its
// client end, and its server end.
SocketSample loopback_end(std::uint64_t cookie, bool client, TcpState state) {
  SocketSample s;
  s.cookie = cookie;
  s.local = ip("127.0.0.1");
  s.peer = ip("127.0.0.1");
  s.local_port = client ? 43102 : 8080;
  s.peer_port = client ? 8080 : 43102;
  s.state = state;
  if (state != TcpState::time_wait) s.bytes_received = 0;
  return s;
}

TEST_CASE("a loopback client that takes over its own TIME_WAIT opens a new connection") {
  // A sidecar closes first, so its end holds the TIME_WAIT; a second later its port comes
  // round and connect() takes that TIME_WAIT over (tcp_tw_reuse, on for loopback).
  auto p = policy();
  Looks w;
  w.destroyed.emplace();
  w.sockets.push_back(loopback_end(1, true, TcpState::time_wait));
  p.observe(w.at(0));
  // Opened and closed between two looks: both ends' events and a new TIME_WAIT socket,
  // each with a new cookie; the old TIME_WAIT socket is gone.
  w.sockets.back() = loopback_end(4, true, TcpState::time_wait);
  w.destroyed = {loopback_end(2, false, TcpState::close), loopback_end(3, true, TcpState::close)};
  w.opens += 1;
  auto r = p.observe(w.at(250));
  CHECK(r.uncounted == 1);  // seen: the Pod's own traffic
  CHECK_FALSE(r.active());
  CHECK(p.pending() == 0);
  w.destroyed->clear();
  r = p.observe(w.at(500));
  CHECK_FALSE(r.active());
  CHECK(r.unattributed == 0);
}

TEST_CASE("a late event of a loopback connection whose TIME_WAIT is still listed is not new") {
  auto p = policy();
  Looks w;
  w.destroyed.emplace();
  p.observe(w.at(0));
  // The client end's TIME_WAIT and event; the server end's event is late.
  w.sockets.push_back(loopback_end(5, true, TcpState::time_wait));
  w.destroyed = {loopback_end(6, true, TcpState::close)};
  w.opens += 1;
  CHECK(p.observe(w.at(250)).uncounted == 1);
  w.destroyed = {loopback_end(7, false, TcpState::close)};
  auto r = p.observe(w.at(500));
  CHECK(r.uncounted == 0);
  CHECK_FALSE(r.active());
  // Not taken for a connection the counter did not count: a real one now is not hidden.
  w.opens += 1;
  w.destroyed->clear();
  CHECK(p.observe(w.at(750)).unattributed == 0);
  CHECK(p.pending() == 1);
}

TEST_CASE("a pooled connection closed between looks: its last bytes come with it") {
  auto p = policy();
  Looks w;
  w.destroyed.emplace();
  w.sockets.push_back(accepted(1, "10.0.3.7", 41822, 1000));
  p.observe(w.at(0));
  auto last = w.sockets.back();
  w.sockets.pop_back();
  last.state = TcpState::close;
  w.destroyed = {last};  // no byte since the last look: not traffic, not uncertain
  CHECK_FALSE(p.observe(w.at(250)).active());
  w.destroyed = std::vector<SocketSample>{};
  w.sockets.push_back(accepted(2, "10.0.3.7", 41823, 1000));
  p.observe(w.at(500));
  last = w.sockets.back();
  last.state = TcpState::time_wait;  // the app closed it: the full socket is destroyed
  last.bytes_received.reset();
  w.sockets.back() = last;
  auto full = accepted(2, "10.0.3.7", 41823, 1500);
  full.state = TcpState::close;
  w.destroyed = {full};
  auto r = p.observe(w.at(750));
  CHECK(r.uncertain == 0);
  CHECK(r.bytes == 500);
}

TEST_CASE("ignored probes do not hide a real connection in the same look") {
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  w.opens += 2;
  w.sockets.push_back(accepted(1, "192.168.1.10", 50000, 120));
  p.observe(w.at(250));
  CHECK(p.pending() == 1);
  auto r = p.observe(w.at(500));
  CHECK(r.new_connections == 1);
  CHECK(r.unattributed == 1);
}

TEST_CASE("peers are listed by bytes, with their open connections") {
  auto p = policy();
  Looks w;
  w.sockets.push_back(accepted(1, "10.0.3.7", 1, 0));
  w.sockets.push_back(accepted(2, "10.0.3.7", 2, 0));
  w.sockets.push_back(accepted(3, "10.0.3.9", 3, 0));
  p.observe(w.at(0));
  w.sockets[1].bytes_received = 100;
  w.sockets[2].bytes_received = 100;
  w.sockets[3].bytes_received = 5000;
  w.opens += 1;
  w.sockets.push_back(accepted(4, "10.0.3.7", 4, 0));
  p.observe(w.at(250));
  auto peers = p.active_peers(at(0));
  REQUIRE(peers.size() == 2);
  CHECK(format_ip(peers[0].ip) == "10.0.3.9");
  CHECK(peers[0].bytes == 5000);
  CHECK(format_ip(peers[1].ip) == "10.0.3.7");
  CHECK(peers[1].bytes == 200);
  CHECK(peers[1].connections == 1);
  CHECK(peers[1].open == 3);
}

TEST_CASE("a handshake in progress is attributed when accepted, not before") {
  // Not yet in PassiveOpens: subtracting it now could hide a real connection.
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  w.opens += 1;  // a real connection, never seen
  w.sockets.push_back(accepted(1, "192.168.1.10", 50000, 0));
  w.sockets.back().state = TcpState::new_syn_recv;  // a probe's SYN
  CHECK(p.observe(w.at(250)).new_connections == 0);
  CHECK(p.pending() == 1);
  w.opens += 1;  // the probe accepted
  w.sockets.back().state = TcpState::established;
  CHECK(p.observe(w.at(500)).unattributed == 1);  // the real one: still not named
  CHECK_FALSE(p.observe(w.at(750)).active());
}

TEST_CASE("--pooled-peer: another peer's open connections hold only while it opens new ones") {
  TrafficOptions config;
  config.quiet = Millis(2000);
  config.pooled_peers = {*parse_cidr("10.0.9.0/24")};  // the load balancer
  TrafficPolicy p(config);
  Looks w;
  w.sockets.push_back(accepted(1, "10.0.9.4", 40000, 1000));  // the balancer's pool
  w.sockets.push_back(accepted(2, "10.0.3.7", 41000, 1000));  // an in-cluster client's pool
  p.observe(w.at(0));

  // The in-cluster client sends on its open connection and has opened nothing new.
  w.sockets[2].bytes_received = 2000;
  CHECK_FALSE(p.observe(w.at(250)).active());

  // It opens a new connection: that counts, and so do its open ones for --quiet.
  w.opens += 1;
  w.sockets.push_back(accepted(3, "10.0.3.7", 41001, 0));
  CHECK(p.observe(w.at(500)).new_connections == 1);
  w.sockets[2].bytes_received = 3000;
  auto r = p.observe(w.at(2500));
  CHECK(r.bytes == 1000);
  CHECK(p.quiet_since() == at(2500));
  // More than --quiet after its last new connection: its bytes no longer count.
  w.sockets[2].bytes_received = 4000;
  CHECK_FALSE(p.observe(w.at(2750)).active());

  // The balancer's bytes always count.
  w.sockets[1].bytes_received = 1500;
  r = p.observe(w.at(3000));
  CHECK(r.bytes == 500);
  CHECK(p.quiet_since() == at(3000));
}

TEST_CASE("without --pooled-peer every peer's open connections hold the wait") {
  auto p = policy();
  Looks w;
  w.sockets.push_back(accepted(1, "10.0.3.7", 41000, 1000));
  p.observe(w.at(0));
  w.sockets[1].bytes_received = 2000;
  CHECK(p.observe(w.at(250)).bytes == 1000);
}

TEST_CASE("requests and uncounted connections for the rate") {
  TrafficOptions config;
  config.ignore_peers = {*parse_cidr("192.168.1.10")};
  config.ports = {8080};
  TrafficPolicy p(config);
  Looks w;
  auto pooled = accepted(1, "10.0.3.7", 41000, 1000);
  pooled.data_segments = 10;
  auto probe_pool = accepted(2, "192.168.1.10", 42000, 1000);  // the node: ignored
  probe_pool.data_segments = 50;
  w.sockets.push_back(pooled);
  w.sockets.push_back(probe_pool);
  w.opens = 100;
  p.observe(w.at(0));
  CHECK(p.baseline_opens() == 100);
  CHECK(p.baseline_segments() == 10);  // not the ignored peer's

  w.opens += 3;
  w.sockets.push_back(accepted(3, "10.0.3.8", 43000, 0));        // counts
  w.sockets.push_back(accepted(4, "192.168.1.10", 43001, 0));    // a probe
  w.sockets.push_back(accepted(5, "10.0.3.9", 43002, 0, 9100));  // not the app's port
  w.sockets.push_back(listener(9100));
  w.sockets[1].bytes_received = 1600;
  w.sockets[1].data_segments = 13;
  w.sockets[2].bytes_received = 9000;
  w.sockets[2].data_segments = 90;
  auto r = p.observe(w.at(250));
  CHECK(r.requests == 1 + 3);
  CHECK(r.uncounted == 2);
}

TEST_CASE("set_quiet moves the end of the quiet period") {
  auto p = policy();
  Looks w;
  p.observe(w.at(0));
  CHECK(p.quiet_until() == at(2000));
  p.set_quiet(Millis(9200));
  CHECK(p.quiet() == Millis(9200));
  CHECK(p.quiet_until() == at(9200));
}
