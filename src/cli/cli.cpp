// SPDX-License-Identifier: Apache-2.0
// The command line: the run mode (no name on the command line), prestop, endpoints,
// install and version, each with its own table of options (parser.h).
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "cli/flags.h"
#include "cli/options.h"
#include "cli/values.h"

namespace lameduck {
namespace {

constexpr const char* kSubcommands[] = {"prestop", "endpoints", "install", "version"};

bool is_subcommand(const std::string& word) {
  return std::any_of(std::begin(kSubcommands), std::end(kSubcommands),
                     [&word](const char* name) { return word == name; });
}

// "lameduck --log-level debug prestop": options before a subcommand's name belong to it,
// so the name moves to the front. The options are walked with the run mode's table: a
// value of theirs ("--pod-name prestop") is no name, and the first word that is no option
// starts the command ("lameduck -- prestop", "lameduck /bin/prestop").
void move_subcommand_first(const cli::Parser& run, std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (is_subcommand(word)) {
      std::rotate(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(i),
                  args.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      return;
    }
    if (word == "--" || word.size() < 2 || word[0] != '-') return;
    // "--delay=4" and "-e3" carry their value.
    std::string name = word[1] == '-' ? word.substr(0, word.find('=')) : word.substr(0, 2);
    const cli::Option* opt = run.find(name);
    if (opt == nullptr) return;  // the run mode's to answer (also -h, --help)
    if (!opt->is_flag() && name == word) ++i;
  }
}

// `lameduck -- COMMAND...` with no LAMEDUCK_* variable set: every option keeps its
// default, so the run needs no parser at all.
bool only_command(const std::vector<std::string>& args) {
  if (args.size() < 2 || args.front() != "--") return false;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "LAMEDUCK_", 9) == 0) return false;
  }
  return true;
}

Command parse_run(cli::Parser& parser, const cli::Option& signal,
                  const std::vector<std::string>& args, RunOptions& run) {
  cli::Parsed parsed = parser.parse(args);
  if (parsed.help) return Help{parser.help()};
  parser.apply();
  cli::finish_run(parsed, signal, run);
  return run;
}

// A subcommand's words after its name: its options, then "unexpected argument(s): ..."
// for every word it did not take (a "--" alone is no mistake).
std::optional<Command> parse_subcommand(cli::Parser& parser, const std::vector<std::string>& args,
                                        const std::string& hint, cli::Parsed* out = nullptr) {
  try {
    cli::Parsed parsed = parser.parse(args);
    if (parsed.help) return Help{parser.help()};
    parser.apply();
    std::string list;
    bool only_dashes = true;
    for (const auto& word : parsed.extras) {
      list += (list.empty() ? "" : " ") + word;
      only_dashes = only_dashes && word == "--";
    }
    if (!only_dashes) throw UsageError("unexpected argument(s): " + list);
    if (out != nullptr) *out = std::move(parsed);
  } catch (const UsageError& e) {
    throw UsageError(e.what(), hint);
  }
  return std::nullopt;
}

}  // namespace

Command parse_command_line(int argc, const char* const* argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  RunOptions run;
  if (only_command(args)) {
    run.command.assign(args.begin() + 1, args.end());
    return run;
  }
  // The --help to point to: the subcommand named first.
  std::string hint;
  if (!args.empty() && (args[0] == "prestop" || args[0] == "endpoints" || args[0] == "install")) {
    hint = args[0];
  }
  cli::Parser run_parser("lameduck [OPTIONS] -- COMMAND [ARGS...]", cli::run_description());
  run_parser.plain_help();
  run_parser.command_at_end();
  cli::add_wait_flags(run_parser, run.wait);
  const cli::Option& signal = cli::add_run_flags(run_parser, run);
  move_subcommand_first(run_parser, args);
  if (args.empty() || !is_subcommand(args[0])) return parse_run(run_parser, signal, args, run);
  std::string name = args[0];
  args.erase(args.begin());

  if (name == "version") {
    if (args.empty()) return Version{};
    if (args == std::vector<std::string>{"--licenses"}) return Version{true};
    throw UsageError("version takes no arguments but --licenses");
  }
  if (name == "prestop") {
    PrestopOptions prestop;
    cli::Parser parser(
        "lameduck prestop [OPTIONS]",
        "lameduck prestop: the drain wait for lifecycle.preStop.exec; exits 0 when done.");
    cli::add_wait_flags(parser, prestop.wait);
    cli::add_log_flags(parser, prestop.log);
    cli::add_flag(parser, 0, "check", prestop.check_only,
                  "only parse and check the options, then exit 0 (to test manifests)")
        .env.clear();
    if (auto help = parse_subcommand(parser, args, hint)) return *help;
    return prestop;
  }
  if (name == "endpoints") {
    EndpointsOptions endpoints;
    cli::Parser parser("lameduck endpoints [OPTIONS]",
                       "lameduck endpoints: print where this Pod is routable right now. Exit "
                       "0: routable, 1: not routable, 2: could not tell.");
    cli::add_kube_flags(parser, endpoints.kube);
    cli::add_traffic_scope_flags(parser, endpoints.traffic);
    cli::add_log_flags(parser, endpoints.log);
    std::vector<std::string> outputs{"text", "json"};
    cli::Option& output =
        cli::add_value(parser, "output", "TEXT:" + cli::set_text(outputs), "text or json",
                       [&endpoints](const std::string& v) { endpoints.json = v == "json"; });
    output.short_name = 'o';
    output.env.clear();
    output.check = cli::one_of(outputs);
    if (auto help = parse_subcommand(parser, args, hint)) return *help;
    return endpoints;
  }
  InstallOptions install;
  cli::Parser parser(
      "lameduck install [OPTIONS] DIR",
      "lameduck install: copy this binary into DIR as DIR/lameduck (atomically, mode 0755), "
      "e.g. from an initContainer into an emptyDir the app container runs it from. DIR "
      "must exist. Exit 0: installed or already there; 1: failed.");
  parser.positional("DIR", "the directory (an emptyDir volume's mount path)");
  cli::Parsed parsed;
  if (auto help = parse_subcommand(parser, args, hint, &parsed)) return *help;
  install.dir = parsed.positionals.front();
  return install;
}

}  // namespace lameduck
