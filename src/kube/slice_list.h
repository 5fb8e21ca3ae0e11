// SPDX-License-Identifier: Apache-2.0
// Listing EndpointSlices as pure steps, for the drain (slice_sync.h) and for `lameduck
// endpoints` alike, so both page, cap, retry and word their errors the same way:
// * SliceList: the pages of one consistent list (continue tokens; at most max_pages pages
//   and max_slices slices naming the Pod), merged by name.
// * Backoff: when to try a failed request again (jittered, with the server's Retry-After,
//   inside a budget), and when to give up.
// No I/O: the callers make the requests.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "base/duration.h"
#include "kube/endpoint_slice.h"
#include "kube/kube_api.h"

namespace lameduck {

struct SliceListLimits {
  int max_pages = 8;
  std::size_t max_slices = 1000;  // slices naming the Pod
};

class SliceList {
 public:
  SliceList(PodIdentity pod, SliceListLimits limits) : pod_(std::move(pod)), limits_(limits) {}

  // Starts a list (again): the first page's URL. Pages read before are forgotten.
  std::string begin(const SliceSelector& selector);

  // What one page (a 200's body) leads to: the next page's URL, a failure, or neither
  // (the list is complete).
  struct Page {
    std::optional<std::string> next_url;
    std::string error;
  };
  Page on_page(std::string_view body);

  // The slices naming the Pod, by name, once the list is complete; and its version.
  std::map<std::string, EndpointSlice> take_slices() { return std::move(slices_); }
  const std::string& resource_version() const { return resource_version_; }
  // Slices in the list, all pages, naming the Pod or not (for the log).
  std::size_t listed() const { return listed_; }

 private:
  PodIdentity pod_;
  SliceListLimits limits_;
  SliceSelector selector_;
  int pages_ = 0;
  std::size_t listed_ = 0;
  std::map<std::string, EndpointSlice> slices_;
  std::string resource_version_;
};

// "more than 1000 EndpointSlices name the Pod; ...": a list's or a watch's.
std::string too_many_slices(std::size_t max_slices);

// The deadline that retries must start before, and its name for the error ("--delay 15s").
struct RetryBudget {
  TimePoint until;
  std::string name;
};

inline constexpr Millis kBackoffBase{100};
inline constexpr Millis kMaxRetryAfter{10000};  // the drain's --max-delay bounds it anyway

class Backoff {
 public:
  // `seed`: of the jitter, so that drains that start together do not retry together.
  Backoff(int max_retries, unsigned seed) : max_retries_(max_retries) {
    std::seed_seq seq{seed};
    rng_.seed(seq);
  }

  // The wait before trying again after the failure `why`, or the error to give up with.
  // The wait: 200, 400, 800, then 1600 ms, each plus a jitter of up to as much again; or
  // the server's Retry-After when longer (at most kMaxRetryAfter). With a budget, a retry
  // that would not start before it is not made.
  struct Decision {
    Millis wait{0};
    std::string error;  // non-empty: give up
  };
  Decision next(const std::string& why, Millis retry_after, TimePoint now,
                const std::optional<RetryBudget>& budget);
  // A request succeeded: the next failure is a first one again.
  void reset() { retries_ = 0; }
  int retries() const { return retries_; }

 private:
  int max_retries_;
  int retries_ = 0;
  std::mt19937 rng_;
};

}  // namespace lameduck
