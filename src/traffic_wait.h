// The traffic wait as a source of the drain's loop: from start() until stop() it takes a
// look at the network namespace a few times a second (traffic_probe.h), feeds the pure
// TrafficPolicy, and writes the timeline (at most one "traffic:" line a second). It has
// no descriptor to poll, only a timer: next_look(). Before start() nothing is open.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "traffic_policy.h"
#include "traffic_probe.h"

namespace lameduck {

// How often the wait looks: often enough that a quiet period is measured within a quarter
// of a second, rare enough to cost nothing noticeable (bench/: CPU per drain).
constexpr Millis kTrafficLookInterval{250};

struct TrafficWaitParams {
  Millis quiet{2000};
  std::vector<Cidr> ignore;       // besides loopback (always)
  std::string ignore_from;        // where `ignore` came from, for the log
  std::set<std::uint16_t> ports;  // --port; empty: the app's listening ports
  std::optional<pid_t> app;       // whose ports (with its descendants); none: every port
  bool wait_pooled = true;
};

// The wait's one finding: quiet for --quiet, confirmed by a look. `why` is for the
// timeline: "quiet for 2s since t=+7400ms".
struct TrafficQuiet {
  std::string why;
};

class TrafficWait {
 public:
  explicit TrafficWait(TrafficWaitParams params);

  // Opens the probe and takes the first look (the baseline): the wait reports quiet no
  // earlier than --quiet from now. `zero` is the timeline's start (t=+0ms).
  void start(TimePoint now, TimePoint zero);
  // Closes the probe. When the wait ended before the quiet period (a cap, a signal), the
  // log names the peers still sending: waiting on them ran out, not their traffic.
  void stop(TimePoint now, bool quiet_reached);
  bool running() const { return running_; }

  // When the next look is due (nullopt when not running).
  std::optional<TimePoint> next_look() const;
  // Takes the look when it is due; returns the finding once, when a look confirms it.
  std::optional<TrafficQuiet> on_timer(TimePoint now);

  // "10.0.3.7 (2 open connections, 4 KiB in the last 2s), 3 connections from unseen peers"
  std::string still_active(TimePoint now) const;
  const TrafficPolicy& policy() const { return policy_; }

 private:
  std::optional<TrafficQuiet> look(TimePoint now);
  std::optional<TrafficQuiet> check(TimePoint now);
  long long t(TimePoint now) const;
  void log_traffic(TimePoint now);

  TrafficWaitParams params_;
  TrafficPolicy policy_;
  SockDiagSocket diag_;
  bool running_ = false;
  bool quiet_ = false;  // reported
  TimePoint zero_{};
  TimePoint last_look_{};
  // Accumulated since the last "traffic:" line.
  TimePoint window_start_{};
  LookResult window_;
  std::string warned_;  // the last look error logged, so a lasting one is logged once
};

// "512 B", "38 KiB", "1.2 MiB"
std::string format_bytes(std::uint64_t bytes);

// Which peers the traffic wait ignores: loopback always, then --ignore-peer, or else the
// node's IP from HOST_IP (the downward API's status.hostIP). `from` says which.
std::vector<Cidr> ignored_peers(const std::vector<Cidr>& given, const char* host_ip,
                                std::string& from);

}  // namespace lameduck
