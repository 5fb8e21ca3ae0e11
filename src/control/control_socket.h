// SPDX-License-Identifier: Apache-2.0
// What both ends of the preStop control socket need: abstract addresses, SO_PEERCRED and
// PID namespaces.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>

#include "control/control_protocol.h"

namespace lameduck {

// Fills addr with the abstract name (sun_path[0] == '\0'); returns the address length.
socklen_t abstract_address(const std::string& name, sockaddr_un& addr);

// SO_PEERCRED of a connected or listening socket; nullopt (errno set) on failure.
std::optional<PeerCredentials> peer_credentials(int fd);

// The inode of a namespace file such as /proc/1/ns/pid, or why it cannot be read.
struct NamespaceInode {
  std::uint64_t inode = 0;
  std::string error;  // strerror's text; empty when read
  bool ok() const { return error.empty(); }
};
NamespaceInode namespace_inode(const std::string& path);

// This process's PID namespace: the inode of /proc/self/ns/pid ("cannot read
// /proc/self/ns/pid: ..." as the error).
NamespaceInode own_pid_namespace();

}  // namespace lameduck
