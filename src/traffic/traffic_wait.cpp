// SPDX-License-Identifier: Apache-2.0
#include "traffic/traffic_wait.h"

#include <spdlog/spdlog.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "init/orphans.h"

namespace lameduck {
namespace {

std::string plural(std::uint64_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string port_list(const std::set<std::uint16_t>& ports) {
  if (ports.empty()) return "none yet";
  std::string out;
  for (auto p : ports) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

std::string cidr_list(const std::vector<Cidr>& cidrs) {
  std::string out;
  for (const auto& c : cidrs) out += (out.empty() ? "" : ", ") + format_cidr(c);
  return out;
}

}  // namespace

std::unique_ptr<TrafficWait> setup_traffic_wait(const TrafficOptions& options,
                                                std::optional<pid_t> app, Millis max_delay) {
  if (!options.wait) return nullptr;
  TrafficOptions resolved = options;
  std::string from;
  resolved.ignore_peers = ignored_peers(options.ignore_peers, std::getenv("HOST_IP"), from);
  return std::make_unique<TrafficWait>(std::move(resolved), std::move(from), app, max_delay);
}

TrafficReport sample_traffic(const TrafficOptions& options, Millis period,
                             const std::function<std::string(TimePoint)>& pause) {
  TrafficOptions config = options;
  std::string from;
  config.ignore_peers = ignored_peers(options.ignore_peers, std::getenv("HOST_IP"), from);
  config.quiet = period;
  config.pooled_peers.clear();
  TrafficPolicy policy(config);
  SockDiagSocket diag;
  SockDiagEvents events;
  TrafficReport report;
  report.period = period;
  auto first = take_look(diag, events, true);
  auto start = first.at;
  report.error = first.error;
  policy.observe(first);
  if (auto why = pause(start + period); !why.empty()) {
    report.error = why;
    return report;
  }
  auto second = take_look(diag, events, false);
  if (report.error.empty()) report.error = second.error;
  auto r = policy.observe(second);
  report.ports = policy.ports();
  report.new_connections = r.new_connections;
  // Those the last look could not attribute yet count: the report has no later look.
  report.unattributed = r.unattributed + policy.pending();
  report.new_connections += policy.pending();
  report.bytes = r.bytes;
  report.peers = policy.active_peers(start);
  return report;
}

std::string describe_traffic(const TrafficReport& report) {
  std::string out = plural(report.new_connections, "new connection");
  if (report.unattributed > 0) out += " (" + std::to_string(report.unattributed) + " unseen)";
  out += ", " + format_bytes(report.bytes) + " in the last " + format_duration(report.period) +
         " on port(s) " + port_list(report.ports);
  std::string peers;
  for (const auto& p : report.peers) peers += (peers.empty() ? "" : ", ") + format_ip(p.ip);
  if (!peers.empty()) out += " (from " + peers + ")";
  if (!report.error.empty()) out += "; " + report.error;
  return out;
}

std::string format_bytes(std::uint64_t bytes) {
  char text[32];
  if (bytes < 1024) {
    std::snprintf(text, sizeof text, "%" PRIu64 " B", bytes);
  } else if (bytes < std::uint64_t{1024} * 1024) {
    std::snprintf(text, sizeof text, "%.0f KiB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024 * 1024));
  }
  return text;
}

std::vector<Cidr> ignored_peers(const std::vector<Cidr>& given, const char* host_ip,
                                std::string& from) {
  if (!given.empty()) {
    from = "--ignore-peer";
    return given;
  }
  if (host_ip != nullptr && *host_ip != '\0') {
    if (auto cidr = parse_cidr(host_ip)) {
      from = "HOST_IP";
      return {*cidr};
    }
    from = "HOST_IP '" + std::string(host_ip) + "' is not an IP address";
    return {};
  }
  from = "no HOST_IP";
  return {};
}

TrafficWait::TrafficWait(TrafficOptions options, std::string ignore_from, std::optional<pid_t> app,
                         Millis quiet_cap, std::unique_ptr<LookSource> probe)
    : options_(std::move(options)),
      ignore_from_(std::move(ignore_from)),
      app_(app),
      quiet_cap_(quiet_cap),
      policy_(options_),
      probe_(std::move(probe)) {}

const Timeline& TrafficWait::timeline() const {
  static const Timeline unstarted;  // lines without a stamp, should nobody have set one
  return timeline_ != nullptr ? *timeline_ : unstarted;
}

std::optional<WaitOutcome> TrafficWait::start(TimePoint now) {
  running_ = true;
  quiet_ = false;
  window_start_ = now;
  window_ = {};
  TrafficLook first = probe_->take();

  // Which ports are the app's: --port, else what its processes listen on, else all.
  TrafficOptions config = options_;
  std::string ports_from = "--port";
  if (config.ports.empty()) {
    ports_from = "every listening port";
    if (app_ && first.sockets) {
      std::vector<pid_t> pids = descendants_of(*app_);
      pids.push_back(*app_);
      std::string why;
      if (auto ports = listening_ports_of(pids, *first.sockets, why); !ports) {
        ports_from = "every listening port (" + why + ")";
      } else if (ports->empty()) {
        ports_from = "every listening port (the app listens on none)";
      } else {
        config.ports = *ports;
        ports_from = "the app's";
      }
    }
  }
  policy_ = TrafficPolicy(config);
  policy_.observe(first);
  last_look_ = now;
  first_look_ = first.at;
  first_opens_ = first.passive_opens;

  std::string ignored = "loopback";
  for (const auto& c : options_.ignore_peers) ignored += ", " + format_cidr(c);
  std::string quiet = format_duration(options_.quiet);
  if (options_.auto_quiet) {
    quiet = "auto (" + quiet + " to " + format_duration(quiet_cap_) + ")";
  }
  timeline().info(
      "waiting for traffic to stop: {} quiet on port(s) {} ({}), ignoring {} "
      "({})",
      quiet, port_list(policy_.ports()), ports_from, ignored, ignore_from_);
  if (!options_.pooled_peers.empty()) {
    timeline().info(
        "open connections hold the wait only from {} (--pooled-peer); any other peer's "
        "only while it opens new ones",
        cidr_list(options_.pooled_peers));
  }
  if (options_.auto_quiet) {
    evidence_ = {};
    evidence_.age = probe_->pod_age();
    evidence_.lifetime_opens = policy_.baseline_opens();
    evidence_.lifetime_segments = policy_.baseline_segments();
    logged_quiet_ = Millis(0);
    choose_quiet(first);
  }
  if (!first.error.empty()) {
    warned_ = first.error;
    timeline().warn("traffic: {}; every look that cannot be read counts as traffic", first.error);
  }
  return std::nullopt;
}

void TrafficWait::stop() {
  if (!running_) return;
  running_ = false;
  probe_->close();
  auto now = Clock::now();
  if (!quiet_) {
    auto active = still_active(now);
    if (!active.empty()) {
      timeline().info("traffic still active when the wait ended: {}", active);
    }
  }
}

std::optional<TimePoint> TrafficWait::next_timeout() const {
  if (!running_ || quiet_) return std::nullopt;
  TimePoint next = last_look_ + kTrafficLookInterval;
  // Look exactly when the wait could end, so that it ends on a look.
  if (auto until = policy_.quiet_until(); until && *until > last_look_ && *until < next) {
    next = *until;
  }
  return next;
}

std::optional<WaitOutcome> TrafficWait::on_ready(std::span<const pollfd>, TimePoint now) {
  auto due = next_timeout();
  if (!due || now < *due) return std::nullopt;
  return look(now);
}

std::optional<WaitOutcome> TrafficWait::check(TimePoint now) {
  auto until = policy_.quiet_until();
  if (quiet_ || !until || now < *until) return std::nullopt;
  quiet_ = true;
  auto quiet_for = std::chrono::duration_cast<Millis>(now - *policy_.quiet_since());
  // Rounded down to the look interval, so "quiet for 2s" reads as configured; an auto quiet
  // is a multiple of 100 ms.
  quiet_for -= quiet_for % (options_.auto_quiet ? Millis(100) : kTrafficLookInterval);
  return WaitOutcome{WaitOutcome::Kind::done, "quiet for " + format_duration(quiet_for) +
                                                  " since " +
                                                  timeline().stamp(*policy_.quiet_since())};
}

void TrafficWait::choose_quiet(const TrafficLook& look) {
  evidence_.elapsed = std::chrono::duration_cast<Millis>(look.at - first_look_);
  if (look.passive_opens && first_opens_ && *look.passive_opens >= *first_opens_) {
    evidence_.opens = *look.passive_opens - *first_opens_;
  }
  auto choice = lameduck::choose_quiet(evidence_, options_.quiet, quiet_cap_);
  policy_.set_quiet(choice.quiet);
  // Logged when it moves by a tenth or more, at most once a second after the first.
  auto moved = std::chrono::abs(choice.quiet - logged_quiet_) * 10 >= logged_quiet_;
  if (logged_quiet_.count() == 0 ||
      (moved && look.at - quiet_logged_at_ >= Millis(1000) && evidence_.elapsed >= Millis(1000))) {
    logged_quiet_ = choice.quiet;
    quiet_logged_at_ = look.at;
    timeline().info("quiet {}: {}", format_duration(choice.quiet), choice.why);
  }
}

std::optional<WaitOutcome> TrafficWait::look(TimePoint now) {
  TrafficLook sample = probe_->take();
  LookResult r = policy_.observe(sample);
  last_look_ = now;
  if (options_.auto_quiet) {
    evidence_.uncounted += r.uncounted;
    evidence_.requests += r.requests;
    choose_quiet(sample);
  }
  if (!r.error.empty() && r.error != warned_) {
    warned_ = r.error;
    timeline().warn("traffic: {}; counts as traffic", r.error);
  }
  window_.new_connections += r.new_connections;
  window_.unattributed += r.unattributed;
  window_.bytes += r.bytes;
  window_.uncertain += r.uncertain;
  if (!r.error.empty()) window_.error = r.error;
  if (r.last_peer) {
    window_.last_peer = r.last_peer;
    window_.last_port = r.last_port;
  }
  if (now - window_start_ >= Millis(1000)) log_traffic(now);
  return check(now);
}

void TrafficWait::log_traffic(TimePoint now) {
  if (window_.active()) {
    auto period = std::chrono::duration_cast<Millis>(now - window_start_);
    std::string what = plural(window_.new_connections, "new connection");
    if (window_.unattributed > 0) what += " (" + std::to_string(window_.unattributed) + " unseen)";
    what += ", " + format_bytes(window_.bytes);
    if (window_.uncertain > 0) {
      what += ", " + plural(window_.uncertain, "connection") + " closed with unknown bytes";
    }
    if (!window_.error.empty()) what += ", looks unreadable";
    std::string from;
    if (window_.last_peer) {
      from = " (last from " + format_endpoint(*window_.last_peer, window_.last_port) + ")";
    }
    timeline().info("traffic: {} in the last {}{}", what, format_duration(period), from);
  }
  window_start_ = now;
  window_ = {};
}

std::string TrafficWait::still_active(TimePoint now) const {
  TimePoint since = now - policy_.quiet();
  std::string out;
  int shown = 0;
  auto peers = policy_.active_peers(since);
  for (const auto& p : peers) {
    if (++shown > 5) {
      out += ", " + std::to_string(peers.size() - 5) + " more peers";
      break;
    }
    std::string detail = plural(p.open, "open connection");
    if (p.connections > 0) detail += ", " + plural(p.connections, "new connection");
    detail += ", " + format_bytes(p.bytes);
    out += (out.empty() ? "" : ", ") + format_ip(p.ip) + " (" + detail + " in the last " +
           format_duration(policy_.quiet()) + ")";
  }
  if (auto anonymous = policy_.anonymous_since(since); anonymous > 0) {
    out += (out.empty() ? "" : ", ") + plural(anonymous, "connection or look") +
           " that could not be attributed";
  }
  return out;
}

}  // namespace lameduck
