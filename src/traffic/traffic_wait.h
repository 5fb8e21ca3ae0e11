// SPDX-License-Identifier: Apache-2.0
// The traffic wait as a source of the drain's loop: from start() until stop() it takes a
// look at the network namespace a few times a second (traffic_probe.h), feeds the pure
// TrafficPolicy, and writes the timeline (at most one "traffic:" line a second). It has
// no descriptor to poll, only a timer: next_look(). Before start() nothing is open.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/log.h"
#include "drain/wait_source.h"
#include "traffic/quiet_rule.h"
#include "traffic/traffic_options.h"
#include "traffic/traffic_policy.h"
#include "traffic/traffic_probe.h"

namespace lameduck {

// How often the wait looks: often enough that a quiet period is measured within a quarter
// of a second, rare enough to cost nothing noticeable (bench/: CPU per drain).
constexpr Millis kTrafficLookInterval{250};

class TrafficWait final : public WaitSource {
 public:
  // options.ignore_peers: resolved (ignored_peers), `ignore_from` says where from, for the
  // log. Empty ports: the listening ports of `app` and its descendants (none: every port).
  // quiet_cap: the longest auto quiet (--max-delay). `probe`: where the looks come from.
  TrafficWait(TrafficOptions options, std::string ignore_from, std::optional<pid_t> app,
              Millis quiet_cap = Millis(25000),
              std::unique_ptr<LookSource> probe = std::make_unique<NamespaceProbe>());

  // The drain's timeline, for the lines this wait writes (set before start()).
  void set_timeline(const Timeline& timeline) { timeline_ = &timeline; }
  // Opens the probe and takes the first look (the baseline): the wait reports quiet no
  // earlier than --quiet from now. Never an outcome at once.
  std::optional<WaitOutcome> start(TimePoint now) override;
  // Closes the probe. When the wait ended before the quiet period (a cap, a signal), the
  // log names the peers still sending: waiting on them ran out, not their traffic.
  void stop() override;
  void add_fds(std::vector<pollfd>&) override {}
  // When the next look is due (nullopt when not running): a timer, no descriptor.
  std::optional<TimePoint> next_timeout() const override;
  // Takes the look when it is due; the outcome (done: quiet, with the timeline's words)
  // once, when a look confirms it.
  std::optional<WaitOutcome> on_ready(std::span<const pollfd> fds, TimePoint now) override;

  // "10.0.3.7 (2 open connections, 4 KiB in the last 2s), 3 connections from unseen peers"
  std::string still_active(TimePoint now) const;
  const TrafficPolicy& policy() const { return policy_; }

 private:
  std::optional<WaitOutcome> look(TimePoint now);
  std::optional<WaitOutcome> check(TimePoint now);
  const Timeline& timeline() const;
  void log_traffic(TimePoint now);
  void choose_quiet(const TrafficLook& look);

  TrafficOptions options_;
  std::string ignore_from_;
  std::optional<pid_t> app_;
  Millis quiet_cap_;
  TrafficPolicy policy_;
  std::unique_ptr<LookSource> probe_;
  // --quiet auto: what the rate is learned from (quiet_rule.h), and the choice last logged.
  RateEvidence evidence_;
  TimePoint first_look_{};
  std::optional<std::uint64_t> first_opens_;
  Millis logged_quiet_{0};
  TimePoint quiet_logged_at_{};
  bool running_ = false;
  bool quiet_ = false;  // reported
  const Timeline* timeline_ = nullptr;
  TimePoint last_look_{};
  // Accumulated since the last "traffic:" line.
  TimePoint window_start_{};
  LookResult window_;
  std::string warned_;  // the last look error logged, so a lasting one is logged once
};

// The traffic wait for the drain, from the options (reads HOST_IP); null with
// --no-wait-traffic. `app`: whose listening ports are the app's (none: every port).
// `max_delay` caps an auto quiet.
std::unique_ptr<TrafficWait> setup_traffic_wait(const TrafficOptions& options,
                                                std::optional<pid_t> app, Millis max_delay);

// What `lameduck endpoints` reports: the traffic of one `period`, measured as the wait
// would (every listening port unless --port; loopback, HOST_IP or --ignore-peer ignored).
struct TrafficReport {
  Millis period{0};
  std::set<std::uint16_t> ports;
  std::uint64_t new_connections = 0;
  std::uint64_t unattributed = 0;
  std::uint64_t bytes = 0;
  std::vector<PeerTraffic> peers;
  std::string error;  // a look could not be read
};
// `pause` waits until the time it is given on the caller's event loop: the reason it was
// interrupted (a signal), or empty. Interrupted, the report has `error` set to it.
TrafficReport sample_traffic(const TrafficOptions& options, Millis period,
                             const std::function<std::string(TimePoint)>& pause);

// "3 new connections, 12 KiB in the last 1s on port(s) 8080 (from 10.0.3.7, 10.0.3.9)"
std::string describe_traffic(const TrafficReport& report);

// "512 B", "38 KiB", "1.2 MiB"
std::string format_bytes(std::uint64_t bytes);

// Which peers the traffic wait ignores: loopback always, then --ignore-peer, or else the
// node's IP from HOST_IP (the downward API's status.hostIP). `from` says which.
std::vector<Cidr> ignored_peers(const std::vector<Cidr>& given, const char* host_ip,
                                std::string& from);

}  // namespace lameduck
