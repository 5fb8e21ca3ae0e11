// SPDX-License-Identifier: Apache-2.0
// The pure paging and retry that the drain and `lameduck endpoints` share (slice_list.h).
#include "kube/slice_list.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <vector>

using namespace lameduck;
using nlohmann::json;

namespace {

const PodIdentity kPod{{"10.244.1.17"}, "web-abc", "shop"};
const SliceSelector kAll{"https://api:6443", "shop", {}};
const TimePoint t0{};

json slice(const std::string& name, const std::string& ip) {
  return {{"metadata", {{"name", name}, {"labels", {{"kubernetes.io/service-name", "web"}}}}},
          {"addressType", "IPv4"},
          {"endpoints", {{{"addresses", {ip}}, {"conditions", {{"ready", true}}}}}}};
}

std::string page(std::vector<json> items, const std::string& next = "",
                 const std::string& rv = "100") {
  json metadata = {{"resourceVersion", rv}};
  if (!next.empty()) metadata["continue"] = next;
  return json{{"kind", "EndpointSliceList"}, {"metadata", metadata}, {"items", items}}.dump();
}

}  // namespace

TEST_CASE("a list follows its continue tokens and merges the pages") {
  SliceList list(kPod, {});
  CHECK(list.begin(kAll) == list_url(kAll, ""));
  auto first =
      list.on_page(page({slice("web-1", "10.244.1.17"), slice("other", "10.9.9.9")}, "k1"));
  CHECK(first.error.empty());
  REQUIRE(first.next_url);
  CHECK(*first.next_url == list_url(kAll, "k1"));
  auto last = list.on_page(page({slice("web-2", "10.244.1.17")}, "", "200"));
  CHECK(last.error.empty());
  CHECK_FALSE(last.next_url);
  CHECK(list.resource_version() == "200");
  CHECK(list.listed() == 3);
  auto slices = list.take_slices();
  std::set<std::string> names;
  for (const auto& [name, s] : slices) names.insert(name);
  CHECK(names == std::set<std::string>{"web-1", "web-2"});  // only those naming the Pod
}

TEST_CASE("begin() starts over: the pages of a failed list are forgotten") {
  SliceList list(kPod, {});
  list.begin(kAll);
  REQUIRE(list.on_page(page({slice("web-1", "10.244.1.17")}, "k1")).next_url);
  SliceSelector web{"https://api:6443", "shop", {"web"}};
  CHECK(list.begin(web) == list_url(web, ""));
  auto next = list.on_page(page({slice("web-2", "10.244.1.17")}, "k2"));
  REQUIRE(next.next_url);
  CHECK(*next.next_url == list_url(web, "k2"));
  CHECK_FALSE(list.on_page(page({})).next_url);
  CHECK(list.listed() == 1);
  CHECK(list.take_slices().count("web-1") == 0);
}

TEST_CASE("a list of too many pages fails, with one text for every caller") {
  SliceList list(kPod, {.max_pages = 2});
  list.begin(kAll);
  CHECK(list.on_page(page({}, "k1")).next_url);
  auto third = list.on_page(page({}, "k2"));
  CHECK_FALSE(third.next_url);
  CHECK(third.error ==
        "the EndpointSlice list has more than 2 pages of 250; narrow it with --service");
}

TEST_CASE("more slices naming the Pod than the cap fail the list") {
  SliceList list(kPod, {.max_pages = 8, .max_slices = 2});
  list.begin(kAll);
  auto p = list.on_page(
      page({slice("a", "10.244.1.17"), slice("b", "10.244.1.17"), slice("c", "10.244.1.17")}));
  CHECK_FALSE(p.next_url);
  CHECK(p.error == too_many_slices(2));
  CHECK(p.error == "more than 2 EndpointSlices name the Pod; the API is not making sense");
}

TEST_CASE("a malformed page fails the list") {
  SliceList list(kPod, {});
  list.begin(kAll);
  auto p = list.on_page("{\"items\": 3");
  CHECK_FALSE(p.next_url);
  CHECK(p.error.rfind("malformed EndpointSlice list from the API server: ", 0) == 0);
}

TEST_CASE("backoff: doubling from 200 ms with jitter, then it gives up") {
  Backoff backoff(4, 1);
  long base = 200;
  for (int i = 0; i < 4; ++i) {
    auto d = backoff.next("HTTP 500", Millis(0), t0, std::nullopt);
    CAPTURE(i);
    CHECK(d.error.empty());
    CHECK(d.wait >= Millis(base));
    CHECK(d.wait < Millis(2 * base));
    base *= 2;
  }
  auto d = backoff.next("HTTP 500", Millis(0), t0, std::nullopt);
  CHECK(d.error == "HTTP 500 (gave up after retries)");
}

TEST_CASE("backoff: a success makes the next failure a first one") {
  Backoff backoff(1, 1);
  CHECK(backoff.next("x", Millis(0), t0, std::nullopt).error.empty());
  backoff.reset();
  auto d = backoff.next("x", Millis(0), t0, std::nullopt);
  CHECK(d.error.empty());
  CHECK(d.wait < Millis(400));
}

TEST_CASE("backoff: the server's Retry-After when longer, capped") {
  Backoff backoff(4, 1);
  CHECK(backoff.next("429", Millis(3000), t0, std::nullopt).wait == Millis(3000));
  CHECK(backoff.next("429", Millis(60000), t0, std::nullopt).wait == kMaxRetryAfter);
}

TEST_CASE("backoff: no retry that would not start within the budget") {
  Backoff backoff(4, 1);
  RetryBudget budget{t0 + Millis(1000), "--delay 1s"};
  CHECK(backoff.next("HTTP 503", Millis(0), t0, budget).error.empty());
  auto d = backoff.next("HTTP 503", Millis(0), t0 + Millis(700), budget);
  CHECK(d.error == "HTTP 503 (no time left to retry within --delay 1s)");
  Backoff patient(4, 1);
  CHECK(patient.next("429", Millis(5000), t0, budget).error ==
        "429 (no time left to retry within --delay 1s)");
}

TEST_CASE("backoff: drains with other seeds spread their retries") {
  std::set<long> waits;
  for (unsigned seed = 0; seed < 20; ++seed) {
    Backoff backoff(4, seed);
    waits.insert(backoff.next("x", Millis(0), t0, std::nullopt).wait.count());
  }
  CHECK(waits.size() > 5);
  Backoff a(4, 7);
  Backoff b(4, 7);
  CHECK(a.next("x", Millis(0), t0, std::nullopt).wait ==
        b.next("x", Millis(0), t0, std::nullopt).wait);
}
