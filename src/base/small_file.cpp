// SPDX-License-Identifier: Apache-2.0
#include "base/small_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "base/errors.h"
#include "base/text.h"
#include "base/unique_fd.h"

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

// A regular file, open; or why not.
struct OpenFile {
  UniqueFd fd;
  std::string error;
};

// Opens without blocking (O_NONBLOCK: a FIFO without a writer opens at once) and checks
// what it is.
OpenFile open_regular(const std::string& what, const std::string& path, std::size_t max_bytes) {
  OpenFile out;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    out.error = errno_text("cannot read " + describe(what, path));
  } else if (!S_ISREG(st.st_mode)) {
    out.error = describe(what, path) + " is " + file_kind(st.st_mode) + ", not a regular file";
  } else if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    out.error = too_big(what, path, max_bytes);
  } else {
    out.fd = std::move(fd);
  }
  return out;
}

}  // namespace

SmallFile read_small_file(const std::string& what, const std::string& path, std::size_t max_bytes) {
  SmallFile file;
  auto opened = open_regular(what, path, max_bytes);
  if (!opened.fd) {
    file.error = opened.error;
    return file;
  }
  // The size may change between fstat and read (a token being rotated): read up to one
  // byte past the cap to tell.
  char buffer[16384];
  for (;;) {
    ssize_t n = ::read(opened.fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      file.error = errno_text("cannot read " + describe(what, path));
      break;
    }
    if (n == 0) break;
    if (file.data.size() + static_cast<std::size_t>(n) > max_bytes) {
      file.error = too_big(what, path, max_bytes);
      break;
    }
    file.data.append(buffer, static_cast<std::size_t>(n));
  }
  if (!file.ok()) file.data.clear();
  return file;
}

std::string check_small_file(const std::string& what, const std::string& path,
                             std::size_t max_bytes) {
  return open_regular(what, path, max_bytes).error;
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
