// SPDX-License-Identifier: Apache-2.0
// How one option is added to a command's table (parser.h): "--name VALUE", read from
// LAMEDUCK_NAME too, trimmed, the last one given winning; and the checks of durations,
// signals, CIDRs, ports, IPs and URLs, each with our own message ("--delay: invalid
// duration 'soon' (...)").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/duration.h"
#include "cli/parser.h"

namespace lameduck::cli {

// "delay" -> "LAMEDUCK_DELAY"
std::string env_name(const std::string& name);

// A value option (`type` is what --help shows, e.g. DURATION); `set` gets the checked text.
Option& add_value(Parser& parser, const std::string& name, const std::string& type,
                  const std::string& help, Apply set);
// A text option into `target`.
Option& add_text(Parser& parser, const std::string& name, const std::string& type,
                 std::string& target, const std::string& help);
// A repeatable option, also comma-separated ("a,b"); each occurrence takes one value, so
// "--service a CMD" keeps CMD.
Option& add_list(Parser& parser, const std::string& name, const std::string& type,
                 const std::string& help, Apply add);
// A flag: -g / --group, or LAMEDUCK_GROUP=true.
Option& add_flag(Parser& parser, char short_name, const std::string& name, bool& target,
                 const std::string& help);
// --name and --no-name.
Option& add_switch(Parser& parser, const std::string& name, bool& target, const std::string& help);
// A switch that stays unset unless given (flag or variable).
Option& add_switch(Parser& parser, const std::string& name, std::optional<bool>& target,
                   const std::string& help);
Option& add_duration(Parser& parser, const std::string& name, Millis& target,
                     const std::string& help);
// Empty means unset.
Option& add_duration(Parser& parser, const std::string& name, std::optional<Millis>& target,
                     const std::string& help);

// Checks of a value's text: the error, or empty.
std::string check_duration(const std::string& text);
// --quiet: auto, or a duration.
std::string check_quiet(const std::string& text);
std::string check_signal(const std::string& text);
std::string check_cidr(const std::string& text);
std::string check_tcp_port(const std::string& text);
std::string check_ip_address(const std::string& text);
std::string check_https_url(const std::string& text);
// One of `words`: "xml not in {text,json}".
Check one_of(std::vector<std::string> words);
// "{text,json}", as --help shows it after the type.
std::string set_text(const std::vector<std::string>& words);
// A relative file name becomes absolute: lameduck leaves its working directory (chdir "/").
std::string absolute_path(const std::string& file);

}  // namespace lameduck::cli
