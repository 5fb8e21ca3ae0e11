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

// The inode of a namespace file such as /proc/1/ns/pid; nullopt with errno in error.
std::optional<std::uint64_t> namespace_inode(const std::string& path, int& error);

// This process's PID namespace: the inode of /proc/self/ns/pid. On failure, nullopt and
// the reason in why_not.
std::optional<std::uint64_t> own_pid_namespace(std::string& why_not);

}  // namespace lameduck
