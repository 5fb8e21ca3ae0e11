// SPDX-License-Identifier: Apache-2.0
// The options of each command, added to its table (parser.h), in --help's order. Each
// part's options struct is filled directly: adding a flag is one line here.
#pragma once

#include "cli/options.h"
#include "cli/parser.h"

namespace lameduck::cli {

void add_log_flags(Parser& parser, LogOptions& log);
// --service, --pod-ip, ... --ca-file, and the hidden --debug-watch-namespace.
void add_kube_flags(Parser& parser, KubeOptions& kube);
// Which connections count as traffic: for the wait, and for `lameduck endpoints`' report.
void add_traffic_scope_flags(Parser& parser, TrafficOptions& traffic);
// --delay ... --wait-pooled, then the kube flags: the wait of PID 1 and of `prestop`.
void add_wait_flags(Parser& parser, WaitOptions& wait);

// The run mode's help: the short usage and the variables' note, then the options.
std::string run_description();

// The run mode's own flags (after the wait flags); returns --signal, whose absence lets a
// TERM rewrite choose the stop signal.
const Option& add_run_flags(Parser& parser, RunOptions& run);
// What the run mode checks once everything is parsed: the command (`parsed`: the unknown
// options, "--" and the command), and the stop signal that --signal and --rewrite leave.
// Throws UsageError.
void finish_run(const Parsed& parsed, const Option& signal, RunOptions& run);

}  // namespace lameduck::cli
