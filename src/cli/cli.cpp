// SPDX-License-Identifier: Apache-2.0
// One CLI11 app: the run mode (a hidden subcommand, since it has no name on the command
// line), prestop, endpoints, install and version.
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "cli/flags.h"
#include "cli/options.h"
#include "cli/values.h"

namespace lameduck {
namespace {

// The apps, each filling its part of the result.
struct Apps {
  CLI::App main{"", "lameduck"};
  CLI::App* run = nullptr;
  CLI::Option* signal = nullptr;  // of run
  CLI::App* prestop = nullptr;
  CLI::App* endpoints = nullptr;
  CLI::App* install = nullptr;
  CLI::App* version = nullptr;
};

CLI::App* add_subcommand(CLI::App& main, const std::string& name, const std::string& about) {
  CLI::App* sub = main.add_subcommand(name, about);
  sub->formatter(std::make_shared<CLI::Formatter>());
  // Only the subcommand that was named reads its options' variables and checks them.
  sub->parse_complete_callback([] {});
  sub->allow_extras();  // listed by unexpected(), in order
  return sub;
}

void build(Apps& apps, RunOptions& run, PrestopOptions& prestop, EndpointsOptions& endpoints,
           InstallOptions& install) {
  apps.run = add_subcommand(apps.main, "run", "");
  cli::describe_run(*apps.run);
  cli::add_wait_flags(*apps.run, run.wait);
  apps.signal = cli::add_run_flags(*apps.run, run);

  apps.prestop = add_subcommand(
      apps.main, "prestop",
      "lameduck prestop: the drain wait for lifecycle.preStop.exec; exits 0 when done.");
  cli::add_wait_flags(*apps.prestop, prestop.wait);
  cli::add_log_flags(*apps.prestop, prestop.log);
  apps.prestop->add_flag("--check", prestop.check_only,
                         "only parse and check the options, then exit 0 (to test manifests)");

  apps.endpoints = add_subcommand(apps.main, "endpoints",
                                  "lameduck endpoints: print where this Pod is routable right "
                                  "now. Exit 0: routable, 1: not routable, 2: could not tell.");
  cli::add_kube_flags(*apps.endpoints, endpoints.kube);
  cli::add_traffic_scope_flags(*apps.endpoints, endpoints.traffic);
  cli::add_log_flags(*apps.endpoints, endpoints.log);
  apps.endpoints
      ->add_option_function<std::string>(
          "-o,--output", [&endpoints](const std::string& v) { endpoints.json = v == "json"; },
          "text or json")
      ->check(CLI::IsMember({"text", "json"}));

  apps.install = add_subcommand(
      apps.main, "install",
      "lameduck install: copy this binary into DIR as DIR/lameduck (atomically, mode 0755), "
      "e.g. from an initContainer into an emptyDir the app container runs it from. DIR "
      "must exist. Exit 0: installed or already there; 1: failed.");
  apps.install->add_option("DIR", install.dir, "the directory (an emptyDir volume's mount path)")
      ->required()
      ->transform(CLI::Validator(
          [](std::string& v) {
            if (v == cli::guard("--")) return "--";
            v = cli::unguard(v);
            return "";
          },
          "", ""));
  apps.install->validate_positionals();  // "--" is no DIR

  apps.version = add_subcommand(apps.main, "version", "");
  apps.main.require_subcommand(0, 1);  // "prestop prestop": the second is a word
  apps.version->set_help_flag();       // "version --help" is an unexpected argument
}

// The subcommand `word` names (not the run mode, which has no name), or null.
CLI::App* named(const Apps& apps, const std::string& word) {
  for (CLI::App* sub : {apps.prestop, apps.endpoints, apps.install, apps.version}) {
    if (sub->get_name() == word) return sub;
  }
  return nullptr;
}

// The words of argv that the subcommand did not take, as given.
std::vector<std::string> left_over(const CLI::App& sub) {
  std::vector<std::string> words = sub.remaining();
  for (auto& word : words) word = cli::unguard(word);
  return words;
}

// "unexpected argument(s): ...", or empty: a "--" alone is no mistake.
std::string unexpected(const CLI::App& sub) {
  std::string list;
  bool only_dashes = true;
  for (const auto& word : left_over(sub)) {
    list += (list.empty() ? "" : " ") + word;
    only_dashes = only_dashes && word == "--";
  }
  return only_dashes ? "" : "unexpected argument(s): " + list;
}

// After a subcommand's name, "--" and every word after it are words to lameduck, guarded
// from CLI11.
void guard_after_dashes(std::vector<std::string>& args) {
  auto dashes = std::find(args.begin() + 1, args.end(), "--");
  for (auto word = dashes; word != args.end(); ++word) *word = cli::guard(*word);
}

// "lameduck --log-level debug prestop": options before a subcommand's name belong to it,
// so the name moves to the front. The options are walked with the run mode's table: a
// value of theirs ("--pod-name prestop") is no name, and the first word that is no option
// starts the command ("lameduck -- prestop", "lameduck /bin/prestop").
void move_subcommand_first(const Apps& apps, std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (named(apps, word) != nullptr) {
      std::rotate(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(i),
                  args.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      return;
    }
    if (word == "--" || word.size() < 2 || word[0] != '-') return;
    // "--delay=4" and "-e3" carry their value.
    std::string name = word[1] == '-' ? word.substr(0, word.find('=')) : word.substr(0, 2);
    const CLI::Option* opt = apps.run->get_option_no_throw(name);
    if (opt == nullptr || opt == apps.run->get_help_ptr()) return;  // the run mode's to answer
    if (opt->get_items_expected_max() > 0 && name == word) ++i;
  }
}

// `lameduck -- COMMAND...` with no LAMEDUCK_* variable set: every option keeps its
// default, so the run needs no parser at all. Building CLI11's ~40 options was four fifths
// of the instructions lameduck ran before starting the app.
bool only_command(const std::vector<std::string>& args) {
  if (args.size() < 2 || args.front() != "--") return false;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "LAMEDUCK_", 9) == 0) return false;
  }
  return true;
}

}  // namespace

Command parse_command_line(int argc, const char* const* argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  RunOptions run;
  if (only_command(args)) {
    run.command.assign(args.begin() + 1, args.end());
    return run;
  }
  PrestopOptions prestop;
  EndpointsOptions endpoints;
  InstallOptions install;
  Apps apps;
  build(apps, run, prestop, endpoints, install);

  // The --help to point to: the subcommand named first.
  std::string hint;
  if (!args.empty() && (args[0] == "prestop" || args[0] == "endpoints" || args[0] == "install")) {
    hint = args[0];
  }
  move_subcommand_first(apps, args);
  CLI::App* sub = args.empty() ? nullptr : named(apps, args[0]);
  if (sub == nullptr) {
    sub = apps.run;
    args.insert(args.begin(), "run");
  }
  if (sub != apps.run) guard_after_dashes(args);
  for (CLI::App* other : {apps.run, apps.prestop, apps.endpoints, apps.install, apps.version}) {
    other->disabled(other != sub);
  }

  std::vector<const char*> line{argv[0]};
  for (const auto& arg : args) line.push_back(arg.c_str());
  // --help wins over a bad value, as when values were checked after parsing.
  auto help = [&] { return Help{sub->help(sub == apps.run ? "" : "lameduck")}; };
  auto asked_for_help = [&] {
    return sub->get_help_ptr() != nullptr && sub->get_help_ptr()->count() > 0;
  };
  try {
    apps.main.parse(static_cast<int>(line.size()), line.data());
  } catch (const CLI::CallForHelp&) {
    return help();
  } catch (const CLI::ParseError& e) {
    if (asked_for_help()) return help();
    std::string what = e.what();
    throw UsageError(what.empty() ? e.get_name() : what, hint);
  } catch (const SetupError&) {  // --rewrite (init/signals.h)
    if (asked_for_help()) return help();
    throw;
  }

  if (sub == apps.version) {
    auto words = left_over(*sub);
    if (words.empty()) return Version{};
    if (words == std::vector<std::string>{"--licenses"}) return Version{true};
    throw UsageError("version takes no arguments but --licenses");
  }
  if (sub != apps.run) {
    if (auto error = unexpected(*sub); !error.empty()) throw UsageError(error, hint);
  }
  if (sub == apps.prestop) return prestop;
  if (sub == apps.endpoints) return endpoints;
  if (sub == apps.install) return install;
  cli::finish_run(*apps.run, *apps.signal, run);
  return run;
}

}  // namespace lameduck
