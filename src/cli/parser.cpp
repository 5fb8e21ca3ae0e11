// SPDX-License-Identifier: Apache-2.0
#include "cli/parser.h"

#include <cstdlib>

#include "cli/options.h"  // UsageError

namespace lameduck::cli {
namespace {

constexpr std::size_t kHelpColumn = 30;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

// "a,b" -> {a, b}, each trimmed; empty pieces are dropped when there are several.
std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> pieces;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = value.find(',', start);
    pieces.push_back(trim(value.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (pieces.size() > 1) std::erase(pieces, std::string());
  return pieces;
}

// One line of --help: "  --delay DURATION (Env:...)", the text in a column.
void help_line(std::string& out, const std::string& name, const std::string& text) {
  std::string line = "  " + name;
  out += line;
  if (line.size() >= kHelpColumn) {
    out += '\n';
    line.clear();
  }
  out.append(kHelpColumn - line.size(), ' ');
  out += text;
  out += '\n';
}

}  // namespace

std::string trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(kSpace);
  return std::string(text.substr(first, last - first + 1));
}

int flag_value(const std::string& text) {
  std::string word = lower(text);
  for (const char* yes : {"true", "on", "yes", "enable", "t", "y", "+"}) {
    if (word == yes) return 1;
  }
  for (const char* no : {"false", "off", "no", "disable", "f", "n", "-"}) {
    if (word == no) return 0;
  }
  // As std::stoll: leading spaces and a tail after the number are accepted.
  char* end = nullptr;
  long long number = std::strtoll(word.c_str(), &end, 10);
  if (end == word.c_str()) return -1;
  return number > 0 ? 1 : 0;
}

std::string Option::env_value() const {
  if (env.empty()) return {};
  const char* value = std::getenv(env.c_str());
  return value == nullptr ? std::string() : std::string(value);
}

Option& Parser::add(Option option) {
  return options_.emplace_back(std::move(option));
}

Option* Parser::find_long(std::string_view name, bool& negated) {
  negated = false;
  for (auto& option : options_) {
    if (option.name == name) return &option;
  }
  if (name.starts_with("no-")) {
    for (auto& option : options_) {
      if (option.negatable && option.name == name.substr(3)) {
        negated = true;
        return &option;
      }
    }
  }
  return nullptr;
}

Option* Parser::find_short(char c) {
  for (auto& option : options_) {
    if (option.short_name == c) return &option;
  }
  return nullptr;
}

const Option* Parser::find(std::string_view name) const {
  for (const auto& option : options_) {
    if ((name.size() == 2 && name[0] == '-' && option.short_name == name[1]) ||
        (name.starts_with("--") && option.name == name.substr(2)) ||
        (name.starts_with("--no-") && option.negatable && option.name == name.substr(5))) {
      return &option;
    }
  }
  return nullptr;
}

Parsed Parser::parse(const std::vector<std::string>& args) {
  Parsed out;
  std::vector<std::string> words(args.rbegin(), args.rend());  // a stack: back() is next
  std::string missing;  // a value option at the end, without its value
  bool plain = false;   // after "--" in a subcommand: every word is a word
  auto take = [&](Option& option, const std::string& value, bool has_value) {
    if (has_value) {
      option.given.push_back(value);
    } else if (!words.empty()) {
      option.given.push_back(words.back());
      words.pop_back();
    } else {
      missing = option.display() + ": 1 required " + option.type + " missing";
    }
  };
  while (!words.empty()) {
    std::string word = std::move(words.back());
    words.pop_back();
    if (!plain && word == "--") {
      if (command_at_end_) {
        out.dashes = true;
        out.command.assign(words.rbegin(), words.rend());
        break;
      }
      out.extras.push_back(word);
      plain = true;
      continue;
    }
    if (!plain && word.size() > 2 && word.starts_with("--")) {
      auto equals = word.find('=');
      std::string name = word.substr(2, equals == std::string::npos ? equals : equals - 2);
      bool has_value = equals != std::string::npos;
      std::string value = has_value ? word.substr(equals + 1) : std::string();
      bool negated = false;
      Option* option = find_long(name, negated);
      if (help_ && name == "help") {
        out.help = true;
      } else if (option == nullptr) {
        out.extras.push_back(word);
      } else if (option->is_flag()) {
        std::string flag = has_value ? value : "true";
        if (negated) {
          int v = flag_value(flag);
          flag = v < 0 ? flag : (v > 0 ? "false" : "true");
        }
        option->given.push_back(flag);
      } else {
        take(*option, value, has_value && !value.empty());
      }
      continue;
    }
    bool number = word.size() > 1 && is_digit(word[1]) && find_short(word[1]) == nullptr;
    if (!plain && word.size() > 1 && word[0] == '-' && word[1] != '-' && !number) {
      Option* option = find_short(word[1]);
      std::string rest = word.substr(2);
      if (help_ && word[1] == 'h') {
        out.help = true;
        if (!rest.empty()) words.push_back("-" + rest);
      } else if (option == nullptr) {
        out.extras.push_back(word);
      } else if (option->is_flag()) {
        option->given.emplace_back("true");
        if (!rest.empty()) words.push_back("-" + rest);
      } else {
        take(*option, rest, !rest.empty());
      }
      continue;
    }
    if (command_at_end_) {
      out.command.push_back(word);
      out.command.insert(out.command.end(), words.rbegin(), words.rend());
      break;
    }
    if (!positional_.empty() && out.positionals.empty() && word != "--") {
      out.positionals.push_back(word);
    } else {
      out.extras.push_back(word);
    }
  }
  if (!missing.empty() && !out.help) throw UsageError(missing);
  if (!positional_.empty() && out.positionals.empty() && !out.help) {
    throw UsageError(positional_ + " is required");
  }
  return out;
}

void Parser::apply() {
  for (auto& option : options_) {
    std::vector<std::string> values = option.given;
    if (values.empty()) {
      std::string env = option.env_value();
      if (!env.empty()) values.push_back(env);
    }
    if (option.list) {
      std::vector<std::string> pieces;
      for (const auto& value : values) {
        auto split = split_list(value);
        pieces.insert(pieces.end(), split.begin(), split.end());
      }
      values = std::move(pieces);
    }
    for (auto& value : values) {
      value = trim(value);
      if (option.is_flag()) {
        int v = flag_value(value);
        if (v < 0) throw UsageError("Could not convert: " + option.display() + " = " + value);
        value = v > 0 ? "true" : "false";
      }
      if (option.check) {
        if (auto error = option.check(value); !error.empty()) {
          throw UsageError(option.display() + ": " + error);
        }
      }
    }
    if (values.empty() || !option.apply) continue;
    if (option.list) {
      for (const auto& value : values) option.apply(value);
    } else {
      option.apply(values.back());
    }
  }
}

std::string Parser::help() const {
  std::string out = description_ + "\n";
  if (!plain_help_) out += "Usage: " + usage_ + "\n";
  if (!positional_.empty()) {
    out += "\nPositionals:\n";
    help_line(out, positional_ + " TEXT REQUIRED", positional_help_);
  }
  out += "\nOptions:\n";
  if (help_) help_line(out, "-h, --help", "Print this help message and exit");
  for (const auto& option : options_) {
    if (option.hidden) continue;
    std::string name;
    if (option.short_name != 0) name += std::string("-") + option.short_name + ", ";
    name += "--" + option.name;
    if (option.negatable) name += ", --no-" + option.name;
    if (!option.is_flag()) name += " " + option.type + (option.list ? " ..." : "");
    if (!option.env.empty()) name += " (Env:" + option.env + ")";
    help_line(out, name, option.help);
  }
  return out;
}

}  // namespace lameduck::cli
