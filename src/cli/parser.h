// SPDX-License-Identifier: Apache-2.0
// lameduck's own small option parser (it replaced CLI11, whose std::stringstream and
// std::locale use pulled libstdc++'s iostreams and locale facets into the static binary).
// One table of options per command: each "--name VALUE" (or flag) is also read from its
// LAMEDUCK_* variable when not given, trimmed, checked, then applied in table order.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lameduck::cli {

// Checks one value's text: the error ("invalid duration 'x' (...)"), or empty.
using Check = std::function<std::string(const std::string&)>;
// Applies one checked value; a flag gets "true" or "false".
using Apply = std::function<void(const std::string&)>;

struct Option {
  char short_name = 0;  // 'g' for -g, or 0
  std::string name;     // "group" for --group
  std::string type;     // what --help shows for the value (DURATION); empty: a flag
  std::string help;
  std::string env;         // LAMEDUCK_GROUP, or empty
  bool list = false;       // repeatable, each value also comma-separated; else the last wins
  bool negatable = false;  // --no-NAME too
  bool hidden = false;     // not in --help
  Check check;
  Apply apply;
  // What the command line gave, in order (flags: "true" / "false", or their "=value").
  std::vector<std::string> given;

  bool is_flag() const { return type.empty(); }
  // "--delay", or "--success-exit-code" for -e: how messages name the option.
  std::string display() const { return "--" + name; }
  std::string env_value() const;
};

// What a parse left: the words that were no option of the table, in order.
struct Parsed {
  bool help = false;                 // -h or --help before any "--"
  std::vector<std::string> extras;   // unknown options, and words no positional took
  bool dashes = false;               // "--" seen (run mode: the command follows)
  std::vector<std::string> command;  // run mode: from the first word that is no option
  std::vector<std::string> positionals;
};

class Parser {
 public:
  // usage: "lameduck prestop [OPTIONS]"; description: the help's first paragraph.
  Parser(std::string usage, std::string description)
      : usage_(std::move(usage)), description_(std::move(description)) {}

  Option& add(Option option);
  // A positional for --help and the "NAME is required" check (install's DIR).
  void positional(std::string name, std::string help) {
    positional_ = std::move(name);
    positional_help_ = std::move(help);
  }
  // The run mode: the first word that is no option, and every word after it, is the command.
  void command_at_end() { command_at_end_ = true; }
  // No -h / --help (version).
  void no_help() { help_ = false; }
  // usage line and options' header omitted (the run mode's description has its own).
  void plain_help() { plain_help_ = true; }

  // Walks args (without the program name and the subcommand's name). Throws UsageError
  // for a missing value; values are checked and applied by apply().
  Parsed parse(const std::vector<std::string>& args);
  // The variables of the options not given, then every option's checks and values, in
  // the table's order. Throws UsageError ("--delay: invalid duration ...").
  void apply();
  std::string help() const;

  const Option* find(std::string_view name) const;  // "--delay" or "-e"

 private:
  Option* find_long(std::string_view name, bool& negated);
  Option* find_short(char c);
  // The word's kind: an option of ours (or unknown), or a plain word.
  bool is_option_word(const std::string& word) const;

  std::string usage_;
  std::string description_;
  std::string positional_;
  std::string positional_help_;
  bool command_at_end_ = false;
  bool help_ = true;
  bool plain_help_ = false;
  std::deque<Option> options_;  // stable addresses
};

// "  a , b" -> "a , b" (spaces, tabs, newlines).
std::string trim(std::string_view text);
// "true", "on", "yes", "1"... -> 1; "false", "off", "no", "0"... -> 0; else -1.
int flag_value(const std::string& text);

}  // namespace lameduck::cli
