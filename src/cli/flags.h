// SPDX-License-Identifier: Apache-2.0
// The options of each command, added to its CLI11 app, in --help's order. Each part's
// options struct is filled directly: adding a flag is one line here.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/options.h"

namespace lameduck::cli {

void add_log_flags(CLI::App& app, LogOptions& log);
// --service, --pod-ip, ... --ca-file, and the hidden --debug-watch-namespace.
void add_kube_flags(CLI::App& app, KubeOptions& kube);
// Which connections count as traffic: for the wait, and for `lameduck endpoints`' report.
void add_traffic_scope_flags(CLI::App& app, TrafficOptions& traffic);
// --delay ... --wait-pooled, then the kube flags: the wait of PID 1 and of `prestop`.
void add_wait_flags(CLI::App& app, WaitOptions& wait);

// The run mode's help: the short usage as its description, without CLI11's noise; the
// run mode is a subcommand that nobody names, so it is hidden.
void describe_run(CLI::App& app);

// The run mode's own flags (after the wait flags); returns --signal, whose absence lets a
// TERM rewrite choose the stop signal.
CLI::Option* add_run_flags(CLI::App& app, RunOptions& run);
// What the run mode checks once everything is parsed: the command, and the stop signal
// that --signal and --rewrite leave. Throws UsageError.
void finish_run(const CLI::App& app, const CLI::Option& signal, RunOptions& run);

}  // namespace lameduck::cli
