#include "slice_watch.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "small_file.h"
#include "text.h"

namespace lameduck {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxLine = 8u << 20;  // one watch event; real ones are a few KiB
constexpr int kWatchTimeoutSeconds = 300;
constexpr long kMaxRetryAfterMs = 10000;  // the drain's --max-delay bounds it anyway

// The "message" of a Kubernetes Status body, or the body's start.
std::string status_message(const std::string& body) {
  auto parsed = json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string()) {
    return clean_text(parsed["message"].get<std::string>(), 300);
  }
  return clean_text(body, 120);
}

}  // namespace

SliceWatcher::~SliceWatcher() {
  stop();
}

long long SliceWatcher::elapsed() const {
  return std::chrono::duration_cast<Millis>(Clock::now() - started_).count();
}

std::string SliceWatcher::slices_url() const {
  std::string url = params_.config.api_server + "/apis/discovery.k8s.io/v1/namespaces/" +
                    url_escape(params_.identity.pod.namespace_name) + "/endpointslices";
  const auto& services = params_.services;
  if (services.size() == 1) {
    url += "?labelSelector=" + url_escape("kubernetes.io/service-name=" + services.front());
  } else if (services.size() > 1) {
    std::string set;
    for (const auto& s : services) set += (set.empty() ? "" : ",") + s;
    url += "?labelSelector=" + url_escape("kubernetes.io/service-name in (" + set + ")");
  }
  return url;
}

std::optional<WaitOutcome> SliceWatcher::start(TimePoint now) {
  started_ = now;
  const auto& pod = params_.identity.pod;
  spdlog::info("t=+0ms EndpointSlices of namespace {} at {}: {}", pod.namespace_name,
               params_.config.api_server, describe_identity(params_.identity));
  state_ = State::watching;
  outcome_.reset();
  if (pod.namespace_name.empty()) {
    fail("cannot tell the Pod's namespace: set POD_NAMESPACE or --namespace");
  } else if (pod.ips.empty() && pod.name.empty()) {
    fail("cannot tell the Pod's IP: set POD_IP (downward API) or --pod-ip");
  } else {
    // The CA once per drain; the token for every request (it rotates).
    SmallFile ca = read_small_file("the CA", params_.config.ca_file, kMaxCaBytes);
    if (!ca.ok()) {
      fail(ca.error);
    } else {
      ca_pem_ = std::make_shared<const std::string>(std::move(ca.data));
      try {
        http_ = std::make_unique<HttpClient>();
        list("");  // fails here when the token cannot be read
      } catch (const std::exception& e) {
        fail(std::string("internal error: ") + e.what());
      }
    }
  }
  return std::exchange(outcome_, std::nullopt);
}

void SliceWatcher::stop() {
  if (request_ && http_) http_->cancel(*request_);
  request_.reset();
  http_.reset();
  retry_at_.reset();
  if (state_ == State::watching) state_ = State::idle;
  outcome_.reset();
  if (requests_ > 0) spdlog::debug("EndpointSlice wait made {} API request(s)", requests_);
}

void SliceWatcher::send(const std::string& url, bool streaming, long total_timeout_ms) {
  std::string error;
  HttpOptions options;
  options.ca_pem = ca_pem_;
  // Re-read for every request: bound ServiceAccount tokens rotate.
  options.bearer_token = read_bearer_token(params_.config.token_file, error);
  if (!error.empty()) return fail(error);
  options.connect_timeout_ms = static_cast<long>(params_.request_timeout.count());
  options.total_timeout_ms = total_timeout_ms;
  if (request_) http_->cancel(*request_);
  line_buffer_.clear();
  request_is_watch_ = streaming;
  request_started_ = Clock::now();
  ++requests_;
  spdlog::debug("GET {}", url);
  if (streaming) {
    request_ = std::make_unique<HttpRequest>(
        url, options, [this](std::string_view data) { return on_watch_chunk(data); },
        [this](const HttpResult& r) { on_watch_done(r); });
  } else {
    request_ = std::make_unique<HttpRequest>(url, options, nullptr,
                                             [this](const HttpResult& r) { on_list_done(r); });
  }
  http_->start(*request_);
}

void SliceWatcher::list(const std::string& continue_token) {
  if (continue_token.empty()) listing_.clear();
  std::string url = slices_url();
  url += url.find('?') == std::string::npos ? "?" : "&";
  url += "limit=500";
  if (!continue_token.empty()) url += "&continue=" + url_escape(continue_token);
  send(url, false, static_cast<long>(params_.request_timeout.count()));
}

void SliceWatcher::watch() {
  std::string url = slices_url();
  url += url.find('?') == std::string::npos ? "?" : "&";
  url += "watch=1&allowWatchBookmarks=true&resourceVersion=" + url_escape(resource_version_) +
         "&timeoutSeconds=" + std::to_string(kWatchTimeoutSeconds);
  watch_progress_ = false;
  send(url, true, 0);
}

std::string SliceWatcher::http_failure(const char* what, const HttpResult& result) const {
  if (!result.ok()) {
    return std::string(what) + " failed: " + result.error + " (" + params_.config.api_server + ")";
  }
  std::string message = status_message(result.body);
  switch (result.status) {
    case 401:
      return std::string(what) + ": 401 Unauthorized: the API server rejected the token in " +
             params_.config.token_file + " (" + message + ")";
    case 403:
      return std::string(what) + ": 403 Forbidden: the Pod's ServiceAccount needs RBAC " +
             "get/list/watch endpointslices.discovery.k8s.io in namespace " +
             params_.identity.pod.namespace_name +
             " (see examples/rbac.yaml); API said: " + message;
    default: return std::string(what) + ": HTTP " + std::to_string(result.status) + ": " + message;
  }
}

void SliceWatcher::on_list_done(const HttpResult& result) {
  if (result.ok() && (result.status == 410 || result.status == 429 || result.status >= 500)) {
    resource_version_.clear();  // so the retry lists again
    return retry(http_failure("listing EndpointSlices", result), result.retry_after_ms);
  }
  if (!result.ok() || result.status != 200) {
    return fail(http_failure("listing EndpointSlices", result));
  }
  std::string next;
  try {
    auto list = json::parse(result.body);
    for (const auto& item : list.at("items")) {
      auto slice = parse_slice(item);
      listing_[slice.name] = std::move(slice);
    }
    const auto& metadata = list.at("metadata");
    if (metadata.contains("continue") && metadata["continue"].is_string()) {
      next = metadata["continue"].get<std::string>();
    }
    if (next.empty()) resource_version_ = metadata.at("resourceVersion").get<std::string>();
  } catch (const std::exception& e) {
    return fail(std::string("malformed EndpointSlice list from the API server: ") + e.what());
  }
  request_.reset();
  if (!next.empty()) return list(next);
  slices_ = std::move(listing_);
  listing_.clear();
  retries_ = 0;
  evaluate("list");
  if (state_ == State::watching && !list_only_) watch();
}

void SliceWatcher::drop_request() {
  if (in_write_) {
    abort_write_ = true;
    return;
  }
  if (request_ && http_) http_->cancel(*request_);
  request_.reset();
}

bool SliceWatcher::on_watch_chunk(std::string_view data) {
  if (state_ != State::watching) return false;
  in_write_ = true;
  try {
    read_lines(data);
  } catch (const std::exception& e) {
    fail(std::string("internal error in the EndpointSlice watch stream: ") + e.what());
  }
  in_write_ = false;
  return !abort_write_;
}

void SliceWatcher::read_lines(std::string_view data) {
  line_buffer_.append(data);
  std::size_t start = 0;
  for (;;) {
    auto end = line_buffer_.find('\n', start);
    if (end == std::string::npos) break;
    std::string_view line(line_buffer_.data() + start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
    json event = json::parse(line, nullptr, false);
    if (event.is_discarded() || !event.is_object()) {
      fail("malformed JSON in the EndpointSlice watch stream");
      break;
    }
    on_event(event);
    if (state_ != State::watching || abort_write_) break;
  }
  line_buffer_.erase(0, start);
  if (line_buffer_.size() > kMaxLine) fail("a watch event larger than 8 MiB");
}

void SliceWatcher::on_event(const json& event) {
  // Everything that reads the event stands inside the try: this runs in curl's write
  // callback, and an exception must never cross it (a malformed event is an API failure).
  try {
    auto type_it = event.find("type");
    if (type_it == event.end() || !type_it->is_string()) {
      throw std::runtime_error("event without a string 'type'");
    }
    const std::string type = type_it->get<std::string>();
    auto object_it = event.find("object");
    const json* object = object_it != event.end() && object_it->is_object() ? &*object_it : nullptr;
    if (type == "ERROR") {
      long code = object != nullptr ? object->value("code", 0L) : 0L;
      if (code == 410) {
        relist_next_ = true;
        return drop_request();
      }
      std::string message = object != nullptr ? object->value("message", "") : "";
      return retry("watch error " + std::to_string(code) + ": " + message);
    }
    if (object == nullptr) throw std::runtime_error("event without object");
    const auto& metadata = object->at("metadata");
    if (metadata.contains("resourceVersion")) {
      resource_version_ = metadata["resourceVersion"].get<std::string>();
    }
    retries_ = 0;
    relists_ = 0;
    watch_progress_ = true;
    if (type == "BOOKMARK") return;
    auto slice = parse_slice(*object);
    if (type == "DELETED") {
      slices_.erase(slice.name);
    } else if (type == "ADDED" || type == "MODIFIED") {
      slices_[slice.name] = std::move(slice);
    } else {
      throw std::runtime_error("unknown event type '" + type + "'");
    }
  } catch (const std::exception& e) {
    return fail(std::string("malformed event in the EndpointSlice watch stream: ") + e.what());
  }
  evaluate("watch");
}

void SliceWatcher::on_watch_done(const HttpResult& result) {
  request_.reset();
  if (std::exchange(abort_write_, false)) {
    if (std::exchange(relist_next_, false) && state_ == State::watching) relist_after_expiry();
    return;
  }
  if (state_ != State::watching) return;
  if (result.ok() && result.status == 200) {
    // A watch the server ends after a while is normal; one that ends at once without a
    // single event, again and again, must not turn into a request loop.
    if (!watch_progress_ && Clock::now() - request_started_ < params_.request_timeout) {
      return retry("the EndpointSlice watch ended at once without any event");
    }
    spdlog::debug("t=+{}ms watch stream ended; watching again", elapsed());
    return watch();
  }
  if (result.ok() && result.status == 410) return relist_after_expiry();
  if (result.ok() && (result.status == 401 || result.status == 403)) {
    return fail(http_failure("watching EndpointSlices", result));
  }
  retry(http_failure("watching EndpointSlices", result), result.retry_after_ms);
}

void SliceWatcher::relist_after_expiry() {
  // The first 410 is routine (the history moved past our version): list again at once.
  // Expiring again right after a fresh list, with no event in between, is a broken API
  // (or proxy): back off, and give up like for any other failure.
  resource_version_.clear();
  if (++relists_ == 1) {
    spdlog::info("t=+{}ms watch expired (410 Gone): listing again", elapsed());
    return list("");
  }
  if (relists_ > params_.max_retries + 1) {
    return fail(
        "the EndpointSlice watch expired (410 Gone) right after every list (gave up "
        "after retries)");
  }
  long backoff = 100L << std::min(relists_ - 1, 4);
  spdlog::info("t=+{}ms watch expired (410 Gone) again right after listing; listing again in {}ms",
               elapsed(), backoff);
  retry_at_ = Clock::now() + Millis(backoff);
}

void SliceWatcher::retry(const std::string& text, long retry_after_ms) {
  std::string why = clean_text(text, 1000);  // may quote the API
  drop_request();
  if (++retries_ > params_.max_retries) return fail(why + " (gave up after retries)");
  long backoff =
      std::max(std::min(retry_after_ms, kMaxRetryAfterMs), 100L << std::min(retries_, 4));
  spdlog::info("t=+{}ms {}; retrying in {}ms", elapsed(), why, backoff);
  retry_at_ = Clock::now() + Millis(backoff);
}

void SliceWatcher::fail(const std::string& text) {
  std::string why = clean_text(text, 1000);  // may quote the API
  drop_request();
  retry_at_.reset();
  failure_ = why;
  state_ = State::failed;
  outcome_ = WaitOutcome{WaitOutcome::Kind::failed, why};
  if (list_only_) {  // `lameduck endpoints`: there is no --delay to fall back to
    spdlog::warn("EndpointSlice API unusable: {}", why);
    return;
  }
  spdlog::warn("t=+{}ms EndpointSlice API unusable, falling back to --delay: {}", elapsed(), why);
}

void SliceWatcher::evaluate(const char* after) {
  auto routes = routes_to_pod(slices_, params_.identity.pod, params_.services);
  bool first = std::string_view(after) == "list" && routes_.empty();
  if (routes.empty()) {
    if (!routes_.empty()) {
      spdlog::info("t=+{}ms Pod left every EndpointSlice (was in {})", elapsed(),
                   describe_routes(routes_));
    } else {
      spdlog::info("t=+{}ms Pod is routable in no EndpointSlice ({} slice(s) seen)", elapsed(),
                   slices_.size());
    }
    routes_.clear();
    state_ = State::gone;
    outcome_ = WaitOutcome{WaitOutcome::Kind::done, "Pod left every EndpointSlice"};
    drop_request();
    return;
  }
  if (first || routes.size() != routes_.size()) {
    spdlog::info("t=+{}ms Pod still routable: {}", elapsed(), describe_routes(routes));
  }
  routes_ = std::move(routes);
  if (list_only_) state_ = State::idle;
}

void SliceWatcher::add_fds(std::vector<pollfd>& fds) {
  if (http_) http_->add_fds(fds);
}

std::optional<TimePoint> SliceWatcher::next_timeout() const {
  std::optional<TimePoint> t = http_ ? http_->next_timeout() : std::nullopt;
  auto earlier = [&t](TimePoint other) { t = t ? std::min(*t, other) : other; };
  if (retry_at_) earlier(*retry_at_);
  if (request_ && request_is_watch_ && !request_->got_headers()) {
    earlier(request_started_ + params_.request_timeout);
  }
  return t;
}

std::optional<WaitOutcome> SliceWatcher::on_ready(std::span<const pollfd> fds, TimePoint now) {
  // The drivers run this once the app runs: nothing may end them. Whatever throws here
  // (allocation, curl set-up) is an API failure, and the drain falls back to --delay.
  try {
    step(fds, now);
  } catch (const std::exception& e) {
    fail(std::string("internal error: ") + e.what());
  }
  return std::exchange(outcome_, std::nullopt);
}

void SliceWatcher::step(std::span<const pollfd> fds, TimePoint now) {
  if (!http_) return;
  http_->on_ready(fds, now);
  if (state_ != State::watching) return;
  if (request_ && request_is_watch_ && !request_->got_headers() &&
      now >= request_started_ + params_.request_timeout) {
    return retry("watching EndpointSlices: no answer within " +
                 format_duration(params_.request_timeout));
  }
  if (retry_at_ && now >= *retry_at_) {
    retry_at_.reset();
    if (resource_version_.empty()) {
      list("");
    } else {
      watch();
    }
  }
}

}  // namespace lameduck
