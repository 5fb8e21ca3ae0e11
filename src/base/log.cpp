// SPDX-License-Identifier: Apache-2.0
#include "base/log.h"

#include <fcntl.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <ctime>

#include "base/text.h"
#include "base/unique_fd.h"

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
  // who: the fields that name the writer, "\"logger\":\"lameduck\"".
  explicit JsonFormatter(std::string who) : who_(std::move(who)) {}
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
    append(dest, "\",");
    append(dest, who_);
    append(dest, ",\"msg\":");
    append(dest, json_quote(std::string_view(msg.payload.data(), msg.payload.size())));
    append(dest, "}\n");
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(who_);
  }

 private:
  std::string who_;
};

// text_who: spdlog pattern flags naming the writer; json_who: the same as JSON fields.
std::unique_ptr<spdlog::formatter> make_formatter(LogFormat format, const std::string& text_who,
                                                  std::string json_who) {
  if (format == LogFormat::json) return std::make_unique<JsonFormatter>(std::move(json_who));
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<CleanPayload>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ " + text_who +
                                                     " %l: %*");
  return formatter;
}

// One non-blocking write per line: a full pipe costs the line, never the hook's time.
class Pid1StderrSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit Pid1StderrSink(UniqueFd fd) : fd_(std::move(fd)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    // A pipe takes up to PIPE_BUF bytes whole or not at all; a longer line could be cut
    // (also a JSON one) and PID 1's next output glued to it. Such a line, which no line of
    // a drain is, stays in the hook's own output only.
    if (line.size() > PIPE_BUF) return;
    [[maybe_unused]] auto ignored = ::write(fd_.get(), line.data(), line.size());
  }
  void flush_() override {}

 private:
  UniqueFd fd_;
};

bool same_file(int a, int b) {
  struct stat sa {};
  struct stat sb {};
  return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

std::shared_ptr<spdlog::sinks::sink> pid1_copy;

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
  logger->set_formatter(make_formatter(options.format, "lameduck[%P]", "\"logger\":\"lameduck\""));
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::trace);
}

void copy_log_to_pid1(const LogOptions& options) {
  // O_NOCTTY: a terminal there must not become the hook's controlling terminal.
  UniqueFd fd(::open("/proc/1/fd/2", O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd || same_file(fd.get(), STDERR_FILENO) || pid1_copy) return;
  auto sink = std::make_shared<Pid1StderrSink>(std::move(fd));
  sink->set_formatter(
      make_formatter(options.format, "lameduck prestop (pid %P)",
                     "\"logger\":\"lameduck prestop\",\"pid\":" + std::to_string(::getpid())));
  spdlog::default_logger()->sinks().push_back(sink);
  pid1_copy = sink;
}

void stop_copy_to_pid1() {
  if (!pid1_copy) return;
  std::erase(spdlog::default_logger()->sinks(), pid1_copy);
  pid1_copy.reset();
}

Millis Timeline::elapsed(TimePoint now) const {
  if (!zero_) return Millis(0);
  return std::chrono::duration_cast<Millis>(now - *zero_);
}

std::string Timeline::stamp(TimePoint when) const {
  return fmt::format("t=+{}ms", elapsed(when).count());
}

void Timeline::write(spdlog::level::level_enum level, std::string_view text) const {
  std::string line = zero_ ? stamp() + " " + std::string(text) : std::string(text);
  if (sink_) {
    sink_(level, line);
  } else {
    spdlog::log(level, "{}", line);
  }
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
