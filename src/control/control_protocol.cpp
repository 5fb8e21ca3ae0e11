// SPDX-License-Identifier: Apache-2.0
#include "control/control_protocol.h"

#include <algorithm>
#include <utility>

#include "base/text.h"

namespace lameduck {
namespace {

std::string_view kind_word(ReplyKind kind) {
  switch (kind) {
    case ReplyKind::draining: return "draining";
    case ReplyKind::done: return "done";
    case ReplyKind::refused: return "refused";
    case ReplyKind::unknown: break;
  }
  return "unknown";
}

}  // namespace

std::string control_socket_name(std::uint64_t pid_namespace_inode) {
  return "lameduck/" + std::to_string(pid_namespace_inode);
}

bool LineBuffer::append(std::string_view bytes) {
  // Every line is bounded, also one that ends inside this chunk: "500 bytes" then
  // "30 more\n" is a 530-byte line even though the open line after it is short.
  for (char c : bytes) {
    open_line_ = c == '\n' ? 0 : open_line_ + 1;
    if (open_line_ > max_line_) {
      buffer_.clear();
      open_line_ = 0;
      return false;
    }
  }
  buffer_.append(bytes);
  return true;
}

std::optional<std::string> LineBuffer::next_line() {
  auto newline = buffer_.find('\n');
  if (newline == std::string::npos) return std::nullopt;
  std::string line = buffer_.substr(0, newline);
  buffer_.erase(0, newline + 1);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

bool is_drain_request(std::string_view line) {
  return line == "drain" || line.starts_with("drain ");
}

std::optional<std::string> parse_waited_request(std::string_view line) {
  if (line == "waited") return std::string();
  if (!line.starts_with("waited ")) return std::nullopt;
  return std::string(line.substr(7));
}

std::string format_waited_request(std::string_view how) {
  std::string line = "waited";
  if (!how.empty()) line += " " + clean_text(how, kMaxWaitedHow);
  return line + "\n";
}

Reply parse_reply(std::string_view line) {
  auto space = line.find(' ');
  std::string_view word = line.substr(0, space);
  std::string_view rest = space == std::string_view::npos ? "" : line.substr(space + 1);
  Reply reply;
  for (auto kind : {ReplyKind::draining, ReplyKind::done, ReplyKind::refused}) {
    if (word == kind_word(kind)) reply.kind = kind;
  }
  reply.text = reply.kind == ReplyKind::unknown ? std::string(line) : std::string(rest);
  return reply;
}

std::string format_reply(ReplyKind kind, std::string_view text) {
  std::string line(kind_word(kind));
  if (!text.empty()) {
    line += ' ';
    line += text;
    std::replace_if(
        line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  }
  line += '\n';
  return line;
}

std::optional<std::string> refuse_client(const PeerCredentials& peer, uid_t own_uid,
                                         PeerNamespace ns, std::string_view unreadable_why) {
  // pid 0 means the kernel could not map the peer's pid into our PID namespace: the peer
  // lives outside it (the host, or another container sharing the network namespace).
  if (peer.pid == 0) return "the client is outside this container's PID namespace (pid 0)";
  if (peer.uid != own_uid && peer.uid != 0) {
    return "uid " + std::to_string(peer.uid) + " is neither root nor lameduck's uid " +
           std::to_string(own_uid);
  }
  switch (ns) {
    case PeerNamespace::same: return std::nullopt;
    case PeerNamespace::different:
      return "pid " + std::to_string(peer.pid) + " is in another PID namespace";
    case PeerNamespace::unreadable:
      // A visible pid means the peer is in our namespace or one nested in it, which only
      // processes of this container can create; root there can signal us anyway.
      if (peer.uid == 0) return std::nullopt;
      return "cannot check the PID namespace of pid " + std::to_string(peer.pid) + " (" +
             std::string(unreadable_why) + ")";
  }
  return "unexpected namespace check result";
}

bool RefusalSummary::on_refused(TimePoint now) {
  if (window_end_ && now < *window_end_) {
    ++unlogged_;
    return false;
  }
  window_end_ = now + window_;
  unlogged_ = 0;
  return true;
}

std::optional<TimePoint> RefusalSummary::due() const {
  if (unlogged_ == 0) return std::nullopt;
  return window_end_;
}

int RefusalSummary::take(TimePoint now) {
  if (unlogged_ == 0 || !window_end_ || now < *window_end_) return 0;
  return std::exchange(unlogged_, 0);
}

std::optional<std::string> refuse_server(const PeerCredentials& peer, uid_t own_uid) {
  if (peer.pid != 1) {
    return "the socket belongs to pid " + std::to_string(peer.pid) +
           (peer.pid == 0 ? " (outside this PID namespace)" : "") + ", not to PID 1";
  }
  if (peer.uid != own_uid && peer.uid != 0) {
    return "PID 1 runs as uid " + std::to_string(peer.uid) + ", neither root nor our uid " +
           std::to_string(own_uid);
  }
  return std::nullopt;
}

}  // namespace lameduck
