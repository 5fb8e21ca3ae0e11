// SPDX-License-Identifier: Apache-2.0
#include "base/log.h"

#include <fcntl.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/sink.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>

#include "base/text.h"
#include "base/unique_fd.h"

namespace lameduck {
namespace {

void append(spdlog::memory_buf_t& dest, std::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

// "2026-11-29T13:45:01.123Z": UTC with milliseconds, computed here rather than with
// gmtime_r, which reads /etc/localtime once (glibc sets up the time zone first) for a
// time zone that is never used.
void append_utc_stamp(spdlog::memory_buf_t& dest, spdlog::log_clock::time_point time) {
  using namespace std::chrono;
  auto since_epoch = time.time_since_epoch();
  auto day = floor<days>(since_epoch);
  year_month_day date{sys_days{day}};
  hh_mm_ss clock{floor<milliseconds>(since_epoch - day)};
  auto digits = [&dest](long value, int width) {
    char text[8];
    for (int i = width - 1; i >= 0; --i, value /= 10) text[i] = static_cast<char>('0' + value % 10);
    dest.append(text, text + width);
  };
  digits(static_cast<int>(date.year()), 4);
  dest.push_back('-');
  digits(static_cast<unsigned>(date.month()), 2);
  dest.push_back('-');
  digits(static_cast<unsigned>(date.day()), 2);
  dest.push_back('T');
  digits(clock.hours().count(), 2);
  dest.push_back(':');
  digits(clock.minutes().count(), 2);
  dest.push_back(':');
  digits(clock.seconds().count(), 2);
  dest.push_back('.');
  digits(clock.subseconds().count(), 3);
  dest.push_back('Z');
}

std::string_view level_name(spdlog::level::level_enum level) {
  auto name = spdlog::level::to_string_view(level);
  return {name.data(), name.size()};
}

// 2026-11-29T13:45:01.123Z lameduck[7] info: ...: one line per event. The message is
// cleaned again, the last guard: whatever reaches a log line is valid UTF-8 on one line,
// even if some outside text slipped past clean_text() where it came in.
class TextFormatter final : public spdlog::formatter {
 public:
  // who: the writer, "lameduck[7]".
  explicit TextFormatter(std::string who) : who_(std::move(who)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append_utc_stamp(dest, msg.time);
    dest.push_back(' ');
    append(dest, who_);
    dest.push_back(' ');
    append(dest, level_name(msg.level));
    append(dest, ": ");
    append(dest, clean_text(std::string_view(msg.payload.data(), msg.payload.size())));
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>(who_);
  }

 private:
  std::string who_;
};

// {"time":"2026-11-29T13:45:01.123Z","level":"info","msg":"..."}: one object per line,
// the shape log collectors (Loki, Elasticsearch, Cloud Logging) parse without configuration.
class JsonFormatter final : public spdlog::formatter {
 public:
  // who: the fields that name the writer, "\"logger\":\"lameduck\"".
  explicit JsonFormatter(std::string who) : who_(std::move(who)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append(dest, "{\"time\":\"");
    append_utc_stamp(dest, msg.time);
    append(dest, "\",\"level\":\"");
    append(dest, level_name(msg.level));
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

// text_who: the writer in a text line; json_who: the same as JSON fields.
std::unique_ptr<spdlog::formatter> make_formatter(LogFormat format, std::string text_who,
                                                  std::string json_who) {
  if (format == LogFormat::json) return std::make_unique<JsonFormatter>(std::move(json_who));
  return std::make_unique<TextFormatter>(std::move(text_who));
}

// Writes line to fd whole (a short write is continued; EINTR retried); errors are
// ignored: a log line must never stop lameduck.
void write_line(int fd, const spdlog::memory_buf_t& line) {
  const char* data = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

// lameduck's own stderr: one write(2) per line, unbuffered (lameduck is single-threaded,
// and its lines must not wait in a buffer when the app writes there too).
class StderrSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    write_line(STDERR_FILENO, line);
  }
  void flush() override {}
  void set_pattern(const std::string& pattern) override {
    formatter_ = std::make_unique<spdlog::pattern_formatter>(pattern);
  }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    formatter_ = std::move(formatter);
  }

 private:
  std::unique_ptr<spdlog::formatter> formatter_ = make_formatter(LogFormat::text, "lameduck", "");
};

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
bool json_errors = false;            // print_error follows --log-format once the options are known
std::optional<LogOptions> deferred;  // defer_logging's options until setup_logging()
}  // namespace

void setup_logging(const LogOptions& options) {
  deferred.reset();
  json_errors = options.format == LogFormat::json;
  auto logger = spdlog::default_logger();
  if (logger->name() != "lameduck") {
    logger = std::make_shared<spdlog::logger>("lameduck", std::make_shared<StderrSink>());
    spdlog::set_default_logger(logger);
  }
  logger->set_formatter(make_formatter(
      options.format, "lameduck[" + std::to_string(::getpid()) + "]", "\"logger\":\"lameduck\""));
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::trace);
}

void defer_logging(const LogOptions& options) {
  json_errors = options.format == LogFormat::json;
  deferred = options;
}

void setup_logging() {
  if (deferred) setup_logging(*deferred);
}

void copy_log_to_pid1(const LogOptions& options) {
  // O_NOCTTY: a terminal there must not become the hook's controlling terminal.
  UniqueFd fd(::open("/proc/1/fd/2", O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd || same_file(fd.get(), STDERR_FILENO) || pid1_copy) return;
  auto sink = std::make_shared<Pid1StderrSink>(std::move(fd));
  sink->set_formatter(
      make_formatter(options.format, "lameduck prestop (pid " + std::to_string(::getpid()) + ")",
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
    setup_logging();  // deferred until now
    spdlog::error("{}", message);
    return;
  }
  std::string line = "lameduck: " + clean_text(message) + "\n";
  // One write so concurrent output from the app does not interleave with it.
  [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace lameduck
