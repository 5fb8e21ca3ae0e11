// SPDX-License-Identifier: Apache-2.0
// The small files lameduck reads from outside: the ServiceAccount token and the CA bundle
// (a mounted volume, or whatever --token-file and --ca-file name). A FIFO there would
// block open() for good and a huge file would eat the Pod's memory, so these are opened
// non-blocking, must be regular files, and have a size cap.
#pragma once

#include <cstddef>
#include <string>

namespace lameduck {

inline constexpr std::size_t kMaxTokenBytes = 64u << 10;  // real tokens: about 1 KiB
inline constexpr std::size_t kMaxCaBytes = 1u << 20;      // real bundles: a few hundred KiB

struct SmallFile {
  std::string data;
  std::string error;  // "the token /x is a FIFO, not a regular file"; empty when read
  bool ok() const { return error.empty(); }
};

// Reads the whole file, or says why not. what names it in the error ("the token").
// Never blocks on a FIFO, a socket or a device, and never reads more than max_bytes.
SmallFile read_small_file(const std::string& what, const std::string& path, std::size_t max_bytes);

// The same checks without reading: for --check and the start-up check. Empty when fine.
std::string check_small_file(const std::string& what, const std::string& path,
                             std::size_t max_bytes);

// The bearer token in path, re-read for every request (bound tokens rotate): trailing
// white space dropped, and refused unless it is one run of visible ASCII, so that no
// file content can reach the HTTP headers as anything but a token. Sets error.
std::string read_bearer_token(const std::string& path, std::string& error);

}  // namespace lameduck
