// SPDX-License-Identifier: Apache-2.0
#include "kube/slice_list.h"

#include <algorithm>

namespace lameduck {

std::string SliceList::begin(const SliceSelector& selector) {
  selector_ = selector;
  pages_ = 1;
  listed_ = 0;
  slices_.clear();
  resource_version_.clear();
  return list_url(selector_, "");
}

SliceList::Page SliceList::on_page(std::string_view body) {
  auto page = parse_slice_list(body, pod_);
  if (!page.error.empty())
    return {{}, "malformed EndpointSlice list from the API server: " + page.error};
  for (auto& slice : page.items) {
    ++listed_;
    if (slice.endpoints.empty()) continue;  // does not name the Pod: nothing to keep
    std::string name = slice.name;
    slices_[name] = std::move(slice);
  }
  if (slices_.size() > limits_.max_slices) return {{}, too_many_slices(limits_.max_slices)};
  if (page.continue_token.empty()) {
    resource_version_ = page.resource_version;
    return {};
  }
  if (++pages_ > limits_.max_pages) {
    return {{},
            "the EndpointSlice list has more than " + std::to_string(limits_.max_pages) +
                " pages of " + std::to_string(kListPageSize) + "; narrow it with --service"};
  }
  return {list_url(selector_, page.continue_token), {}};
}

std::string too_many_slices(std::size_t max_slices) {
  return "more than " + std::to_string(max_slices) +
         " EndpointSlices name the Pod; the API is not making sense";
}

Backoff::Decision Backoff::next(const std::string& why, Millis retry_after, TimePoint now,
                                const std::optional<RetryBudget>& budget) {
  if (++retries_ > max_retries_) return {Millis(0), why + " (gave up after retries)"};
  // Jittered: 250 drains that start in the same second must not retry in step.
  Millis base = kBackoffBase * (1 << std::min(retries_, 4));
  Millis backoff = base + Millis(std::uniform_int_distribution<long>(0, base.count() - 1)(rng_));
  Millis wait = std::max(backoff, std::min(retry_after, kMaxRetryAfter));
  if (budget && now + wait >= budget->until) {
    return {Millis(0), why + " (no time left to retry within " + budget->name + ")"};
  }
  return {wait, {}};
}

}  // namespace lameduck
