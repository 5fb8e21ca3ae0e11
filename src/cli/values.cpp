// SPDX-License-Identifier: Apache-2.0
#include "cli/values.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "init/signals.h"
#include "traffic/traffic_options.h"  // Cidr, parse_cidr

namespace lameduck::cli {
namespace {

// A check with no description, so that --help shows only the option's type.
CLI::Validator check(std::function<std::string(std::string&)> fn, const char* name) {
  return CLI::Validator(std::move(fn), "", name);
}

// A switch that is unset until given: CLI11 reads the flag's text ("true", "false", or the
// variable's value) with operator>> into it, as it would into a bool.
struct Tristate {
  Tristate() {}  // not an aggregate: CLI11 would count the flag into it
  std::optional<bool>* target = nullptr;
};

std::istream& operator>>(std::istream& in, Tristate& state) {
  std::string text;
  in >> text;
  try {
    *state.target = CLI::detail::to_flag_value(text) > 0;
  } catch (const std::exception&) {
    in.setstate(std::ios::failbit);  // CLI11: "Could not convert: --NAME = TEXT"
  }
  return in;
}

}  // namespace

const CLI::Validator& trimmed() {
  static const CLI::Validator trim(
      [](std::string& value) {
        value = unguard(std::move(value));
        CLI::detail::trim(value);
        return std::string();
      },
      "", "trim");
  return trim;
}

std::string guard(const std::string& word) {
  return '\x1f' + word;
}

std::string unguard(std::string word) {
  if (!word.empty() && word.front() == '\x1f') word.erase(0, 1);
  return word;
}

std::string env_name(const std::string& name) {
  std::string out = "LAMEDUCK_" + name;
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return c == '-' ? '_' : static_cast<char>(std::toupper(c));
  });
  return out;
}

CLI::Option* add_value(CLI::App& app, const std::string& name, const std::string& type,
                       const std::string& help,
                       const std::function<void(const std::string&)>& set) {
  return app.add_option_function<std::string>("--" + name, set, help)
      ->envname(env_name(name))
      ->type_name(type)
      ->transform(trimmed())
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

CLI::Option* add_text(CLI::App& app, const std::string& name, const std::string& type,
                      std::string& target, const std::string& help) {
  return add_value(app, name, type, help, [&target](const std::string& v) { target = v; });
}

CLI::Option* add_list(CLI::App& app, const std::string& name, const std::string& type,
                      const std::string& help, std::function<void(const std::string&)> add) {
  return app
      .add_option_function<std::vector<std::string>>(
          "--" + name,
          [add = std::move(add)](const std::vector<std::string>& values) {
            for (const auto& value : values) add(value);
          },
          help)
      ->envname(env_name(name))
      ->type_name(type)
      ->delimiter(',')
      ->transform(trimmed())
      ->allow_extra_args(false);
}

CLI::Option* add_switch(CLI::App& app, const std::string& name, bool& target,
                        const std::string& help) {
  return app.add_flag("--" + name + ",!--no-" + name, target, help)
      ->envname(env_name(name))
      ->transform(trimmed())
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

CLI::Option* add_switch(CLI::App& app, const std::string& name, std::optional<bool>& target,
                        const std::string& help) {
  auto state = std::make_shared<Tristate>();
  state->target = &target;
  return app.add_flag("--" + name + ",!--no-" + name, *state, help)
      ->envname(env_name(name))
      ->transform(trimmed())
      ->each([state](const std::string&) {})  // the option owns the state
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

CLI::Option* add_duration(CLI::App& app, const std::string& name, Millis& target,
                          const std::string& help) {
  return add_value(app, name, "DURATION", help,
                   [&target](const std::string& v) { target = *parse_duration(v); })
      ->check(duration());
}

CLI::Option* add_duration(CLI::App& app, const std::string& name, std::optional<Millis>& target,
                          const std::string& help) {
  return add_value(app, name, "DURATION", help,
                   [&target](const std::string& v) {
                     target = v.empty() ? std::nullopt : parse_duration(v);
                   })
      ->check(check([](std::string& v) { return v.empty() ? "" : duration()(v); }, "duration"));
}

const CLI::Validator& duration() {
  static const CLI::Validator v = check(
      [](std::string& text) -> std::string {
        if (parse_duration(text)) return {};
        return "invalid duration '" + text + "' (use e.g. 500ms, 15s, 2m or a number of seconds)";
      },
      "duration");
  return v;
}

const CLI::Validator& quiet() {
  static const CLI::Validator v = check(
      [](std::string& text) -> std::string {
        if (text == "auto" || parse_duration(text)) return {};
        return "invalid duration '" + text +
               "' (use auto, or e.g. 500ms, 2s, 10s or a number of seconds)";
      },
      "quiet");
  return v;
}

const CLI::Validator& signal() {
  static const CLI::Validator v = check(
      [](std::string& text) -> std::string {
        if (parse_signal(text)) return {};
        return "unknown signal '" + text + "' (e.g. SIGTERM, QUIT, 3)";
      },
      "signal");
  return v;
}

const CLI::Validator& cidr() {
  static const CLI::Validator v = check(
      [](std::string& text) -> std::string {
        if (parse_cidr(text)) return {};
        return "invalid address or CIDR '" + text + "' (e.g. 10.0.0.7, 10.0.0.0/8, fd00::/64)";
      },
      "cidr");
  return v;
}

const CLI::Validator& tcp_port() {
  static const CLI::Validator v = check(
      [](std::string& text) -> std::string {
        int port = 0;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
        if (text.empty() || error != std::errc() || end != text.data() + text.size() || port < 1 ||
            port > 65535) {
          return "invalid TCP port '" + text + "' (1 to 65535)";
        }
        return {};
      },
      "port");
  return v;
}

const CLI::Validator& ip_address() {
  // An IP that is in no EndpointSlice would look "gone" at once: the wait would end early.
  static const CLI::Validator v = check(
      [](std::string& text) -> std::string {
        in6_addr address{};
        if (inet_pton(AF_INET, text.c_str(), &address) == 1 ||
            inet_pton(AF_INET6, text.c_str(), &address) == 1) {
          return {};
        }
        return "'" + text + "' is not an IPv4 or IPv6 address";
      },
      "ip");
  return v;
}

const CLI::Validator& https_url() {
  static const CLI::Validator v = check(
      [](std::string& text) -> std::string {
        if (text.empty() || text.rfind("https://", 0) == 0) return {};
        return "'" + text + "' is not an https:// URL (lameduck sends its token only over TLS)";
      },
      "https");
  return v;
}

std::string absolute_path(const std::string& file) {
  std::error_code error;
  if (file.empty() || file.front() == '/') return file;
  auto absolute = std::filesystem::absolute(file, error);
  return error ? file : absolute.string();
}

}  // namespace lameduck::cli
