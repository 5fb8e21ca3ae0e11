// The EndpointSlice wait: list (following pagination), then watch from the list's
// resourceVersion until the Pod is routable in no Service. 410 Gone relists; a broken
// stream re-watches with backoff; anything unrecoverable is one clear line and `failed`,
// and the drain falls back to --delay.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>

#include "endpoints.h"
#include "http.h"
#include "kube_config.h"
#include "wait_source.h"

namespace lameduck {

struct SliceWatchParams {
  KubeConfig config;
  ResolvedIdentity identity;
  std::vector<std::string> services;
  Millis request_timeout{5000};  // a list, or a watch's response headers
  int max_retries = 4;           // consecutive failed watches/5xx before giving up
};

class SliceWatcher final : public WaitSource {
 public:
  explicit SliceWatcher(SliceWatchParams params) : params_(std::move(params)) {}
  ~SliceWatcher() override;

  std::optional<WaitOutcome> start(TimePoint now) override;
  void stop() override;
  void add_fds(std::vector<pollfd>& fds) override;
  std::optional<TimePoint> next_timeout() const override;
  std::optional<WaitOutcome> on_ready(std::span<const pollfd> fds, TimePoint now) override;

  // For `lameduck endpoints`: list once, then stop (state idle = routable, gone, failed).
  enum class State { idle, watching, gone, failed };
  State state() const { return state_; }
  void set_list_only(bool list_only) { list_only_ = list_only; }
  const std::vector<Route>& routes() const { return routes_; }
  const std::string& failure() const { return failure_; }

 private:
  void step(std::span<const pollfd> fds, TimePoint now);
  void list(const std::string& continue_token);
  void watch();
  void send(const std::string& url, bool streaming, long total_timeout_ms);
  void on_list_done(const HttpResult& result);
  bool on_watch_chunk(std::string_view data);
  void read_lines(std::string_view data);
  void drop_request();
  void on_watch_done(const HttpResult& result);
  void relist_after_expiry();
  void on_event(const nlohmann::json& event);
  void evaluate(const char* after);
  void retry(const std::string& why, long retry_after_ms = 0);
  void fail(const std::string& why);
  std::string http_failure(const char* what, const HttpResult& result) const;
  std::string slices_url() const;
  long long elapsed() const;

  SliceWatchParams params_;
  State state_ = State::idle;
  std::optional<WaitOutcome> outcome_;  // found, not yet returned by start() or on_ready()
  bool list_only_ = false;
  std::shared_ptr<const std::string> ca_pem_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<HttpRequest> request_;
  bool request_is_watch_ = false;
  bool in_write_ = false;     // inside curl's write callback: requests must not be touched
  bool abort_write_ = false;  // end the current transfer when the callback returns
  bool relist_next_ = false;  // then list again (410 Gone in the stream)
  TimePoint request_started_{};
  TimePoint started_{};
  std::optional<TimePoint> retry_at_;
  int retries_ = 0;
  int relists_ = 0;              // consecutive 410s with no watch event in between
  bool watch_progress_ = false;  // the current watch delivered an event
  int requests_ = 0;
  std::map<std::string, EndpointSlice> slices_;
  std::map<std::string, EndpointSlice> listing_;  // pages of a list in progress
  std::string resource_version_;
  std::string line_buffer_;
  std::vector<Route> routes_;
  std::string failure_;
};

}  // namespace lameduck
