// SPDX-License-Identifier: Apache-2.0
// The EndpointSlice wait as the event loop drives it: the I/O around SliceSync (the
// protocol, slice_sync.h). It makes the requests SliceSync asks for over HttpClient (with an
// ApiSession's options, api_session.h), cuts the watch stream into lines, parses them
// (endpoint_slice.h) and hands over the outcomes
// (kube_api.h). Per round of the loop it parses for at most kRoundBudget and evaluates the
// slices once, so a flood of events cannot starve the loop: the rest waits in a bounded
// backlog for the next round.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/log.h"
#include "drain/wait_source.h"
#include "kube/api_session.h"
#include "kube/http.h"
#include "kube/kube_config.h"
#include "kube/slice_sync.h"

namespace lameduck {

struct SliceWatchParams {
  KubeConfig config;
  ResolvedIdentity identity;
  // The protocol's settings: selector (api_server, namespace, --service), pod, timeouts,
  // narrow. Each drain gets its own backoff seed.
  SliceSyncConfig sync;
};

// Parsing watch events in one round of the loop stops after this long.
inline constexpr Millis kRoundBudget{20};
// Watch bytes received but not parsed yet; more is a stream lameduck cannot keep up with.
inline constexpr std::size_t kMaxBacklog = 16u << 20;
// One watch event (a line); real ones are a few KiB, a slice of 1,000 endpoints ~400 KiB.
inline constexpr std::size_t kMaxEventLine = 4u << 20;

class SliceWatcher final : public WaitSource {
 public:
  // Writes on the drain's timeline, which must outlive it.
  SliceWatcher(SliceWatchParams params, const Timeline& timeline)
      : params_(std::move(params)), timeline_(timeline) {}
  ~SliceWatcher() override;

  std::optional<WaitOutcome> start(TimePoint now) override;
  void stop() override;
  void add_fds(std::vector<pollfd>& fds) override;
  std::optional<TimePoint> next_timeout() const override;
  std::optional<WaitOutcome> on_ready(std::span<const pollfd> fds, TimePoint now) override;

 private:
  void step(std::span<const pollfd> fds, TimePoint now);
  void act();
  void send(const SliceSync::Request& request);
  void drop_request();
  bool on_chunk(std::string_view data);
  void on_done(const HttpResult& result);
  // Parses whole lines from the backlog until `until` (nullopt: all of them).
  void read_events(std::optional<TimePoint> until);
  bool backlog_has_line() const;
  std::optional<WaitOutcome> outcome();

  SliceWatchParams params_;
  const Timeline& timeline_;
  std::optional<SliceSync> sync_;
  std::optional<ApiSession> session_;  // from start() until stop()
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<HttpRequest> request_;
  std::optional<SliceSync::Request::Kind> kind_;  // of request_
  bool aborting_ = false;    // our write callback ended the transfer: ignore its result
  std::string backlog_;      // watch bytes not parsed yet
  std::size_t scanned_ = 0;  // backlog_ bytes known to hold no newline
  TimePoint round_until_{};
  bool reported_ = false;
};

}  // namespace lameduck
