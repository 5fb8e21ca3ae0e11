// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "control/control_client.h"
#include "control/control_protocol.h"
#include "control/control_server.h"
#include "control/control_socket.h"

using namespace lameduck;
using namespace std::chrono_literals;

TEST_CASE("the socket name is derived from the PID namespace") {
  CHECK(control_socket_name(4026531836) == "lameduck/4026531836");
  CHECK(control_socket_name(1) != control_socket_name(2));
}

TEST_CASE("LineBuffer splits lines and bounds them") {
  LineBuffer in(8);
  CHECK(in.append("dra"));
  CHECK_FALSE(in.next_line());
  CHECK(in.append("in\r\ndone x\nrest"));
  CHECK(in.next_line() == "drain");
  CHECK(in.next_line() == "done x");
  CHECK_FALSE(in.next_line());
  CHECK(in.append("1234"));     // "rest1234": 8 bytes, at the bound
  CHECK_FALSE(in.append("5"));  // 9 bytes without a newline: refused and dropped
  CHECK_FALSE(in.next_line());
  CHECK(in.append("ok\n"));
  CHECK(in.next_line() == "ok");
  // A line that ends inside a chunk counts whole, not just the short one after it.
  CHECK(in.append("123456"));
  CHECK_FALSE(in.append("789\nx"));
  CHECK_FALSE(in.next_line());
  CHECK(in.append("fine\n"));
  CHECK(in.next_line() == "fine");
}

TEST_CASE("requests") {
  CHECK(is_drain_request("drain"));
  CHECK(is_drain_request("drain v2 extra"));  // later versions may add words
  CHECK_FALSE(is_drain_request("drained"));
  CHECK_FALSE(is_drain_request("DRAIN"));
  CHECK_FALSE(is_drain_request(""));
  CHECK(kDrainRequest == "drain\n");
}

TEST_CASE("replies round-trip") {
  for (auto kind : {ReplyKind::draining, ReplyKind::done, ReplyKind::refused}) {
    auto line = format_reply(kind, "delay 15s over");
    REQUIRE(line.back() == '\n');
    auto reply = parse_reply(std::string_view(line).substr(0, line.size() - 1));
    CHECK(reply.kind == kind);
    CHECK(reply.text == "delay 15s over");
  }
  CHECK(format_reply(ReplyKind::done, "") == "done\n");
  CHECK(parse_reply("done").kind == ReplyKind::done);
  CHECK(parse_reply("done").text.empty());
  auto odd = parse_reply("hello there");
  CHECK(odd.kind == ReplyKind::unknown);
  CHECK(odd.text == "hello there");
  // A newline in the text must not break the framing.
  CHECK(format_reply(ReplyKind::refused, "a\nb\rc") == "refused a b c\n");
}

TEST_CASE("the server refuses clients from elsewhere") {
  const uid_t app = 1000;
  SUBCASE("same uid, same namespace") {
    CHECK_FALSE(refuse_client({42, app}, app, PeerNamespace::same));
  }
  SUBCASE("root is always allowed when in this namespace") {
    CHECK_FALSE(refuse_client({42, 0}, app, PeerNamespace::same));
  }
  SUBCASE("pid 0: outside this PID namespace (another container, the host)") {
    auto why = refuse_client({0, app}, app, PeerNamespace::unreadable);
    REQUIRE(why);
    CHECK(why->find("outside") != std::string::npos);
    CHECK(refuse_client({0, 0}, 0, PeerNamespace::same));  // even root
  }
  SUBCASE("another uid") {
    auto why = refuse_client({42, 65534}, app, PeerNamespace::same);
    REQUIRE(why);
    CHECK(why->find("uid 65534") != std::string::npos);
    CHECK(refuse_client({42, 65534}, 0, PeerNamespace::same));  // lameduck is root
  }
  SUBCASE("a visible pid in a nested PID namespace") {
    auto why = refuse_client({42, app}, app, PeerNamespace::different);
    REQUIRE(why);
    CHECK(why->find("another PID namespace") != std::string::npos);
  }
  SUBCASE("an unreadable /proc entry: only root is given the benefit of its visible pid") {
    CHECK_FALSE(refuse_client({42, 0}, app, PeerNamespace::unreadable, "Permission denied"));
    auto why = refuse_client({42, app}, app, PeerNamespace::unreadable, "Permission denied");
    REQUIRE(why);
    CHECK(why->find("Permission denied") != std::string::npos);
  }
}

TEST_CASE("the client only trusts PID 1 of its own namespace") {
  CHECK_FALSE(refuse_server({1, 1000}, 1000));
  CHECK_FALSE(refuse_server({1, 0}, 1000));  // PID 1 runs as root, the hook not
  CHECK(refuse_server({0, 1000}, 1000));     // listener outside our PID namespace
  CHECK(refuse_server({7, 1000}, 1000));     // a squatter in our namespace
  CHECK(refuse_server({1, 2000}, 1000));     // PID 1 of another user
}

// ---- the real sockets, in one process ---------------------------------------------------

namespace {

std::string unique_name() {
  std::random_device random;
  return "lameduck-test/" + std::to_string(getpid()) + "-" + std::to_string(random());
}

std::uint64_t own_namespace() {
  auto ns = own_pid_namespace();
  REQUIRE_MESSAGE(ns.ok(), ns.error);
  return ns.inode;
}

// One round of the supervisor's loop for the server alone.
void pump(ControlServer& server, int timeout_ms = 50) {
  std::vector<pollfd> fds;
  server.add_fds(fds);
  ::poll(fds.data(), fds.size(), timeout_ms);
  server.on_ready(fds, Clock::now());
}

// Reads replies until one arrives, the server closes, or about a second passed.
bool read_some(ControlServer& server, ControlClient& client, std::vector<Reply>& replies) {
  for (int i = 0; i < 20; ++i) {
    pump(server);
    auto read = client.read_replies();
    replies.insert(replies.end(), read.replies.begin(), read.replies.end());
    if (!read.open) return false;
    if (!replies.empty()) return true;
  }
  return true;
}

int raw_connect(const std::string& name) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), size) == 0);
  return fd;
}

}  // namespace

TEST_CASE("a hook asks, hears 'draining', then 'done', then EOF") {
  auto name = unique_name();
  auto server = ControlServer::open(name, own_namespace());
  REQUIRE(server);
  CHECK_FALSE(server->take_drain_request());

  auto connection = ControlClient::connect(name);
  REQUIRE_MESSAGE(connection.client, connection.why);
  auto& client = connection.client;
  CHECK(client->server().pid == getpid());
  CHECK(client->server().uid == geteuid());
  CHECK(client->send_drain_request().ok());

  std::optional<pid_t> taken;
  for (int i = 0; i < 20 && !taken; ++i) {
    pump(*server);
    taken = server->take_drain_request();
  }
  REQUIRE(taken);
  CHECK(*taken == getpid());                  // the hook's pid, for PID 1's log
  CHECK_FALSE(server->take_drain_request());  // once per client
  server->report_draining("phase=waiting-delay elapsed=0ms");

  std::vector<Reply> replies;
  CHECK(read_some(*server, *client, replies));
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].kind == ReplyKind::draining);
  CHECK(replies[0].text == "phase=waiting-delay elapsed=0ms");

  server->report_drained("delay 15s over");
  replies.clear();
  bool open = read_some(*server, *client, replies);
  REQUIRE(!replies.empty());
  CHECK(replies[0].kind == ReplyKind::done);
  CHECK(replies[0].text == "delay 15s over");
  if (open) open = read_some(*server, *client, replies);
  CHECK_FALSE(open);  // the server closes after "done"
}

TEST_CASE("a hook that asks after the drain hears 'done' at once") {
  auto name = unique_name();
  auto server = ControlServer::open(name, own_namespace());
  REQUIRE(server);
  auto client = ControlClient::connect(name).client;
  REQUIRE(client);
  CHECK(client->send_drain_request().ok());
  std::optional<pid_t> taken;
  for (int i = 0; i < 20 && !taken; ++i) {
    pump(*server);
    taken = server->take_drain_request();
  }
  REQUIRE(taken);
  // What the supervisor does: "draining" first, then the drain's report_drained.
  server->report_draining("phase=stopping elapsed=9000ms");
  server->report_drained("drain already done");
  std::vector<Reply> replies;
  for (int i = 0; i < 20 && replies.size() < 2; ++i) {
    pump(*server);
    auto read = client->read_replies();
    replies.insert(replies.end(), read.replies.begin(), read.replies.end());
  }
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].kind == ReplyKind::draining);
  CHECK(replies[1].kind == ReplyKind::done);
}

TEST_CASE("unknown requests are refused; clients going away are dropped") {
  auto name = unique_name();
  auto server = ControlServer::open(name, own_namespace());
  REQUIRE(server);

  int fd = raw_connect(name);
  REQUIRE(::send(fd, "shutdown\n", 9, MSG_NOSIGNAL) == 9);
  std::string got;
  for (int i = 0; i < 20 && got.find('\n') == std::string::npos; ++i) {
    pump(*server);
    char buffer[256];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) got.append(buffer, static_cast<std::size_t>(n));
  }
  CHECK(got.starts_with("refused unknown request"));
  ::close(fd);

  int gone = raw_connect(name);
  pump(*server);
  ::close(gone);
  pump(*server);
  pump(*server);
  CHECK_FALSE(server->take_drain_request());
  server->report_drained("nobody listens");  // must not crash or raise SIGPIPE
}

TEST_CASE("a taken name moves the server to a random one; a missing one is a refused connect") {
  auto name = unique_name();
  auto first = ControlServer::open(name, own_namespace());
  REQUIRE(first);
  CHECK(first->name() == name);
  auto second = ControlServer::open(name, own_namespace());
  REQUIRE(second);
  CHECK(second->name().starts_with(name + "/"));
  CHECK(second->name().size() == name.size() + 17);
  auto third = ControlServer::open(name, own_namespace());
  REQUIRE(third);
  CHECK(third->name() != second->name());
  auto nobody = ControlClient::connect(name + "-nobody");
  CHECK_FALSE(nobody.client);
  CHECK(nobody.failure == ControlConnection::Failure::absent);
  CHECK(nobody.why.find("Connection refused") != std::string::npos);
}

TEST_CASE("a full backlog is retried through the caller's pause, which can give up") {
  // A listener that never accepts, its backlog filled until connect() says EAGAIN.
  auto name = unique_name();
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr;
  socklen_t size = abstract_address(name, addr);
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), size) == 0);
  REQUIRE(::listen(listener.get(), 0) == 0);
  std::vector<UniqueFd> held;
  for (int i = 0; i < 100; ++i) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), size) != 0) break;
    held.push_back(std::move(fd));
  }
  REQUIRE(held.size() < 100);

  SUBCASE("the pause gives up: interrupted, at once") {
    int pauses = 0;
    auto start = Clock::now();
    auto connection = ControlClient::connect(name, 10s, [&pauses](TimePoint) {
      ++pauses;
      return false;
    });
    CHECK(connection.failure == ControlConnection::Failure::interrupted);
    CHECK_FALSE(connection.client);
    CHECK(pauses == 1);
    CHECK(Clock::now() - start < 1s);
  }
  SUBCASE("the pause waits: busy once busy_for is over") {
    int pauses = 0;
    auto connection = ControlClient::connect(name, 100ms, [&pauses](TimePoint until) {
      ++pauses;
      CHECK(until <= Clock::now() + 100ms);
      std::this_thread::sleep_until(until);
      return true;
    });
    CHECK(connection.failure == ControlConnection::Failure::busy);
    CHECK(pauses >= 2);
  }
}

TEST_CASE("listeners are found in /proc/net/unix by name prefix") {
  const char* text =
      "Num       RefCount Protocol Flags    Type St Inode Path\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1001 @lameduck/4026531836\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1002 @lameduck/4026531836/00ff\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1003 @lameduck/40265318367\n"
      "0000000000000000: 00000003 00000000 00000000 0001 03 1004 @lameduck/4026531836/ab\n"
      "0000000000000000: 00000002 00000000 00010000 0002 01 1005 @lameduck/4026531836/dg\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1006 /run/lameduck/4026531836\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1007\n";
  auto found = find_listeners(text, "lameduck/4026531836");
  REQUIRE(found.size() == 2);
  CHECK(found[0].name == "lameduck/4026531836");
  CHECK(found[0].inode == 1001);
  CHECK(found[1].name == "lameduck/4026531836/00ff");
  CHECK(found[1].inode == 1002);
}

TEST_CASE("refused connections are logged once per window, then counted") {
  RefusalSummary summary(Millis(10000));
  TimePoint t0{};
  CHECK(summary.on_refused(t0));
  CHECK_FALSE(summary.due());
  for (int i = 1; i <= 1000; ++i) CHECK_FALSE(summary.on_refused(t0 + Millis(i)));
  REQUIRE(summary.due());
  CHECK(*summary.due() == t0 + Millis(10000));
  CHECK(summary.take(t0 + Millis(9999)) == 0);
  CHECK(summary.take(t0 + Millis(10000)) == 1000);
  CHECK_FALSE(summary.due());
  CHECK(summary.take(t0 + Millis(10001)) == 0);
  CHECK(summary.on_refused(t0 + Millis(20000)));  // a new window: logged again
}

TEST_CASE("open_for_pid1 does not listen unless lameduck is PID 1") {
  if (getpid() == 1) return;
  CHECK_FALSE(ControlServer::open_for_pid1());
}

TEST_CASE("the waited request") {
  CHECK(parse_waited_request("waited delay 1s over") ==
        std::optional<std::string>("delay 1s over"));
  CHECK(parse_waited_request("waited") == std::optional<std::string>(""));
  CHECK_FALSE(parse_waited_request("waitedx"));
  CHECK_FALSE(parse_waited_request("drain"));
  CHECK(format_waited_request("a\nb") == "waited a b\n");
  // An API fallback's reason can pass the server's 512-byte line bound: it is cut.
  std::string line = format_waited_request(std::string(600, 'x'));
  CHECK(line.size() <= std::string("waited \n").size() + kMaxWaitedHow);
  LineBuffer server;
  CHECK(server.append(line));
  CHECK(parse_waited_request(*server.next_line()));
  CHECK_FALSE(is_drain_request("waited x"));
}
