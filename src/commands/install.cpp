// SPDX-License-Identifier: Apache-2.0
#include "commands/install.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "base/errors.h"
#include "base/log.h"
#include "base/unique_fd.h"

namespace lameduck {
namespace {

constexpr mode_t kMode = 0755;
constexpr int kExitInstall = 1;  // install: every failure

bool read_all(int fd, std::vector<char>& out) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out.insert(out.end(), buf, buf + n);
  }
}

bool write_all(int fd, const std::vector<char>& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// True when DIR/lameduck already is this binary, with mode 0755: nothing to do.
bool up_to_date(int dir_fd, const std::vector<char>& binary) {
  UniqueFd old(::openat(dir_fd, kInstallName, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (old.get() < 0 || ::fstat(old.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      (st.st_mode & 07777) != kMode || static_cast<std::size_t>(st.st_size) != binary.size()) {
    return false;
  }
  std::vector<char> existing;
  return read_all(old.get(), existing) && existing == binary;
}

// Writes the binary to a new temporary file in DIR and returns its name.
std::string write_temporary(int dir_fd, const std::string& dir, const std::vector<char>& binary) {
  std::string name;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    name = std::string(".") + kInstallName + ".tmp." + std::to_string(::getpid()) + "." +
           std::to_string(attempt);
    fd = ::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && (errno != EEXIST || attempt >= 100)) {
      throw SetupError{kExitInstall, errno_text("cannot create a temporary file in " + dir)};
    }
  }
  UniqueFd tmp(fd);
  auto fail = [&](const std::string& what) {
    SetupError error{kExitInstall, errno_text(what + " " + dir + "/" + name)};
    ::unlinkat(dir_fd, name.c_str(), 0);
    throw error;
  };
  if (!write_all(tmp.get(), binary)) fail("cannot write");
  // Explicit mode: independent of the umask the initContainer runs with.
  if (::fchmod(tmp.get(), kMode) != 0) fail("cannot chmod");
  if (::fsync(tmp.get()) != 0) fail("cannot fsync");
  if (tmp.close() != 0) fail("cannot close");
  return name;
}

void install(const InstallOptions& options) {
  const std::string& dir = options.dir;
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) {
    if (errno == ENOENT)
      throw SetupError{kExitInstall, dir + " does not exist (mount the volume there)"};
    throw SetupError{kExitInstall, errno_text("cannot open directory " + dir)};
  }
  UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  std::vector<char> binary;
  if (self.get() < 0 || !read_all(self.get(), binary)) {
    throw SetupError{kExitInstall, errno_text("cannot read the running binary (/proc/self/exe)")};
  }
  std::string target = dir + (dir.ends_with('/') ? "" : "/") + kInstallName;
  if (up_to_date(dir_fd.get(), binary)) {
    spdlog::info("{} is up to date ({} bytes)", target, binary.size());
    return;
  }
  std::string tmp = write_temporary(dir_fd.get(), dir, binary);
  if (::renameat(dir_fd.get(), tmp.c_str(), dir_fd.get(), kInstallName) != 0) {
    SetupError error{kExitInstall, errno_text("cannot rename " + tmp + " to " + target)};
    ::unlinkat(dir_fd.get(), tmp.c_str(), 0);
    throw error;
  }
  // The rename is durable only once the directory is.
  if (::fsync(dir_fd.get()) != 0) throw SetupError{kExitInstall, errno_text("cannot fsync " + dir)};
  spdlog::info("installed {} ({} bytes)", target, binary.size());
}

}  // namespace

int run_install(const InstallOptions& options) {
  try {
    install(options);
    return 0;
  } catch (const SetupError& e) {
    print_error(std::string("install: ") + e.what());
    return e.exit_code;
  }
}

}  // namespace lameduck
