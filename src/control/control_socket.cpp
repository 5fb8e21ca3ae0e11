// SPDX-License-Identifier: Apache-2.0
#include "control/control_socket.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace lameduck {

socklen_t abstract_address(const std::string& name, sockaddr_un& addr) {
  addr = {};
  addr.sun_family = AF_UNIX;
  std::size_t n = std::min(name.size(), sizeof addr.sun_path - 1);
  std::memcpy(addr.sun_path + 1, name.data(), n);  // sun_path[0] == '\0': abstract
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
}

std::optional<PeerCredentials> peer_credentials(int fd) {
  ucred cred{};
  socklen_t size = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) return std::nullopt;
  return PeerCredentials{cred.pid, cred.uid};
}

NamespaceInode namespace_inode(const std::string& path) {
  NamespaceInode out;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    out.error = std::strerror(errno);
  } else {
    out.inode = static_cast<std::uint64_t>(st.st_ino);
  }
  return out;
}

NamespaceInode own_pid_namespace() {
  auto own = namespace_inode("/proc/self/ns/pid");
  if (!own.ok()) own.error = "cannot read /proc/self/ns/pid: " + own.error;
  return own;
}

}  // namespace lameduck
