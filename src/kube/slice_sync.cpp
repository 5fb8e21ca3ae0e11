// SPDX-License-Identifier: Apache-2.0
#include "kube/slice_sync.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace lameduck {
namespace {

constexpr Millis kMaxRetryAfter{10000};  // the drain's --max-delay bounds it anyway
constexpr Millis kBackoffBase{100};
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

SliceSync::SliceSync(SliceSyncConfig config) : config_(std::move(config)) {
  std::seed_seq seed{config_.seed};
  rng_.seed(seed);
}

long long SliceSync::elapsed(TimePoint now) const {
  return std::chrono::duration_cast<Millis>(now - started_).count();
}

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
    return fail("cannot tell the Pod's namespace: set POD_NAMESPACE or --namespace", now);
  }
  if (pod.ips.empty() && pod.name.empty()) {
    return fail("cannot tell the Pod's IP: set POD_IP (downward API) or --pod-ip", now);
  }
  begin_list(now);
}

void SliceSync::request(Request::Kind kind, std::string url, TimePoint now) {
  if (requests_ >= config_.max_requests) {
    return fail("made " + std::to_string(requests_) +
                    " requests to the API server in this drain, the most it may make",
                now);
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
  listing_.clear();
  listed_ = 0;
  pages_ = 1;
  request(Request::Kind::list, list_url(list_selector(), ""), now);
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
  if (outcome.kind == Kind::fatal) return fail(outcome.why, now);
  auto page = parse_slice_list(outcome.body, config_.pod);
  if (!page.error.empty()) {
    return fail("malformed EndpointSlice list from the API server: " + page.error, now);
  }
  for (auto& slice : page.items) {
    ++listed_;
    if (slice.endpoints.empty()) continue;  // does not name the Pod: nothing to keep
    std::string name = slice.name;
    listing_[name] = std::move(slice);
  }
  if (listing_.size() > config_.max_slices) {
    return fail("more than " + std::to_string(config_.max_slices) +
                    " EndpointSlices name the Pod; the API is not making sense",
                now);
  }
  if (!page.continue_token.empty()) {
    if (++pages_ > config_.max_pages) {
      return fail("the EndpointSlice list has more than " + std::to_string(config_.max_pages) +
                      " pages of " + std::to_string(kListPageSize) + "; narrow it with --service",
                  now);
    }
    return request(Request::Kind::list, list_url(list_selector(), page.continue_token), now);
  }
  resource_version_ = page.resource_version;
  slices_ = std::move(listing_);
  listing_.clear();
  listed_once_ = true;
  retries_ = 0;
  evaluate(now, true);
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
  retries_ = 0;
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
  if (slices_.size() > config_.max_slices) {
    fail("more than " + std::to_string(config_.max_slices) +
             " EndpointSlices name the Pod; the API is not making sense",
         now);
  }
}

void SliceSync::on_failure(const std::string& why, TimePoint now) {
  if (state_ != State::running) return;
  fail(why, now);
}

void SliceSync::end_batch(TimePoint now) {
  if (state_ != State::running || !std::exchange(dirty_, false)) return;
  evaluate(now, false);
}

void SliceSync::on_watch_end(const ApiOutcome& outcome, TimePoint now) {
  in_flight_.reset();
  end_batch(now);  // what the stream delivered before it ended
  if (state_ != State::running) return;
  using Kind = ApiOutcome::Kind;
  switch (outcome.kind) {
    case Kind::ok:
      // A watch the server ends after a while is normal; one that ends at once without a
      // single event, again and again, must not turn into a request loop.
      if (!watch_progress_ && now - request_started_ < config_.request_timeout) {
        return retry("the EndpointSlice watch ended at once without any event", Millis(0), now);
      }
      spdlog::debug("t=+{}ms watch stream ended; watching again", elapsed(now));
      return watch(now);
    case Kind::expired: return relist_after_expiry(now);
    case Kind::retry: return retry(outcome.why, outcome.after, now);
    case Kind::fatal: return fail(outcome.why, now);
  }
}

void SliceSync::relist_after_expiry(TimePoint now) {
  // The first 410 is routine (the history moved past our version): list again at once.
  // Expiring again right after a fresh list, with no event in between, is a broken API
  // (or proxy): back off, and give up like for any other failure.
  drop_request();
  resource_version_.clear();
  if (++relists_ == 1) {
    spdlog::info("t=+{}ms watch expired (410 Gone): listing again", elapsed(now));
    return begin_list(now);
  }
  if (relists_ > config_.max_retries + 1) {
    return fail(
        "the EndpointSlice watch expired (410 Gone) right after every list (gave up "
        "after retries)",
        now);
  }
  Millis backoff = kBackoffBase * (1 << std::min(relists_ - 1, 4));
  spdlog::info("t=+{}ms watch expired (410 Gone) again right after listing; listing again in {}",
               elapsed(now), format_duration(backoff));
  retry_at_ = now + backoff;
}

void SliceSync::retry(const std::string& why, Millis retry_after, TimePoint now) {
  drop_request();
  if (++retries_ > config_.max_retries) return fail(why + " (gave up after retries)", now);
  // Jittered: 250 drains that start in the same second must not retry in step.
  Millis base = kBackoffBase * (1 << std::min(retries_, 4));
  Millis backoff = base + Millis(std::uniform_int_distribution<long>(0, base.count() - 1)(rng_));
  Millis wait = std::max(backoff, std::min(retry_after, kMaxRetryAfter));
  if (!listed_once_) {
    auto budget = started_ + std::max(config_.answer_within, kMinAnswerTime);
    if (now + wait >= budget) {
      return fail(why + " (no time left to retry within --delay " +
                      format_duration(config_.answer_within) + ")",
                  now);
    }
  }
  spdlog::info("t=+{}ms {}; retrying in {}ms", elapsed(now), why, wait.count());
  retry_at_ = now + wait;
}

void SliceSync::fail(const std::string& why, TimePoint now) {
  drop_request();
  retry_at_.reset();
  failure_ = why;
  state_ = State::failed;
  spdlog::warn("t=+{}ms EndpointSlice API unusable, falling back to --delay: {}", elapsed(now),
               why);
}

void SliceSync::evaluate(TimePoint now, bool after_list) {
  auto routes = routes_to_pod(slices_, config_.pod, config_.selector.services);
  if (routes.empty()) {
    if (!routes_.empty()) {
      spdlog::info("t=+{}ms Pod left every EndpointSlice (was in {})", elapsed(now),
                   describe_routes(routes_));
    } else {
      spdlog::info("t=+{}ms Pod is routable in no EndpointSlice ({} slice(s) seen)", elapsed(now),
                   listed_);
    }
    routes_.clear();
    state_ = State::gone;
    drop_request();
    return;
  }
  if ((after_list && routes_.empty()) || routes.size() != routes_.size()) {
    spdlog::info("t=+{}ms Pod still routable: {}", elapsed(now), describe_routes(routes));
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
    return fail("no answer from the API server within " + format_duration(budget) + " (--delay)",
                now);
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
