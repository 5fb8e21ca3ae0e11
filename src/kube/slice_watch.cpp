// SPDX-License-Identifier: Apache-2.0
#include "kube/slice_watch.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "kube/kube_api.h"

namespace lameduck {

SliceWatcher::~SliceWatcher() {
  stop();
}

std::optional<WaitOutcome> SliceWatcher::start(TimePoint now) {
  const auto& pod = params_.identity.pod;
  timeline_.info("EndpointSlices of namespace {} at {}: {}", pod.namespace_name,
                 params_.config.api_server, describe_identity(params_.identity));
  SliceSyncConfig config = params_.sync;
  // Drains that start together must not retry together.
  config.seed =
      static_cast<unsigned>(::getpid()) ^ static_cast<unsigned>(now.time_since_epoch().count());
  reported_ = false;
  backlog_.clear();
  scanned_ = 0;
  sync_.emplace(std::move(config), timeline_);
  try {
    sync_->start(now);
    if (sync_->state() == SliceSync::State::running) {
      // The CA once per drain; the token for every request (it rotates).
      auto opened = ApiSession::open(params_.config, params_.sync.request_timeout);
      if (!opened.session) {
        sync_->on_failure(opened.error);
      } else {
        session_ = std::move(opened.session);
        http_ = std::make_unique<HttpClient>();
      }
    }
    act();
  } catch (const std::exception& e) {
    sync_->on_failure(std::string("internal error: ") + e.what());
  }
  return outcome();
}

void SliceWatcher::stop() {
  drop_request();
  http_.reset();
  session_.reset();
  if (sync_ && sync_->requests() > 0) {
    spdlog::debug("EndpointSlice wait made {} API request(s)", sync_->requests());
  }
  sync_.reset();
}

void SliceWatcher::drop_request() {
  if (request_ && http_) http_->cancel(*request_);
  request_.reset();
  kind_.reset();
  backlog_.clear();
  scanned_ = 0;
}

// Does what the protocol asked for: drop the request in flight, start the next one.
void SliceWatcher::act() {
  if (!sync_) return;
  auto next = sync_->take_next();
  if (next.cancel) drop_request();
  if (next.start) send(*next.start);
}

void SliceWatcher::send(const SliceSync::Request& request) {
  auto options = session_->request_options(request.kind);  // reads the token again
  if (!options.error.empty()) return sync_->on_failure(options.error);
  bool watch = request.kind == SliceSync::Request::Kind::watch;
  aborting_ = false;
  kind_ = request.kind;
  spdlog::debug("GET {}", request.url);
  HttpRequest::ChunkFn on_chunk;
  if (watch) on_chunk = [this](std::string_view data) { return this->on_chunk(data); };
  request_ = std::make_unique<HttpRequest>(request.url, options.http, std::move(on_chunk),
                                           [this](const HttpResult& r) { on_done(r); });
  http_->start(*request_);
}

// In curl's write callback: never touch requests here, only say whether to go on.
bool SliceWatcher::on_chunk(std::string_view data) {
  if (!sync_ || !sync_->wants_stream()) {
    aborting_ = true;
    return false;
  }
  sync_->on_watch_answered();
  if (backlog_.size() + data.size() > kMaxBacklog) {
    sync_->on_failure("the EndpointSlice watch sends faster than lameduck can read it");
    aborting_ = true;
    return false;
  }
  backlog_.append(data);
  read_events(round_until_);
  if (!sync_->wants_stream()) aborting_ = true;
  return !aborting_;
}

bool SliceWatcher::backlog_has_line() const {
  return backlog_.find('\n', scanned_) != std::string::npos;
}

void SliceWatcher::read_events(std::optional<TimePoint> until) {
  std::size_t start = 0;
  while (sync_->wants_stream()) {
    // The clock between events: a flood is read over several rounds, signals in between.
    if (until && Clock::now() >= *until) break;
    auto end = backlog_.find('\n', std::max(start, scanned_));
    if (end == std::string::npos) break;
    std::string_view line(backlog_.data() + start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
    auto event = parse_watch_event(line, params_.identity.pod);
    auto now = Clock::now();
    if (!event.malformed.empty()) {
      sync_->on_failure("malformed event in the EndpointSlice watch stream: " + event.malformed);
      break;
    }
    sync_->on_event(event, now);
  }
  backlog_.erase(0, start);
  scanned_ = 0;
  if (!backlog_has_line()) {
    scanned_ = backlog_.size();
    if (backlog_.size() > kMaxEventLine && sync_->wants_stream()) {
      sync_->on_failure("a watch event larger than " + std::to_string(kMaxEventLine >> 20) +
                        " MiB");
    }
  }
}

void SliceWatcher::on_done(const HttpResult& result) {
  auto kind = kind_;
  bool ignore = std::exchange(aborting_, false);
  auto now = Clock::now();
  if (!ignore && sync_ && kind == SliceSync::Request::Kind::watch) {
    read_events(std::nullopt);  // whatever came before the end, bounded by the backlog
  }
  request_.reset();  // HttpRequest::finish copied this callback: safe
  kind_.reset();
  backlog_.clear();
  scanned_ = 0;
  if (ignore || !sync_) return;
  const char* what = kind == SliceSync::Request::Kind::watch ? "watching EndpointSlices"
                                                             : "listing EndpointSlices";
  auto outcome = classify(result, what, params_.config, params_.identity.pod.namespace_name);
  if (kind == SliceSync::Request::Kind::watch) {
    sync_->on_watch_end(outcome, now);
  } else {
    sync_->on_list(outcome, now);
  }
}

void SliceWatcher::add_fds(std::vector<pollfd>& fds) {
  if (http_) http_->add_fds(fds);
}

std::optional<TimePoint> SliceWatcher::next_timeout() const {
  if (!sync_) return std::nullopt;
  // Events left over from a busy round: the next round comes at once.
  if (!backlog_.empty() && backlog_has_line()) return TimePoint{};
  std::optional<TimePoint> t = http_ ? http_->next_timeout() : std::nullopt;
  auto own = sync_->next_timeout();
  if (own && (!t || *own < *t)) t = own;
  return t;
}

std::optional<WaitOutcome> SliceWatcher::on_ready(std::span<const pollfd> fds, TimePoint now) {
  if (!sync_) return std::nullopt;
  // The drivers run this once the app runs: nothing may end them. Whatever throws here
  // (allocation, curl set-up) is an API failure, and the drain falls back to --delay.
  try {
    step(fds, now);
  } catch (const std::exception& e) {
    sync_->on_failure(std::string("internal error: ") + e.what());
    act();
  }
  return outcome();
}

void SliceWatcher::step(std::span<const pollfd> fds, TimePoint now) {
  round_until_ = Clock::now() + kRoundBudget;
  if (sync_->state() == SliceSync::State::running && kind_ == SliceSync::Request::Kind::watch &&
      backlog_has_line()) {
    read_events(round_until_);  // last round's leftovers first: they are older
  }
  if (http_) http_->on_ready(fds, now);
  if (request_ && kind_ == SliceSync::Request::Kind::watch && request_->got_headers()) {
    sync_->on_watch_answered();
  }
  auto later = Clock::now();
  sync_->end_batch();  // once per round, however many events came
  if (auto due = sync_->next_timeout(); due && *due <= later) sync_->on_tick(later);
  act();
}

std::optional<WaitOutcome> SliceWatcher::outcome() {
  if (!sync_ || reported_) return std::nullopt;
  switch (sync_->state()) {
    case SliceSync::State::running: return std::nullopt;
    case SliceSync::State::gone:
      reported_ = true;
      drop_request();
      return WaitOutcome{WaitOutcome::Kind::done, "Pod left every EndpointSlice"};
    case SliceSync::State::failed:
      reported_ = true;
      drop_request();
      return WaitOutcome{WaitOutcome::Kind::failed, sync_->failure()};
  }
  return std::nullopt;
}

}  // namespace lameduck
