// SPDX-License-Identifier: Apache-2.0
#include "base/small_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/text.h"

namespace lameduck {
namespace {

const char* file_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a plain file";
}

std::string describe(const std::string& what, const std::string& path) {
  return what + " " + clean_text(path, 200);
}

std::string too_big(const std::string& what, const std::string& path, std::size_t max_bytes) {
  return describe(what, path) + " is larger than " + std::to_string(max_bytes >> 10) + " KiB";
}

// Opens without blocking (O_NONBLOCK: a FIFO without a writer opens at once) and checks
// what it is. Returns the fd, or -1 with error set.
int open_regular(const std::string& what, const std::string& path, std::size_t max_bytes,
                 std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    error = "cannot read " + describe(what, path) + ": " + std::strerror(errno);
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = "cannot read " + describe(what, path) + ": " + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    error = describe(what, path) + " is " + file_kind(st.st_mode) + ", not a regular file";
  } else if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    error = too_big(what, path, max_bytes);
  } else {
    return fd;
  }
  ::close(fd);
  return -1;
}

}  // namespace

SmallFile read_small_file(const std::string& what, const std::string& path, std::size_t max_bytes) {
  SmallFile file;
  int fd = open_regular(what, path, max_bytes, file.error);
  if (fd < 0) return file;
  // The size may change between fstat and read (a token being rotated): read up to one
  // byte past the cap to tell.
  char buffer[16384];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      file.error = "cannot read " + describe(what, path) + ": " + std::strerror(errno);
      break;
    }
    if (n == 0) break;
    if (file.data.size() + static_cast<std::size_t>(n) > max_bytes) {
      file.error = too_big(what, path, max_bytes);
      break;
    }
    file.data.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (!file.ok()) file.data.clear();
  return file;
}

std::string check_small_file(const std::string& what, const std::string& path,
                             std::size_t max_bytes) {
  std::string error;
  int fd = open_regular(what, path, max_bytes, error);
  if (fd >= 0) ::close(fd);
  return error;
}

std::string read_bearer_token(const std::string& path, std::string& error) {
  SmallFile file = read_small_file("the token", path, kMaxTokenBytes);
  if (!file.ok()) {
    error = file.error;
    return {};
  }
  std::string token = std::move(file.data);
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!token.empty() && is_space(token.back())) token.pop_back();
  if (token.empty()) {
    error = "the token file " + clean_text(path, 200) + " is empty";
    return {};
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7E) {
      error = "the token file " + clean_text(path, 200) +
              " holds something that is not a token (white space, control characters or "
              "non-ASCII bytes inside)";
      return {};
    }
  }
  return token;
}

}  // namespace lameduck
