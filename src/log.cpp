// SPDX-License-Identifier: Apache-2.0
#include "log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "text.h"

namespace lameduck {
namespace {

void append(spdlog::memory_buf_t& dest, std::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

// The last guard: whatever reaches a log line is valid UTF-8 on one line, even if some
// outside text slipped past clean_text() where it came in.
class CleanPayload final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    append(dest, clean_text(std::string_view(msg.payload.data(), msg.payload.size())));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<CleanPayload>();
  }
};

// {"time":"2026-11-29T13:45:01.123Z","level":"info","msg":"..."}: one object per line,
// the shape log collectors (Loki, Elasticsearch, Cloud Logging) parse without configuration.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto since_epoch = msg.time.time_since_epoch();
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
    std::time_t t = seconds.count();
    std::tm utc{};
    gmtime_r(&t, &utc);
    char stamp[40];
    std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(millis.count()));
    append(dest, "{\"time\":\"");
    append(dest, stamp);
    append(dest, "\",\"level\":\"");
    auto level = spdlog::level::to_string_view(msg.level);
    append(dest, std::string_view(level.data(), level.size()));
    append(dest, "\",\"logger\":\"lameduck\",\"msg\":");
    append(dest, json_quote(std::string_view(msg.payload.data(), msg.payload.size())));
    append(dest, "}\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

namespace {
bool json_errors = false;  // print_error follows --log-format once the options are known
}  // namespace

void setup_logging(const LogOptions& options) {
  json_errors = options.format == LogFormat::json;
  auto logger = spdlog::default_logger();
  if (logger->name() != "lameduck") {
    // stderr_sink_st: unbuffered fwrite to stderr; lameduck is single-threaded.
    logger = std::make_shared<spdlog::logger>("lameduck",
                                              std::make_shared<spdlog::sinks::stderr_sink_st>());
    spdlog::set_default_logger(logger);
  }
  if (options.format == LogFormat::json) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<CleanPayload>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ lameduck[%P] %l: %*");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::trace);
}

Millis Timeline::elapsed(TimePoint now) const {
  if (!zero_) return Millis(0);
  return std::chrono::duration_cast<Millis>(now - *zero_);
}

void Timeline::write(spdlog::level::level_enum level, std::string_view text) const {
  if (!zero_) {
    spdlog::log(level, "{}", text);
    return;
  }
  spdlog::log(level, "t=+{}ms {}", elapsed().count(), text);
}

void print_error(const std::string& message) {
  if (json_errors) {
    spdlog::error("{}", message);
    return;
  }
  std::string line = "lameduck: " + clean_text(message) + "\n";
  // One write so concurrent output from the app does not interleave with it.
  [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace lameduck
