// SPDX-License-Identifier: Apache-2.0
#include "kube/slice_sync.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace lameduck {
namespace {

// More Services than this in one label selector: watch what was listed instead.
constexpr std::size_t kMaxNarrowServices = 20;

}  // namespace

std::vector<std::string> services_naming_pod(const std::map<std::string, EndpointSlice>& slices) {
  std::set<std::string> services;
  for (const auto& [name, slice] : slices) {
    if (slice.endpoints.empty()) continue;
    // A slice without the label (made by hand or by another controller) can only be
    // selected with the namespace's other slices.
    if (slice.service.empty()) return {};
    services.insert(slice.service);
  }
  if (services.size() > kMaxNarrowServices) return {};
  return {services.begin(), services.end()};
}

SliceSync::SliceSync(SliceSyncConfig config, const Timeline& timeline)
    : config_(std::move(config)),
      timeline_(timeline),
      backoff_(config_.max_retries, config_.seed),
      list_(config_.pod, {config_.max_pages, config_.max_slices}) {}

SliceSelector SliceSync::list_selector() const {
  // A relist (410) asks for what the watch selects: nothing else can hold the Pod.
  return watch_selector();
}

SliceSelector SliceSync::watch_selector() const {
  SliceSelector selector = config_.selector;
  if (!watch_services_.empty()) selector.services = watch_services_;
  return selector;
}

void SliceSync::start(TimePoint now) {
  started_ = now;
  const auto& pod = config_.pod;
  if (pod.namespace_name.empty()) {
    return fail("cannot tell the Pod's namespace: set POD_NAMESPACE or --namespace");
  }
  if (pod.ips.empty() && pod.name.empty()) {
    return fail("cannot tell the Pod's IP: set POD_IP (downward API) or --pod-ip");
  }
  begin_list(now);
}

void SliceSync::request(Request::Kind kind, std::string url, TimePoint now) {
  if (requests_ >= config_.max_requests) {
    return fail("made " + std::to_string(requests_) +
                " requests to the API server in this drain, the most it may make");
  }
  ++requests_;
  next_.cancel = true;
  next_.start = Request{kind, std::move(url)};
  in_flight_ = kind;
  request_started_ = now;
  answered_ = false;
}

void SliceSync::drop_request() {
  next_.cancel = true;
  next_.start.reset();
  in_flight_.reset();
}

void SliceSync::begin_list(TimePoint now) {
  request(Request::Kind::list, list_.begin(list_selector()), now);
}

void SliceSync::watch(TimePoint now) {
  watch_progress_ = false;
  request(Request::Kind::watch, watch_url(watch_selector(), resource_version_), now);
}

void SliceSync::on_list(const ApiOutcome& outcome, TimePoint now) {
  in_flight_.reset();
  if (state_ != State::running) return;
  using Kind = ApiOutcome::Kind;
  if (outcome.kind == Kind::retry || outcome.kind == Kind::expired) {
    // 410 on a list: its continue token expired. Either way, list again from the start.
    resource_version_.clear();
    return retry(outcome.why, outcome.after, now);
  }
  if (outcome.kind == Kind::fatal) return fail(outcome.why);
  auto page = list_.on_page(outcome.body);
  if (!page.error.empty()) return fail(page.error);
  if (page.next_url) return request(Request::Kind::list, std::move(*page.next_url), now);
  resource_version_ = list_.resource_version();
  slices_ = list_.take_slices();
  listed_once_ = true;
  backoff_.reset();
  evaluate(true);
  if (state_ != State::running) return;
  if (config_.narrow) narrow_watch();
  watch(now);
}

void SliceSync::narrow_watch() {
  auto services = services_naming_pod(slices_);
  if (services == watch_services_) return;
  watch_services_ = std::move(services);
  if (!watch_services_.empty()) {
    spdlog::debug("watching only the slices of {}", service_label_selector(watch_services_));
  }
}

void SliceSync::on_event(const WatchEvent& event, TimePoint now) {
  if (state_ != State::running || in_flight_ != Request::Kind::watch) return;
  using Type = WatchEvent::Type;
  if (event.type == Type::error) {
    if (event.code == 410) return relist_after_expiry(now);
    return retry("watch error " + std::to_string(event.code) + ": " + event.message, Millis(0),
                 now);
  }
  resource_version_ = event.resource_version;
  backoff_.reset();
  relists_ = 0;
  watch_progress_ = true;
  if (event.type == Type::bookmark) return;
  const std::string& name = event.slice.name;
  if (event.type == Type::deleted || event.slice.endpoints.empty()) {
    dirty_ = slices_.erase(name) > 0 || dirty_;
    return;
  }
  slices_[name] = event.slice;
  dirty_ = true;
  if (slices_.size() > config_.max_slices) fail(too_many_slices(config_.max_slices));
}

void SliceSync::on_failure(const std::string& why) {
  if (state_ != State::running) return;
  fail(why);
}

void SliceSync::end_batch() {
  if (state_ != State::running || !std::exchange(dirty_, false)) return;
  evaluate(false);
}

void SliceSync::on_watch_end(const ApiOutcome& outcome, TimePoint now) {
  in_flight_.reset();
  end_batch();  // what the stream delivered before it ended
  if (state_ != State::running) return;
  using Kind = ApiOutcome::Kind;
  switch (outcome.kind) {
    case Kind::ok:
      // A watch the server ends after a while is normal; one that ends at once without a
      // single event, again and again, must not turn into a request loop.
      if (!watch_progress_ && now - request_started_ < config_.request_timeout) {
        return retry("the EndpointSlice watch ended at once without any event", Millis(0), now);
      }
      timeline_.debug("watch stream ended; watching again");
      return watch(now);
    case Kind::expired: return relist_after_expiry(now);
    case Kind::retry: return retry(outcome.why, outcome.after, now);
    case Kind::fatal: return fail(outcome.why);
  }
}

void SliceSync::relist_after_expiry(TimePoint now) {
  // The first 410 is routine (the history moved past our version): list again at once.
  // Expiring again right after a fresh list, with no event in between, is a broken API
  // (or proxy): back off, and give up like for any other failure.
  drop_request();
  resource_version_.clear();
  if (++relists_ == 1) {
    timeline_.info("watch expired (410 Gone): listing again");
    return begin_list(now);
  }
  if (relists_ > config_.max_retries + 1) {
    return fail(
        "the EndpointSlice watch expired (410 Gone) right after every list (gave up "
        "after retries)");
  }
  Millis backoff = kBackoffBase * (1 << std::min(relists_ - 1, 4));
  timeline_.info("watch expired (410 Gone) again right after listing; listing again in {}",
                 format_duration(backoff));
  retry_at_ = now + backoff;
}

void SliceSync::retry(const std::string& why, Millis retry_after, TimePoint now) {
  drop_request();
  // Until a list is complete, a retry must fit inside --delay: the fallback is never late.
  std::optional<RetryBudget> budget;
  if (!listed_once_) {
    budget = RetryBudget{started_ + std::max(config_.answer_within, kMinAnswerTime),
                         "--delay " + format_duration(config_.answer_within)};
  }
  auto next = backoff_.next(why, retry_after, now, budget);
  if (!next.error.empty()) return fail(next.error);
  timeline_.info("{}; retrying in {}ms", why, next.wait.count());
  retry_at_ = now + next.wait;
}

void SliceSync::fail(const std::string& why) {
  drop_request();
  retry_at_.reset();
  failure_ = why;
  state_ = State::failed;
  timeline_.warn("EndpointSlice API unusable, falling back to --delay: {}", why);
}

void SliceSync::evaluate(bool after_list) {
  auto routes = routes_to_pod(slices_, config_.pod, config_.selector.services);
  if (routes.empty()) {
    if (!routes_.empty()) {
      timeline_.info("Pod left every EndpointSlice (was in {})", describe_routes(routes_));
    } else {
      timeline_.info("Pod is routable in no EndpointSlice ({} slice(s) seen)", list_.listed());
    }
    routes_.clear();
    state_ = State::gone;
    drop_request();
    return;
  }
  if ((after_list && routes_.empty()) || routes.size() != routes_.size()) {
    timeline_.info("Pod still routable: {}", describe_routes(routes));
  }
  routes_ = std::move(routes);
}

std::optional<TimePoint> SliceSync::next_timeout() const {
  if (state_ != State::running) return std::nullopt;
  std::optional<TimePoint> t = retry_at_;
  auto earlier = [&t](TimePoint other) { t = t ? std::min(*t, other) : other; };
  if (!listed_once_) earlier(started_ + std::max(config_.answer_within, kMinAnswerTime));
  if (in_flight_ == Request::Kind::watch && !answered_) {
    earlier(request_started_ + config_.request_timeout);
  }
  return t;
}

void SliceSync::on_tick(TimePoint now) {
  if (state_ != State::running) return;
  auto budget = std::max(config_.answer_within, kMinAnswerTime);
  if (!listed_once_ && now >= started_ + budget) {
    return fail("no answer from the API server within " + format_duration(budget) + " (--delay)");
  }
  if (in_flight_ == Request::Kind::watch && !answered_ &&
      now >= request_started_ + config_.request_timeout) {
    return retry(
        "watching EndpointSlices: no answer within " + format_duration(config_.request_timeout),
        Millis(0), now);
  }
  if (retry_at_ && now >= *retry_at_) {
    retry_at_.reset();
    if (resource_version_.empty()) {
      begin_list(now);
    } else {
      watch(now);
    }
  }
}

}  // namespace lameduck
