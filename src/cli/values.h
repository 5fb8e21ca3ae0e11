// SPDX-License-Identifier: Apache-2.0
// How one option is added to a CLI11 app: "--name VALUE", read from LAMEDUCK_NAME too,
// trimmed, the last one given winning; and the checks of durations, signals, CIDRs, ports,
// IPs and URLs, each with our own message ("--delay: invalid duration 'soon' (...)").
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/duration.h"

namespace lameduck::cli {

// CLI11's prefix-command and subcommand parsing changed between releases (2.2, 2.3): the
// Debian 12 release is the one the usage tests were written against.
static_assert(CLI11_VERSION_MAJOR == 2 && CLI11_VERSION_MINOR == 1,
              "lameduck's command line is tested with CLI11 2.1 (Debian 12: 2.1.2)");

// "delay" -> "LAMEDUCK_DELAY"
std::string env_name(const std::string& name);
// Values from YAML often carry stray spaces ("value: 15s "): every value is trimmed (and
// unguarded).
const CLI::Validator& trimmed();

// To CLI11, "--" ends a subcommand. After a subcommand's name it is, for lameduck, a word
// like any other (unexpected, or an option's value), so it is guarded from CLI11.
std::string guard(const std::string& word);
std::string unguard(std::string word);

// A value option (`type` is what --help shows, e.g. DURATION); `set` gets the checked text.
CLI::Option* add_value(CLI::App& app, const std::string& name, const std::string& type,
                       const std::string& help, const std::function<void(const std::string&)>& set);
// A text option into `target`.
CLI::Option* add_text(CLI::App& app, const std::string& name, const std::string& type,
                      std::string& target, const std::string& help);
// A repeatable option, also comma-separated ("a,b"); each occurrence takes one value, so
// "--service a CMD" keeps CMD.
CLI::Option* add_list(CLI::App& app, const std::string& name, const std::string& type,
                      const std::string& help, std::function<void(const std::string&)> add);
// --name and --no-name.
CLI::Option* add_switch(CLI::App& app, const std::string& name, bool& target,
                        const std::string& help);
// A switch that stays unset unless given (flag or variable).
CLI::Option* add_switch(CLI::App& app, const std::string& name, std::optional<bool>& target,
                        const std::string& help);
CLI::Option* add_duration(CLI::App& app, const std::string& name, Millis& target,
                          const std::string& help);
// Empty means unset.
CLI::Option* add_duration(CLI::App& app, const std::string& name, std::optional<Millis>& target,
                          const std::string& help);

// Checks of a value's text. (CLI11 runs transforms, like trimmed(), before any check.)
const CLI::Validator& duration();
// --quiet: auto, or a duration.
const CLI::Validator& quiet();
const CLI::Validator& signal();
const CLI::Validator& cidr();
const CLI::Validator& tcp_port();
const CLI::Validator& ip_address();
const CLI::Validator& https_url();
// A relative file name becomes absolute: lameduck leaves its working directory (chdir "/").
std::string absolute_path(const std::string& file);

}  // namespace lameduck::cli
