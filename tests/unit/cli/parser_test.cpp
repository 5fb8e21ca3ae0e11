// SPDX-License-Identifier: Apache-2.0
// The option parser's edge cases (cli/parser.h), through the command line and directly.
#include "cli/parser.h"

#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>

#include "cli/options.h"
#include "support.h"

using namespace lameduck;

namespace {

using test::parse;
using test::run;

std::string error_of(std::vector<const char*> args) {
  try {
    parse(std::move(args));
  } catch (const SetupError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("parser: --name=value, --name value, -xVALUE") {
  CHECK(run({"--delay=4", "x"}).wait.delay == Millis(4000));
  CHECK(run({"--delay", "4", "x"}).wait.delay == Millis(4000));
  CHECK(run({"-e143", "x"}).success_codes == std::set<int>{143});
  CHECK(run({"--success-exit-code=4", "x"}).success_codes == std::set<int>{4});
  // A value option takes the next word, whatever it looks like; "=" with nothing after
  // it takes the next word too (as CLI11 did).
  CHECK(error_of({"--delay", "--signal", "x"}).find("invalid duration '--signal'") == 9);
  CHECK(error_of({"--delay=", "x"}) ==
        "--delay: invalid duration 'x' (use e.g. 500ms, 15s, 2m or a number of seconds)");
  CHECK(run({"--kill-after", "0", "x"}).kill_after == Millis(0));
  CHECK(error_of({"-e=143", "x"}) == "--success-exit-code: Value =143 not in range 0 to 255");
}

TEST_CASE("parser: missing values, unknown options, flags with a tail") {
  CHECK(error_of({"--delay"}) == "--delay: 1 required DURATION missing");
  CHECK(error_of({"endpoints", "-o"}) == "--output: 1 required TEXT:{text,json} missing");
  CHECK(std::holds_alternative<Help>(parse({"--help", "--delay"})));
  CHECK(error_of({"--bogus=3", "x"}) == "unknown option '--bogus=3' (put the command after --)");
  CHECK(error_of({"-zg", "x"}) == "unknown option '-zg' (put the command after --)");
  CHECK(error_of({"-gz", "x"}) == "unknown option '-z' (put the command after --)");
  CHECK(error_of({"-5", "x"}) == "unknown option '-5' (put the command after --)");
  // A bad value is named before an unknown option.
  CHECK(error_of({"--bogus", "--delay", "soon", "x"}).starts_with("--delay: invalid"));
}

TEST_CASE("parser: repeated options") {
  CHECK(run({"--delay", "1", "--delay", "2", "x"}).wait.delay == Millis(2000));
  // Every value is checked, also the ones a later value replaces.
  CHECK(error_of({"--delay", "soon", "--delay", "2", "x"}).starts_with("--delay: invalid"));
  CHECK(run({"-g", "-g", "x"}).group);
  CHECK(run({"--subreaper", "--no-subreaper", "x"}).subreaper == false);
  CHECK(run({"--no-subreaper", "--subreaper", "x"}).subreaper == true);
  CHECK(run({"--service", "a,b", "--service", "c", "x"}).wait.kube.services ==
        std::vector<std::string>{"a", "b", "c"});
  CHECK(run({"--service", "a,,b", "x"}).wait.kube.services == std::vector<std::string>{"a", "b"});
  CHECK(run({"-e", "3,", "x"}).success_codes == std::set<int>{3});
}

TEST_CASE("parser: flag values") {
  CHECK_FALSE(run({"--group=false", "x"}).group);
  CHECK(run({"--group=yes", "x"}).group);
  CHECK(run({"--no-subreaper=false", "x"}).subreaper == true);
  CHECK_FALSE(run({"--check=0", "x"}).check_only);
  CHECK(error_of({"--group=nope", "x"}) == "Could not convert: --group = nope");
  CHECK(cli::flag_value("on") == 1);
  CHECK(cli::flag_value("OFF") == 0);
  CHECK(cli::flag_value("2") == 1);
  CHECK(cli::flag_value("-1") == 0);
  CHECK(cli::flag_value("x") == -1);
  CHECK(cli::flag_value("") == -1);
}

TEST_CASE("parser: -- ends the options") {
  CHECK(run({"--", "--delay", "3"}).command == std::vector<std::string>{"--delay", "3"});
  CHECK(run({"-g", "--", "-g"}).command == std::vector<std::string>{"-g"});
  CHECK(run({"x", "--help"}).command == std::vector<std::string>{"x", "--help"});
  CHECK(error_of({"prestop", "--", "--help"}) == "unexpected argument(s): -- --help");
  CHECK(std::get<InstallOptions>(parse({"install", "--", "-h"})).dir == "-h");
  CHECK(std::get<InstallOptions>(parse({"install", "--", "--", "/d"})).dir == "/d");
  CHECK(error_of({"install", "--", "--"}) == "DIR is required");
}

TEST_CASE("parser: environment variables, and the flag wins") {
  setenv("LAMEDUCK_GROUP", "false", 1);
  setenv("LAMEDUCK_SUBREAPER", "yes", 1);
  setenv("LAMEDUCK_SERVICE", "a, b ,", 1);
  setenv("LAMEDUCK_CHECK", "1", 1);  // --check has no variable
  auto a = run({"-g", "x"});
  auto b = run({"--no-subreaper", "x"});
  setenv("LAMEDUCK_GROUP", "nope", 1);
  auto bad = error_of({"x"});
  setenv("LAMEDUCK_GROUP", "", 1);  // empty: as if unset
  auto c = run({"x"});
  for (const char* name :
       {"LAMEDUCK_GROUP", "LAMEDUCK_SUBREAPER", "LAMEDUCK_SERVICE", "LAMEDUCK_CHECK"}) {
    unsetenv(name);
  }
  CHECK(a.group);
  CHECK(a.subreaper == true);
  CHECK(a.wait.kube.services == std::vector<std::string>{"a", "b"});
  CHECK_FALSE(a.check_only);
  CHECK(b.subreaper == false);
  CHECK(bad == "Could not convert: --group = nope");
  CHECK_FALSE(c.group);
}

TEST_CASE("parser: --signal from the environment keeps a TERM rewrite off the stop signal") {
  setenv("LAMEDUCK_SIGNAL", "INT", 1);
  auto a = run({"--rewrite", "TERM:QUIT", "x"});
  unsetenv("LAMEDUCK_SIGNAL");
  CHECK(a.stop_signal == SIGINT);
  CHECK(run({"--rewrite", "TERM:QUIT", "x"}).stop_signal == SIGQUIT);
}

TEST_CASE("parser: help layout") {
  cli::Parser parser("lameduck demo [OPTIONS]", "lameduck demo: a table.");
  bool flag = false;
  cli::Option option;
  option.short_name = 'f';
  option.name = "flag";
  option.help = "a flag";
  option.env = "LAMEDUCK_FLAG";
  option.negatable = true;
  option.apply = [&flag](const std::string& v) { flag = v == "true"; };
  parser.add(std::move(option));
  CHECK(parser.help() ==
        "lameduck demo: a table.\n"
        "Usage: lameduck demo [OPTIONS]\n"
        "\n"
        "Options:\n"
        "  -h, --help                  Print this help message and exit\n"
        "  -f, --flag, --no-flag (Env:LAMEDUCK_FLAG)\n"
        "                              a flag\n");
  auto parsed = parser.parse({"--no-flag", "-f", "w"});
  parser.apply();
  CHECK(flag);
  CHECK(parsed.extras == std::vector<std::string>{"w"});
  CHECK(cli::trim(" \t a b \n") == "a b");
}
