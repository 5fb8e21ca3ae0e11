// SPDX-License-Identifier: Apache-2.0
// The EndpointSlice protocol as a pure state machine: list (following pages), then watch
// from the list's resourceVersion until the Pod is routable in no Service. It is fed the
// outcomes of requests (kube_api.h) and parsed watch events (endpoint_slice.h) with the time,
// and says which request to make next; slice_watch.cpp does the I/O. Its lines go on the
// drain's timeline.
//
// * Narrow: after the list, the watch selects only the Services whose slices name the Pod
//   (new slices of those Services are seen; other Services' churn is not sent at all).
// * Bounded: only slices naming the Pod are kept, at most max_slices of them; a list has at
//   most max_pages pages (slice_list.h); a drain makes at most max_requests requests,
//   however the API behaves.
// * Inside the budget: until a list is complete, retries (and Retry-After) are only made
//   when they fit before `answer_within` of the start (--delay): the fallback is never late
//   because of the API. Backoff is jittered, so that drains that start together spread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/duration.h"
#include "base/log.h"
#include "kube/endpoint_slice.h"
#include "kube/kube_api.h"
#include "kube/slice_list.h"

namespace lameduck {

struct SliceSyncConfig {
  SliceSelector selector;  // api_server, namespace, --service
  PodIdentity pod;
  Millis request_timeout{5000};  // a list, or a watch's response headers
  // Until the first list is complete the API has this long from start() (--delay, at least
  // kMinAnswerTime): then the wait fails, whatever is in flight.
  Millis answer_within{15000};
  int max_retries = 4;  // consecutive failures before giving up
  int max_requests = 12;
  int max_pages = 8;
  std::size_t max_slices = 1000;  // slices naming the Pod
  bool narrow = true;             // false: watch what was listed (--debug-watch-namespace)
  unsigned seed = 0;              // of the backoff jitter
};

// The API always gets this long for a first answer, even with --delay 0.
inline constexpr Millis kMinAnswerTime{1000};

class SliceSync {
 public:
  enum class State { running, gone, failed };
  struct Request {
    using Kind = ApiRequestKind;
    Kind kind;
    std::string url;
  };
  // What the I/O side does next: drop the request in flight, and/or start a new one.
  struct Next {
    bool cancel = false;
    std::optional<Request> start;
  };

  // Writes its lines on `timeline`, which must outlive it.
  SliceSync(SliceSyncConfig config, const Timeline& timeline);

  void start(TimePoint now);
  void on_list(const ApiOutcome& outcome, TimePoint now);
  // The watch answered (headers): its header timeout no longer applies.
  void on_watch_answered() { answered_ = true; }
  // One event of the watch stream; the slices are evaluated by end_batch().
  void on_event(const WatchEvent& event, TimePoint now);
  // Anything else that makes the API unusable (a malformed event, an unreadable token).
  void on_failure(const std::string& why);
  // After a round's events: is the Pod still routable?
  void end_batch();
  // The stream ended, not cancelled by us.
  void on_watch_end(const ApiOutcome& outcome, TimePoint now);
  // Timers (retry due, header timeout, the answer budget); call at next_timeout().
  void on_tick(TimePoint now);
  std::optional<TimePoint> next_timeout() const;
  // A watch stream being read: should it go on?
  bool wants_stream() const { return state_ == State::running && !next_.cancel; }

  Next take_next() { return std::exchange(next_, Next{}); }
  State state() const { return state_; }
  const std::string& failure() const { return failure_; }
  const std::vector<Route>& routes() const { return routes_; }
  int requests() const { return requests_; }
  // The Services the watch selects; empty when it selects what was listed.
  const std::vector<std::string>& watched_services() const { return watch_services_; }

 private:
  void begin_list(TimePoint now);
  void watch(TimePoint now);
  void request(Request::Kind kind, std::string url, TimePoint now);
  void relist_after_expiry(TimePoint now);
  void retry(const std::string& why, Millis retry_after, TimePoint now);
  void fail(const std::string& why);
  void evaluate(bool after_list);
  void narrow_watch();
  void drop_request();
  SliceSelector list_selector() const;
  SliceSelector watch_selector() const;

  SliceSyncConfig config_;
  const Timeline& timeline_;
  State state_ = State::running;
  Next next_;
  std::optional<Request::Kind> in_flight_;
  TimePoint started_{};
  TimePoint request_started_{};
  bool answered_ = false;     // the watch in flight sent its headers
  bool listed_once_ = false;  // a list was complete: the answer budget is met
  std::optional<TimePoint> retry_at_;
  Backoff backoff_;
  int relists_ = 0;              // consecutive 410s with no watch event in between
  bool watch_progress_ = false;  // the current watch delivered an event
  bool dirty_ = false;           // events since the last evaluation
  int requests_ = 0;
  SliceList list_;                               // the list in progress, or the last one
  std::map<std::string, EndpointSlice> slices_;  // those naming the Pod
  std::string resource_version_;
  std::vector<std::string> watch_services_;
  std::vector<Route> routes_;
  std::string failure_;
};

// The Services whose slices name the Pod, for a narrow watch; empty when the watch cannot
// be narrowed that way (a slice naming the Pod has no Service label) or need not be.
std::vector<std::string> services_naming_pod(const std::map<std::string, EndpointSlice>& slices);

}  // namespace lameduck
