// SPDX-License-Identifier: Apache-2.0
#include "traffic/traffic_probe.h"

#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "base/errors.h"
#include "base/procfs.h"
#include "base/text.h"
#include "base/unique_fd.h"

namespace lameduck {
namespace {

// A drain's memory stays bounded even on a node that holds very many connections in the
// namespace; a bigger list counts as an unreadable look (so as traffic).
constexpr std::size_t kMaxSockets = 65536;

IpAddress address_of(int family, const __be32 (&raw)[4]) {
  if (family == AF_INET) return IpAddress::v4(raw[0]);
  std::uint8_t bytes[16];
  std::memcpy(bytes, raw, sizeof bytes);
  return IpAddress::v6(bytes);
}

// One inet_diag_msg (a dump's answer or a destroy event) and its tcp_info.
SocketSample parse_socket(nlmsghdr* h) {
  auto* msg = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
  SocketSample s;
  s.cookie = msg->id.idiag_cookie[0] | (std::uint64_t{msg->id.idiag_cookie[1]} << 32);
  s.local = address_of(msg->idiag_family, msg->id.idiag_src);
  s.peer = address_of(msg->idiag_family, msg->id.idiag_dst);
  s.local_port = ntohs(msg->id.idiag_sport);
  s.peer_port = ntohs(msg->id.idiag_dport);
  s.state = static_cast<TcpState>(msg->idiag_state);
  s.inode = msg->idiag_inode;
  auto attributes = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
  for (auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(msg) + NLMSG_ALIGN(sizeof *msg));
       RTA_OK(a, attributes); a = RTA_NEXT(a, attributes)) {
    // Older kernels send a shorter tcp_info: use the field only when it is there.
    constexpr std::size_t kEnd =
        offsetof(tcp_info, tcpi_bytes_received) + sizeof(tcp_info::tcpi_bytes_received);
    if (a->rta_type != INET_DIAG_INFO) continue;
    const auto* info = static_cast<const char*>(RTA_DATA(a));
    if (RTA_PAYLOAD(a) >= kEnd) {
      std::uint64_t bytes;
      std::memcpy(&bytes, info + offsetof(tcp_info, tcpi_bytes_received), sizeof bytes);
      s.bytes_received = bytes;
    }
    constexpr std::size_t kSegsEnd =
        offsetof(tcp_info, tcpi_data_segs_in) + sizeof(tcp_info::tcpi_data_segs_in);
    if (RTA_PAYLOAD(a) >= kSegsEnd) {
      std::uint32_t segments;
      std::memcpy(&segments, info + offsetof(tcp_info, tcpi_data_segs_in), sizeof segments);
      s.data_segments = segments;
    }
  }
  return s;
}

bool is_socket_message(const nlmsghdr* h) {
  return h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
         h->nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg));
}

}  // namespace

SockDiagEvents::~SockDiagEvents() {
  close();
}

void SockDiagEvents::close() {
  fd_.reset();
}

bool SockDiagEvents::subscribe(std::string& error) {
  if (fd_) return true;
  fd_.reset(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG));
  if (!fd_) {
    error = errno_text("sock_diag events socket");
    return false;
  }
  // Room for a burst of closes between two looks; the kernel caps it at rmem_max.
  int size = 4 << 20;
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  sockaddr_nl groups{};
  groups.nl_family = AF_NETLINK;
  groups.nl_groups =
      (1U << (SKNLGRP_INET_TCP_DESTROY - 1)) | (1U << (SKNLGRP_INET6_TCP_DESTROY - 1));
  if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&groups), sizeof groups) < 0) {
    error = errno_text("sock_diag destroy events");
    close();
    return false;
  }
  return true;
}

std::optional<std::vector<SocketSample>> SockDiagEvents::drain() {
  if (!fd_) return std::nullopt;
  std::vector<SocketSample> out;
  alignas(nlmsghdr) static std::array<char, 32768> buffer;
  bool lost = false;
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      lost = true;  // the kernel dropped events: this look cannot know every close
      continue;
    }
    if (n <= 0) break;
    auto left = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (!is_socket_message(h)) continue;
      if (out.size() >= kMaxSockets) {
        lost = true;
        continue;
      }
      out.push_back(parse_socket(h));
    }
  }
  if (lost) return std::nullopt;
  return out;
}

SockDiagSocket::~SockDiagSocket() {
  close();
}

void SockDiagSocket::close() {
  fd_.reset();
}

std::optional<std::vector<SocketSample>> SockDiagSocket::dump_tcp(std::string& error) {
  if (!fd_) {
    fd_.reset(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!fd_) {
      error = errno_text("sock_diag socket");
      return std::nullopt;
    }
    // A dump is answered by the kernel at once; the timeout only guards PID 1 against a
    // kernel that never answers.
    timeval timeout{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  std::vector<SocketSample> out;
  if (!dump_family(AF_INET, out, error) || !dump_family(AF_INET6, out, error)) {
    close();  // a half-read dump leaves messages behind: start afresh next time
    return std::nullopt;
  }
  return out;
}

bool SockDiagSocket::dump_family(int family, std::vector<SocketSample>& out, std::string& error) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.header.nlmsg_seq = static_cast<__u32>(family);
  message.request.sdiag_family = static_cast<__u8>(family);
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = ~0U;
  message.request.idiag_ext = 1 << (INET_DIAG_INFO - 1);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_.get(), &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0) {
    error = errno_text("sock_diag request");
    return false;
  }
  alignas(nlmsghdr) static std::array<char, 32768> buffer;
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buffer.data(), buffer.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n == 0 ? std::string("sock_diag: connection closed") : errno_text("sock_diag read");
      return false;
    }
    auto left = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return true;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        errno = -e->error;
        error = errno_text("sock_diag dump");
        return false;
      }
      if (!is_socket_message(h)) continue;
      SocketSample sample = parse_socket(h);
      if (out.size() >= kMaxSockets) {
        error = "more than " + std::to_string(kMaxSockets) + " TCP sockets in the namespace";
        return false;
      }
      out.push_back(sample);
    }
  }
}

std::optional<std::uint64_t> read_passive_opens(std::string& error) {
  UniqueFd fd(::open("/proc/net/snmp", O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    error = errno_text("cannot read /proc/net/snmp");
    return std::nullopt;
  }
  std::array<char, 8192> text{};
  std::size_t size = 0;
  for (;;) {
    ssize_t n = ::read(fd.get(), text.data() + size, text.size() - 1 - size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size += static_cast<std::size_t>(n);
    if (size >= text.size() - 1) break;
  }
  fd.reset();
  // Two lines: "Tcp: RtoAlgorithm ... PassiveOpens ..." and "Tcp: 1 200 ... 797 ...".
  std::string_view rest(text.data(), size), names, values;
  while (!rest.empty()) {
    std::string_view line = rest.substr(0, rest.find('\n'));
    rest.remove_prefix(std::min(rest.size(), line.size() + 1));
    if (!line.starts_with("Tcp: ")) continue;
    if (names.empty()) {
      names = line;
    } else {
      values = line;
      break;
    }
  }
  auto name_words = split_words(names), value_words = split_words(values);
  for (std::size_t i = 0; i < name_words.size() && i < value_words.size(); ++i) {
    std::string_view name = name_words[i];
    std::string value(value_words[i]);
    if (name != "PassiveOpens") continue;
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(value.c_str(), &end, 10);
    if (errno == 0 && end != nullptr && *end == '\0') return n;
    break;
  }
  error = "no Tcp PassiveOpens in /proc/net/snmp";
  return std::nullopt;
}

TrafficLook take_look(SockDiagSocket& diag, SockDiagEvents& events, bool baseline,
                      CounterReader read_counter) {
  TrafficLook look;
  std::string counter_error, dump_error, events_error;
  // Subscribed before the first counter read, so no close falls between two looks.
  if (!events.subscribed() && !events.subscribe(events_error)) {
    spdlog::debug("traffic: {}; short connections are counted without their peers", events_error);
  }
  for (int attempt = 1;; ++attempt) {
    counter_error.clear();
    dump_error.clear();
    look.passive_opens = read_counter(counter_error);
    look.sockets = diag.dump_tcp(dump_error);
    // Last: a socket closed after the list is in the events, with its final bytes.
    look.destroyed = events.drain();
    if (!baseline || attempt == kBaselineAttempts || !look.passive_opens) break;
    // A connection accepted while the baseline was read is in its list or not: the
    // counter cannot tell, and one that is would be counted by the next look and never
    // seen as new (unseen traffic). So the baseline is one the counter did not move across.
    std::string again_error;
    if (read_counter(again_error) == look.passive_opens) break;
  }
  // Stamped once everything is read: a byte the list shows may have arrived at any moment
  // up to now, so this is the only time that never dates it too early (on a busy machine
  // the reads can start long after the loop woke up).
  look.at = Clock::now();
  look.error = counter_error;
  if (!dump_error.empty()) look.error += (look.error.empty() ? "" : "; ") + dump_error;
  return look;
}

TrafficLook NamespaceProbe::take() {
  bool baseline = !taken_;
  taken_ = true;
  return take_look(diag_, events_, baseline);
}

void NamespaceProbe::close() {
  taken_ = false;
  diag_.close();
  events_.close();
}

std::optional<Millis> NamespaceProbe::pod_age() {
  return process_age(1);
}

std::optional<std::set<std::uint16_t>> listening_ports_of(const std::vector<pid_t>& pids,
                                                          const std::vector<SocketSample>& sockets,
                                                          std::string& why) {
  std::set<std::uint64_t> inodes;
  for (pid_t pid : pids) {
    auto held = socket_inodes(pid);
    if (held.error == ENOENT) continue;  // exited meanwhile
    if (held.error != 0) {
      why = errno_text("cannot read /proc/" + std::to_string(pid) + "/fd", held.error);
      return std::nullopt;
    }
    inodes.merge(held.inodes);
  }
  std::set<std::uint16_t> ports;
  for (const auto& s : sockets) {
    if (s.state == TcpState::listen && inodes.contains(s.inode)) ports.insert(s.local_port);
  }
  return ports;
}

}  // namespace lameduck
