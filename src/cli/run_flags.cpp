// SPDX-License-Identifier: Apache-2.0
#include <csignal>
#include <cstdlib>

#include "cli/flags.h"
#include "cli/values.h"

namespace lameduck::cli {
namespace {

// An exit code, 0 to 255: "143", also "0x8f" as strtol reads it.
std::optional<int> exit_code(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  long code = std::strtol(text.c_str(), &end, 0);
  if (*end != '\0' || code < 0 || code > 255) return std::nullopt;
  return static_cast<int>(code);
}

}  // namespace

const Option& add_run_flags(Parser& parser, RunOptions& run) {
  Option& signal_opt = add_value(
      parser, "signal", "SIGNAL", "signal sent to the app when the wait is over (SIGTERM)",
      [&run](const std::string& v) { run.stop_signal = *parse_signal(v); });
  signal_opt.check = check_signal;
  add_list(parser, "rewrite", "FROM:TO",
           "rewrite a forwarded signal, FROM:TO (repeatable; TO=0 drops it), e.g. TERM:QUIT",
           [&run](const std::string& spec) { run.rewrite.add(spec); });
  add_duration(parser, "kill-after", run.kill_after,
               "SIGKILL the app if it still runs this long after the stop signal (default: off)");
  add_flag(parser, 'g', "group", run.group,
           "signal the app's whole process group, not only the app");
  add_switch(parser, "subreaper", run.subreaper,
             "adopt orphaned descendants when not PID 1 (default: on when not PID 1)");
  Option& codes =
      add_list(parser, "success-exit-code", "CODE:INT in [0 - 255]",
               "report this exit code of the app as 0 (repeatable), e.g. 143 for the JVM",
               [&run](const std::string& v) { run.success_codes.insert(*exit_code(v)); });
  codes.short_name = 'e';
  codes.check = [](const std::string& v) {
    return exit_code(v) ? std::string() : "Value " + v + " not in range 0 to 255";
  };
  add_duration(parser, "orphan-grace", run.orphan_grace,
               "once the app exited, time its leftover processes get after the stop signal "
               "before SIGKILL (2s)");
  add_log_flags(parser, run.log);
  add_flag(parser, 0, "check", run.check_only,
           "only parse and check the options, then exit 0 (to test manifests)")
      .env.clear();
  return signal_opt;
}

void finish_run(const Parsed& parsed, const Option& signal, RunOptions& run) {
  // Unknown options and "--", then the command.
  std::vector<std::string> rest = parsed.extras;
  if (parsed.dashes) rest.emplace_back("--");
  rest.insert(rest.end(), parsed.command.begin(), parsed.command.end());
  bool separated = !rest.empty() && rest.front() == "--";
  if (separated) rest.erase(rest.begin());
  if (!separated && !rest.empty() && rest.front().size() > 1 && rest.front()[0] == '-') {
    throw UsageError("unknown option '" + rest.front() + "' (put the command after --)");
  }
  if (rest.empty()) throw UsageError("no command given: lameduck [OPTIONS] -- COMMAND [ARGS...]");
  run.command = std::move(rest);
  // dumb-init's --rewrite 15:3 means "the app gets SIGQUIT when the container is stopped":
  // the stop signal is the SIGTERM forwarded late, so a TERM rewrite sets it too, unless
  // --signal says otherwise.
  bool signal_given = !signal.given.empty() || !signal.env_value().empty();
  if (int term = run.rewrite.apply(SIGTERM); term != SIGTERM && !signal_given) {
    if (term == 0) throw UsageError("--rewrite TERM:0 would never stop the app; use --signal");
    run.stop_signal = term;
  }
  check_stop_signal(run.stop_signal, signal_given ? "--signal " : "--rewrite TERM:");
}

}  // namespace lameduck::cli
