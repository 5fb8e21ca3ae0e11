// SPDX-License-Identifier: Apache-2.0
#include "cli/values.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <charconv>
#include <climits>

#include "init/signals.h"
#include "traffic/traffic_options.h"  // Cidr, parse_cidr

namespace lameduck::cli {

std::string env_name(const std::string& name) {
  std::string out = "LAMEDUCK_";
  for (char c : name) {
    out += c == '-' ? '_' : (c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  return out;
}

Option& add_value(Parser& parser, const std::string& name, const std::string& type,
                  const std::string& help, Apply set) {
  Option option;
  option.name = name;
  option.type = type;
  option.help = help;
  option.env = env_name(name);
  option.apply = std::move(set);
  return parser.add(std::move(option));
}

Option& add_text(Parser& parser, const std::string& name, const std::string& type,
                 std::string& target, const std::string& help) {
  return add_value(parser, name, type, help, [&target](const std::string& v) { target = v; });
}

Option& add_list(Parser& parser, const std::string& name, const std::string& type,
                 const std::string& help, Apply add) {
  Option& option = add_value(parser, name, type, help, std::move(add));
  option.list = true;
  return option;
}

Option& add_flag(Parser& parser, char short_name, const std::string& name, bool& target,
                 const std::string& help) {
  Option& option =
      add_value(parser, name, "", help, [&target](const std::string& v) { target = v == "true"; });
  option.short_name = short_name;
  return option;
}

Option& add_switch(Parser& parser, const std::string& name, bool& target, const std::string& help) {
  Option& option = add_flag(parser, 0, name, target, help);
  option.negatable = true;
  return option;
}

Option& add_switch(Parser& parser, const std::string& name, std::optional<bool>& target,
                   const std::string& help) {
  Option& option =
      add_value(parser, name, "", help, [&target](const std::string& v) { target = v == "true"; });
  option.negatable = true;
  return option;
}

Option& add_duration(Parser& parser, const std::string& name, Millis& target,
                     const std::string& help) {
  Option& option = add_value(parser, name, "DURATION", help,
                             [&target](const std::string& v) { target = *parse_duration(v); });
  option.check = check_duration;
  return option;
}

Option& add_duration(Parser& parser, const std::string& name, std::optional<Millis>& target,
                     const std::string& help) {
  Option& option = add_value(parser, name, "DURATION", help, [&target](const std::string& v) {
    target = v.empty() ? std::nullopt : parse_duration(v);
  });
  option.check = [](const std::string& v) { return v.empty() ? std::string() : check_duration(v); };
  return option;
}

std::string check_duration(const std::string& text) {
  if (parse_duration(text)) return {};
  return "invalid duration '" + text + "' (use e.g. 500ms, 15s, 2m or a number of seconds)";
}

std::string check_quiet(const std::string& text) {
  if (text == "auto" || parse_duration(text)) return {};
  return "invalid duration '" + text +
         "' (use auto, or e.g. 500ms, 2s, 10s or a number of seconds)";
}

std::string check_signal(const std::string& text) {
  if (parse_signal(text)) return {};
  return "unknown signal '" + text + "' (e.g. SIGTERM, QUIT, 3)";
}

std::string check_cidr(const std::string& text) {
  if (parse_cidr(text)) return {};
  return "invalid address or CIDR '" + text + "' (e.g. 10.0.0.7, 10.0.0.0/8, fd00::/64)";
}

std::string check_tcp_port(const std::string& text) {
  int port = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || port < 1 ||
      port > 65535) {
    return "invalid TCP port '" + text + "' (1 to 65535)";
  }
  return {};
}

std::string check_ip_address(const std::string& text) {
  // An IP that is in no EndpointSlice would look "gone" at once: the wait would end early.
  in6_addr address{};
  if (inet_pton(AF_INET, text.c_str(), &address) == 1 ||
      inet_pton(AF_INET6, text.c_str(), &address) == 1) {
    return {};
  }
  return "'" + text + "' is not an IPv4 or IPv6 address";
}

std::string check_https_url(const std::string& text) {
  if (text.empty() || text.starts_with("https://")) return {};
  return "'" + text + "' is not an https:// URL (lameduck sends its token only over TLS)";
}

std::string set_text(const std::vector<std::string>& words) {
  std::string out = "{";
  for (const auto& word : words) out += (out.size() > 1 ? "," : "") + word;
  return out + "}";
}

Check one_of(std::vector<std::string> words) {
  return [words = std::move(words)](const std::string& text) -> std::string {
    for (const auto& word : words) {
      if (word == text) return {};
    }
    return text + " not in " + set_text(words);
  };
}

std::string absolute_path(const std::string& file) {
  if (file.empty() || file.front() == '/') return file;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == nullptr) return file;
  std::string dir = cwd;
  return dir + (dir.ends_with('/') ? "" : "/") + file;
}

}  // namespace lameduck::cli
