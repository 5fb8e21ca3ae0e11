// SPDX-License-Identifier: Apache-2.0
#include <csignal>

#include "cli/flags.h"
#include "cli/values.h"

namespace lameduck::cli {

CLI::Option* add_run_flags(CLI::App& app, RunOptions& run) {
  auto* signal_opt =
      add_value(app, "signal", "SIGNAL", "signal sent to the app when the wait is over (SIGTERM)",
                [&run](const std::string& v) { run.stop_signal = *parse_signal(v); })
          ->check(signal());
  add_list(app, "rewrite", "FROM:TO",
           "rewrite a forwarded signal, FROM:TO (repeatable; TO=0 drops it), e.g. TERM:QUIT",
           [&run](const std::string& spec) { run.rewrite.add(spec); });
  add_duration(app, "kill-after", run.kill_after,
               "SIGKILL the app if it still runs this long after the stop signal (default: off)");
  app.add_flag("-g,--group", run.group, "signal the app's whole process group, not only the app")
      ->envname(env_name("group"))
      ->transform(trimmed());
  add_switch(app, "subreaper", run.subreaper,
             "adopt orphaned descendants when not PID 1 (default: on when not PID 1)");
  app.add_option_function<std::vector<int>>(
         "-e,--success-exit-code",
         [&run](const std::vector<int>& codes) {
           run.success_codes.insert(codes.begin(), codes.end());
         },
         "report this exit code of the app as 0 (repeatable), e.g. 143 for the JVM")
      ->envname(env_name("success-exit-code"))
      ->delimiter(',')
      ->allow_extra_args(false)
      ->transform(trimmed())
      ->check(CLI::Range(0, 255))
      ->type_name("CODE");
  add_duration(app, "orphan-grace", run.orphan_grace,
               "once the app exited, time its leftover processes get after the stop signal "
               "before SIGKILL (2s)");
  add_log_flags(app, run.log);
  app.add_flag("--check", run.check_only,
               "only parse and check the options, then exit 0 (to test manifests)");
  // Everything from the first word that is not an option on is the command: "--" and the
  // options before it stay in remaining(), the command in COMMAND.
  app.add_option("COMMAND", run.command)->allow_extra_args()->group("");
  app.positionals_at_end();
  app.allow_extras();
  return signal_opt;
}

void finish_run(const CLI::App& app, const CLI::Option& signal, RunOptions& run) {
  // Unknown options and "--" (left over), then the command.
  std::vector<std::string> rest = app.remaining();
  rest.insert(rest.end(), run.command.begin(), run.command.end());
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
  if (int term = run.rewrite.apply(SIGTERM); term != SIGTERM && signal.count() == 0) {
    if (term == 0) throw UsageError("--rewrite TERM:0 would never stop the app; use --signal");
    run.stop_signal = term;
  }
  check_stop_signal(run.stop_signal, signal.count() == 0 ? "--rewrite TERM:" : "--signal ");
}

}  // namespace lameduck::cli
