// SPDX-License-Identifier: Apache-2.0
// The wire format of lists and watch events, parsed with bounds (endpoint_slice.h, bounded_json.h).
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "kube/bounded_json.h"
#include "kube/endpoint_slice.h"
#include "support.h"

using namespace lameduck;

namespace {

using test::fixture_text;

std::vector<std::string> fixture_lines(const char* name) {
  std::istringstream in(fixture_text(name));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

const PodIdentity kPod{{"10.244.1.17"}, "web-6d4cf56db6-abcde", "default"};

std::string repeat(std::string_view part, std::size_t n) {
  std::string out;
  out.reserve(part.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += part;
  return out;
}

}  // namespace

TEST_CASE("a list page keeps only the Pod's endpoints, and the continue token") {
  auto page = parse_slice_list(fixture_text("endpointslicelist-page1.json"), kPod);
  REQUIRE(page.error.empty());
  CHECK(page.resource_version == "48300");
  CHECK(page.continue_token.starts_with("eyJ2Ijoi"));
  REQUIRE(page.items.size() == 2);
  CHECK(page.items[0].name == "api-7fq2x");
  CHECK(page.items[0].service == "api");
  CHECK(page.items[0].namespace_name == "default");
  CHECK(page.items[0].address_type == "IPv4");
  REQUIRE(page.items[0].endpoints.size() == 1);  // api-1's endpoint is not kept
  CHECK(page.items[0].endpoints[0].addresses == std::vector<std::string>{"10.244.1.17"});
  CHECK(page.items[0].endpoints[0].ready == true);
  CHECK(page.items[0].endpoints[0].target_name == "web-6d4cf56db6-abcde");
  CHECK(page.items[1].endpoints.size() == 1);

  auto last = parse_slice_list(fixture_text("endpointslicelist-page2.json"), kPod);
  REQUIRE(last.error.empty());
  CHECK(last.continue_token.empty());
  REQUIRE(last.items.size() == 1);
  CHECK(last.items[0].endpoints.empty());  // a slice without the Pod is still listed
}

TEST_CASE("the Pod is matched by targetRef alone, like routes_to_pod does") {
  PodIdentity by_name{{}, "web-6d4cf56db6-abcde", "default"};
  auto page = parse_slice_list(fixture_text("endpointslicelist-page1.json"), by_name);
  REQUIRE(page.error.empty());
  CHECK(page.items[1].endpoints.size() == 1);
}

TEST_CASE("watch events from the wire") {
  auto lines = fixture_lines("watch-events.jsonl");
  REQUIRE(lines.size() == 3);
  auto modified = parse_watch_event(lines[0], kPod);
  REQUIRE(modified.malformed.empty());
  CHECK(modified.type == WatchEvent::Type::modified);
  CHECK(modified.resource_version == "48310");
  CHECK(modified.slice.name == "web-x7k2p");
  REQUIRE(modified.slice.endpoints.size() == 1);
  CHECK(modified.slice.endpoints[0].terminating == true);

  auto bookmark = parse_watch_event(lines[1], kPod);
  REQUIRE(bookmark.malformed.empty());
  CHECK(bookmark.type == WatchEvent::Type::bookmark);
  CHECK(bookmark.resource_version == "48320");

  auto expired = parse_watch_event(lines[2], kPod);
  REQUIRE(expired.malformed.empty());
  CHECK(expired.type == WatchEvent::Type::error);
  CHECK(expired.code == 410);
  CHECK(expired.message == "too old resource version: 48000 (48250)");
}

TEST_CASE("malformed watch events are reported, never thrown (issue 14, item 1)") {
  for (const char* line : {
           R"({"type":1,"object":{}})",
           R"({"type":null})",
           R"({"type":[1,2]})",
           R"({"type":"ADDED"})",
           R"({"type":"ADDED","object":7})",
           R"({"type":"ADDED","object":{"metadata":{"resourceVersion":"5"}}})",
           R"({"type":"ADDED","object":{"metadata":{"name":"x"}}})",
           R"({"type":"ADDED","object":{"metadata":{"name":"x","resourceVersion":5}}})",
           R"({"type":"EXPLODED","object":{"metadata":{"name":"x","resourceVersion":"5"}}})",
           R"({"type":"ERROR","object":{"code":"410"}})",
           R"({"type":"MODIFIED","object":{"metadata":{"name":"x","resourceVersion":"5"},)"
           R"("endpoints":[{"addresses":"10.244.1.17"}]}})",
           R"({"type":"MODIFIED","object":{"metadata":{"name":"x","resourceVersion":"5"},)"
           R"("endpoints":[{"addresses":["10.244.1.17"],"conditions":{"ready":"yes"}}]}})",
           "[]",
           "7",
           "",
           "{",
           "{\"type\":\"ADDED\"\xff}",
       }) {
    CAPTURE(line);
    auto event = parse_watch_event(line, kPod);
    CHECK_FALSE(event.malformed.empty());
  }
}

TEST_CASE("other Pods' malformed endpoints are checked too: the slice is broken") {
  // A condition of the wrong type is the API's bug whichever endpoint has it.
  auto event = parse_watch_event(
      R"({"type":"MODIFIED","object":{"metadata":{"name":"x","resourceVersion":"5"},)"
      R"("endpoints":[{"addresses":["10.9.9.9"],"conditions":{"ready":"yes"}}]}})",
      kPod);
  CHECK_FALSE(event.malformed.empty());
}

TEST_CASE("nesting is bounded before anything is built (issue 14, item 4)") {
  std::string deep = repeat("[", 1 << 20) + repeat("]", 1 << 20);
  auto page = parse_slice_list(deep, kPod);
  CHECK(page.error.find("nested deeper than") != std::string::npos);
  auto event = parse_watch_event(R"({"type":"ADDED","object":)" + repeat("[", 100000), kPod);
  CHECK(event.malformed.find("nested deeper than") != std::string::npos);
  // Skipped parts count too: a deep value under a key nobody reads.
  std::string hidden = R"({"metadata":{"resourceVersion":"1"},"items":[],"junk":)" +
                       repeat("[", 1000) + repeat("]", 1000) + "}";
  CHECK(parse_slice_list(hidden, kPod).error.find("nested deeper than") != std::string::npos);
}

TEST_CASE("a big list: other Pods' endpoints and unread fields are not kept") {
  // 500 slices of 100 endpoints, as in the issue's legitimate 15.7 MB list.
  std::string items;
  for (int s = 0; s < 500; ++s) {
    std::string endpoints;
    for (int e = 0; e < 100; ++e) {
      if (!endpoints.empty()) endpoints += ",";
      endpoints += R"({"addresses":["10.)" + std::to_string(s % 250) + "." + std::to_string(e) +
                   R"(.1"],"conditions":{"ready":true},"targetRef":)"
                   R"({"kind":"Pod","name":"p)" +
                   std::to_string(s * 100 + e) + R"("},"nodeName":"n","zone":"z"})";
    }
    if (!items.empty()) items += ",";
    items += R"({"metadata":{"name":"s)" + std::to_string(s) +
             R"(","resourceVersion":"1","labels":{"kubernetes.io/service-name":"svc)" +
             std::to_string(s) + R"("}},"addressType":"IPv4","endpoints":[)" + endpoints +
             R"(],"ports":[{"port":80}]})";
  }
  std::string body = R"({"metadata":{"resourceVersion":"9"},"items":[)" + items + "]}";
  CHECK(body.size() > 5'000'000);
  PodIdentity pod{{"10.7.42.1"}, "", "default"};
  auto page = parse_slice_list(body, pod);
  REQUIRE(page.error.empty());
  REQUIRE(page.items.size() == 500);
  std::size_t endpoints = 0;
  for (const auto& slice : page.items) endpoints += slice.endpoints.size();
  CHECK(endpoints == 2);  // slices 7 and 257
  CHECK(page.items[7].endpoints.size() == 1);
}

TEST_CASE("an endpoint list naming the Pod again and again is refused") {
  std::string endpoints;
  for (std::size_t i = 0; i <= kMaxPodEndpointsPerSlice; ++i) {
    endpoints += std::string(i ? "," : "") + R"({"addresses":["10.244.1.17"]})";
  }
  auto event = parse_watch_event(
      R"({"type":"ADDED","object":{"metadata":{"name":"x","resourceVersion":"5"},"endpoints":[)" +
          endpoints + "]}}",
      kPod);
  CHECK(event.malformed.find("endpoints of this Pod") != std::string::npos);
}

TEST_CASE("parse_bounded keeps what it is asked to keep") {
  auto keep = [](JsonPath p) { return p.size() <= 1 || path_is(p, {"a", "[]"}); };
  auto drop_odd = [](JsonPath, nlohmann::json& v) {
    return v.is_number() && v.get<int>() % 2 != 0 ? JsonElement::drop : JsonElement::keep;
  };
  auto parsed =
      parse_bounded(R"({"a":[1,2,3,4],"b":{"c":[[[1]]]},"d":"x"})", JsonBounds{}, keep, drop_odd);
  REQUIRE(parsed.ok());
  CHECK(parsed.value.dump() == R"({"a":[2,4],"b":{},"d":"x"})");
  auto stopped = parse_bounded("[1,2]", JsonBounds{}, keep,
                               [](JsonPath, nlohmann::json&) { return JsonElement::stop; });
  CHECK(stopped.error == "stopped");
  CHECK_FALSE(parse_bounded("[1,", JsonBounds{}, keep, nullptr).ok());
  CHECK(parse_bounded("[[1]]", JsonBounds{1}, keep, nullptr).error ==
        "JSON nested deeper than 1 levels");
}
