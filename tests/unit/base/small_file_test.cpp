// SPDX-License-Identifier: Apache-2.0
#include "base/small_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

using namespace lameduck;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/apiedges-small-file-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() { std::system(("rm -rf " + path).c_str()); }
  std::string write(const std::string& name, const std::string& content) const {
    std::string file = path + "/" + name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }
};

}  // namespace

TEST_CASE("small files: regular files are read") {
  TempDir dir;
  auto file = read_small_file("the CA", dir.write("ca.crt", "PEM\n"), kMaxCaBytes);
  CHECK(file.ok());
  CHECK(file.data == "PEM\n");
  CHECK(check_small_file("the CA", dir.path + "/ca.crt", kMaxCaBytes).empty());
}

TEST_CASE("small files: a FIFO is refused at once, not waited on") {
  TempDir dir;
  std::string fifo = dir.path + "/token";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto file = read_small_file("the token", fifo, kMaxTokenBytes);
  CHECK_FALSE(file.ok());
  CHECK(file.error.find("is a FIFO, not a regular file") != std::string::npos);
  CHECK(check_small_file("the token", fifo, kMaxTokenBytes).find("FIFO") != std::string::npos);
  std::string error;
  CHECK(read_bearer_token(fifo, error).empty());
  CHECK(error.find("FIFO") != std::string::npos);
}

TEST_CASE("small files: directories, devices, missing files and the size cap") {
  TempDir dir;
  CHECK(read_small_file("the CA", dir.path, kMaxCaBytes).error.find("a directory") !=
        std::string::npos);
  CHECK(read_small_file("the CA", "/dev/zero", kMaxCaBytes).error.find("character device") !=
        std::string::npos);
  CHECK(
      read_small_file("the CA", dir.path + "/none", kMaxCaBytes).error.find("cannot read the CA") !=
      std::string::npos);
  auto big = dir.write("token", std::string(kMaxTokenBytes + 1, 'a'));
  CHECK(read_small_file("the token", big, kMaxTokenBytes).error.find("larger than 64 KiB") !=
        std::string::npos);
  CHECK_FALSE(check_small_file("the token", big, kMaxTokenBytes).empty());
  auto fits = dir.write("token2", std::string(kMaxTokenBytes, 'a'));
  CHECK(read_small_file("the token", fits, kMaxTokenBytes).ok());
}

TEST_CASE("bearer tokens: trimmed, and nothing that could reach the headers") {
  TempDir dir;
  std::string error;
  CHECK(read_bearer_token(dir.write("t1", "eyJhbGciOi.abc-_~+/=\n"), error) ==
        "eyJhbGciOi.abc-_~+/=");
  CHECK(error.empty());
  CHECK(read_bearer_token(dir.write("t2", "  \n"), error).empty());
  CHECK(error.find("is empty") != std::string::npos);
  error.clear();
  CHECK(read_bearer_token(dir.write("t3", "abc\r\nX-Injected: 1"), error).empty());
  CHECK(error.find("not a token") != std::string::npos);
  error.clear();
  CHECK(read_bearer_token(dir.write("t4", "abc\xff"), error).empty());
  CHECK_FALSE(error.empty());
}
