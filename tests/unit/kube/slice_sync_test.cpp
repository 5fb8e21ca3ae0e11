// SPDX-License-Identifier: Apache-2.0
// The list/watch/relist state machine (slice_sync.h), fed canned API answers.
#include "kube/slice_sync.h"

#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

#include "support.h"

using namespace lameduck;
using nlohmann::json;
using Kind = SliceSync::Request::Kind;
using State = SliceSync::State;

namespace {

// What the machine wrote on its timeline (never started here: no stamps).
struct Lines {
  Lines() = default;
  Lines(const Lines&) = delete;
  Lines& operator=(const Lines&) = delete;
  bool has(std::string_view text) const {
    return std::any_of(lines.begin(), lines.end(),
                       [text](const std::string& line) { return line.find(text) != line.npos; });
  }
  std::vector<std::string> lines;
  Timeline timeline{
      [this](spdlog::level::level_enum, std::string_view line) { lines.emplace_back(line); }};
};

const std::string kPodIp = "10.244.1.17";
const std::string kPodName = "web-6d4cf56db6-abcde";
const TimePoint t0{};

TimePoint at(long ms) {
  return t0 + Millis(ms);
}

using test::fixture_text;

SliceSyncConfig config(std::vector<std::string> services = {}) {
  SliceSyncConfig c;
  c.selector = {"https://api:6443", "default", std::move(services)};
  c.pod = {{kPodIp}, kPodName, "default"};
  c.answer_within = Millis(15000);
  return c;
}

json endpoint(const std::string& ip, bool ready = true, bool terminating = false) {
  return {{"addresses", {ip}},
          {"conditions", {{"ready", ready}, {"serving", true}, {"terminating", terminating}}}};
}

json slice(const std::string& name, const std::string& service, json endpoints,
           const std::string& rv = "1") {
  json labels = json::object();
  if (!service.empty()) labels["kubernetes.io/service-name"] = service;
  return {{"metadata", {{"name", name}, {"resourceVersion", rv}, {"labels", labels}}},
          {"addressType", "IPv4"},
          {"endpoints", std::move(endpoints)}};
}

std::string list_body(std::vector<json> items, const std::string& rv = "100",
                      const std::string& next = "") {
  json metadata = {{"resourceVersion", rv}};
  if (!next.empty()) metadata["continue"] = next;
  return json{{"kind", "EndpointSliceList"}, {"metadata", metadata}, {"items", items}}.dump();
}

WatchEvent event(const char* type, json object) {
  auto e = parse_watch_event(json{{"type", type}, {"object", std::move(object)}}.dump(),
                             PodIdentity{{kPodIp}, kPodName, "default"});
  REQUIRE(e.malformed.empty());
  return e;
}

ApiOutcome ok(std::string body) {
  return {ApiOutcome::Kind::ok, std::move(body), Millis(0), ""};
}

ApiOutcome retry(Millis after = Millis(0)) {
  return {ApiOutcome::Kind::retry, "", after, "listing EndpointSlices: HTTP 500: boom"};
}

ApiOutcome expired() {
  return {ApiOutcome::Kind::expired, "", Millis(0), "410"};
}

// The request the machine wants started now (it must want one).
SliceSync::Request started(SliceSync& sync) {
  auto next = sync.take_next();
  REQUIRE(next.start.has_value());
  return *next.start;
}

json ready_web() {
  return slice("web-abc12", "web", {endpoint(kPodIp), endpoint("10.244.2.9")});
}

json terminating_web() {
  return slice("web-abc12", "web", {endpoint(kPodIp, false, true), endpoint("10.244.2.9")}, "101");
}

// A machine that listed ready_web() and now watches.
SliceSync watching(const Timeline& timeline, SliceSyncConfig c = config()) {
  SliceSync sync(std::move(c), timeline);
  sync.start(t0);
  REQUIRE(started(sync).kind == Kind::list);
  sync.on_list(ok(list_body({ready_web(), slice("api-1", "api", {endpoint("10.9.9.9")})})), at(10));
  REQUIRE(sync.state() == State::running);
  REQUIRE(started(sync).kind == Kind::watch);
  sync.on_watch_answered();
  return sync;
}

}  // namespace

TEST_CASE("list pages, then a watch of only the Services that hold the Pod") {
  Lines log;
  SliceSync sync(config(), log.timeline);
  sync.start(t0);
  auto first = started(sync);
  CHECK(first.kind == Kind::list);
  CHECK(first.url ==
        "https://api:6443/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?limit=250");
  sync.on_list(ok(fixture_text("endpointslicelist-page1.json")), at(5));
  auto second = started(sync);
  CHECK(second.kind == Kind::list);
  CHECK(second.url.find("&continue=eyJ2Ijoi") != std::string::npos);
  sync.on_list(ok(fixture_text("endpointslicelist-page2.json")), at(9));
  auto watch = started(sync);
  CHECK(watch.kind == Kind::watch);
  // api and web hold the Pod; worker does not, and neither do other Services.
  CHECK(watch.url ==
        "https://api:6443/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?"
        "labelSelector=kubernetes.io%2Fservice-name%20in%20%28api%2Cweb%29&watch=1&"
        "allowWatchBookmarks=true&resourceVersion=48300&timeoutSeconds=300");
  CHECK(sync.watched_services() == std::vector<std::string>{"api", "web"});
  CHECK(sync.routes().size() == 2);
  CHECK(sync.requests() == 3);
}

TEST_CASE("the events of a drain: gone when the last Service lets go") {
  Lines log;
  auto lines = fixture_text("watch-events.jsonl");
  SliceSync sync(config(), log.timeline);
  sync.start(t0);
  started(sync);
  sync.on_list(ok(fixture_text("endpointslicelist-page1.json")), at(5));
  started(sync);
  sync.on_list(ok(fixture_text("endpointslicelist-page2.json")), at(9));
  started(sync);
  // web: terminating (the fixture's first event); api still routes.
  PodIdentity pod{{kPodIp}, kPodName, "default"};
  sync.on_event(parse_watch_event(lines.substr(0, lines.find('\n')), pod), at(100));
  sync.end_batch();
  CHECK(sync.state() == State::running);
  REQUIRE(sync.routes().size() == 1);
  CHECK(sync.routes()[0].service == "api");
  sync.on_event(
      event("MODIFIED", slice("api-7fq2x", "api", {endpoint(kPodIp, false, true)}, "48400")),
      at(200));
  CHECK(sync.state() == State::running);  // evaluated once per batch
  sync.end_batch();
  CHECK(sync.state() == State::gone);
  CHECK(sync.take_next().cancel);  // the watch is dropped
}

TEST_CASE("a Pod in no slice: gone after the list, nothing watched") {
  Lines log;
  SliceSync sync(config(), log.timeline);
  sync.start(t0);
  started(sync);
  sync.on_list(ok(list_body({slice("api-1", "api", {endpoint("10.9.9.9")})})), at(5));
  CHECK(sync.state() == State::gone);
  CHECK_FALSE(sync.take_next().start.has_value());
  CHECK(sync.requests() == 1);
}

TEST_CASE("rebalancing: the Pod moves to a new slice of the Service") {
  Lines log;
  auto sync = watching(log.timeline);
  // The endpoint controller creates the new slice before it deletes the old one.
  sync.on_event(event("ADDED", slice("web-zz9x1", "web", {endpoint(kPodIp)}, "102")), at(50));
  sync.on_event(event("DELETED", slice("web-abc12", "web", {endpoint(kPodIp)}, "103")), at(50));
  sync.end_batch();
  CHECK(sync.state() == State::running);
  REQUIRE(sync.routes().size() == 1);
  CHECK(sync.routes()[0].slice == "web-zz9x1");
  // Even in separate rounds: created first, deleted after.
  sync.on_event(event("ADDED", slice("web-yy8w2", "web", {endpoint(kPodIp)}, "104")), at(60));
  sync.end_batch();
  sync.on_event(event("DELETED", slice("web-zz9x1", "web", json::array(), "105")), at(70));
  sync.end_batch();
  CHECK(sync.state() == State::running);
  sync.on_event(
      event("MODIFIED", slice("web-yy8w2", "web", {endpoint(kPodIp, false, true)}, "106")), at(80));
  sync.end_batch();
  CHECK(sync.state() == State::gone);
}

TEST_CASE("the Pod appears in another slice of a watched Service after the list") {
  Lines log;
  auto sync = watching(log.timeline);
  sync.on_event(event("ADDED", slice("web-v2", "web", {endpoint(kPodIp)}, "102")), at(50));
  sync.on_event(event("MODIFIED", terminating_web()), at(50));
  sync.end_batch();
  CHECK(sync.state() == State::running);  // web-v2 still routes: the wait only lengthens
  sync.on_event(event("MODIFIED", slice("web-v2", "web", {endpoint(kPodIp, false)}, "103")),
                at(60));
  sync.end_batch();
  CHECK(sync.state() == State::gone);
}

TEST_CASE("a deleted slice that held the Pod: gone") {
  Lines log;
  auto sync = watching(log.timeline);
  sync.on_event(event("DELETED", ready_web()), at(50));
  sync.end_batch();
  CHECK(sync.state() == State::gone);
}

TEST_CASE("other slices' events cost nothing and change nothing") {
  Lines log;
  auto sync = watching(log.timeline, config());
  for (int i = 0; i < 5000; ++i) {
    sync.on_event(event("ADDED", slice("other-" + std::to_string(i), "other",
                                       {endpoint("10.9.0.1")}, std::to_string(200 + i))),
                  at(50));
  }
  sync.end_batch();
  CHECK(sync.state() == State::running);
  CHECK(sync.routes().size() == 1);
}

TEST_CASE("slices the watch may add are bounded") {
  Lines log;
  auto c = config();
  c.max_slices = 10;
  auto sync = watching(log.timeline, c);
  for (int i = 0; i < 10; ++i) {
    sync.on_event(event("ADDED", slice("web-" + std::to_string(i), "web", {endpoint(kPodIp)})),
                  at(50));
  }
  CHECK(sync.state() == State::failed);
  CHECK(sync.failure().find("more than 10 EndpointSlices name the Pod") != std::string::npos);
}

TEST_CASE("410 in the stream: relist what the watch selects, then watch again") {
  Lines log;
  auto sync = watching(log.timeline);
  sync.on_event(event("ERROR", {{"code", 410}, {"message", "too old resource version"}}), at(50));
  CHECK_FALSE(sync.wants_stream());
  auto relist = started(sync);
  CHECK(relist.kind == Kind::list);
  CHECK(relist.url.find("labelSelector=kubernetes.io%2Fservice-name%3Dweb&limit=250") !=
        std::string::npos);
  sync.on_list(ok(list_body({ready_web()}, "300")), at(60));
  auto rewatch = started(sync);
  CHECK(rewatch.kind == Kind::watch);
  CHECK(rewatch.url.find("resourceVersion=300") != std::string::npos);
  // The relist may show the Pod already gone: a stale view only ever lengthened the wait.
  sync.on_event(event("BOOKMARK", {{"metadata", {{"resourceVersion", "350"}}}}), at(65));
  sync.on_watch_end(expired(), at(70));
  started(sync);
  sync.on_list(ok(list_body({terminating_web()}, "400")), at(80));
  CHECK(sync.state() == State::gone);
}

TEST_CASE("a watch that always expires right after the list backs off, then gives up") {
  Lines log;
  auto sync = watching(log.timeline);
  TimePoint now = at(10);
  int lists = 0;
  for (int round = 0; round < 20 && sync.state() == State::running; ++round) {
    sync.on_watch_end(expired(), now);
    auto next = sync.take_next();
    if (sync.state() != State::running) break;
    if (!next.start) {
      REQUIRE(sync.next_timeout().has_value());
      now = *sync.next_timeout();
      sync.on_tick(now);
      next = sync.take_next();
    }
    if (sync.state() != State::running) break;
    REQUIRE(next.start);
    CHECK(next.start->kind == Kind::list);
    ++lists;
    sync.on_list(ok(list_body({ready_web()})), now);
    REQUIRE(started(sync).kind == Kind::watch);
  }
  CHECK(sync.state() == State::failed);
  CHECK(lists <= 5);
  CHECK(sync.requests() <= 12);
}

TEST_CASE("5xx forever: retries only inside --delay, and the failure comes before it") {
  Lines log;
  auto c = config();
  c.answer_within = Millis(2000);
  for (unsigned seed = 0; seed < 50; ++seed) {
    c.seed = seed;
    SliceSync sync(c, log.timeline);
    sync.start(t0);
    TimePoint now = t0;
    while (sync.state() == State::running) {
      auto next = sync.take_next();
      if (next.start) {
        CHECK(next.start->kind == Kind::list);
        sync.on_list(retry(), now);
        continue;
      }
      REQUIRE(sync.next_timeout().has_value());
      now = *sync.next_timeout();
      CHECK(now < at(2000));  // no retry is due at or after the fallback
      sync.on_tick(now);
    }
    CHECK(sync.state() == State::failed);
    CHECK(now < at(2000));
    CHECK(sync.failure().find("no time left to retry within --delay 2s") != std::string::npos);
  }
}

TEST_CASE("a list that hangs fails at --delay, not at its own timeout") {
  Lines log;
  auto c = config();
  c.answer_within = Millis(2000);
  SliceSync sync(c, log.timeline);
  sync.start(t0);
  started(sync);
  REQUIRE(sync.next_timeout() == at(2000));
  sync.on_tick(at(1999));
  CHECK(sync.state() == State::running);
  sync.on_tick(at(2000));
  CHECK(sync.state() == State::failed);
  CHECK(sync.failure() == "no answer from the API server within 2s (--delay)");
}

TEST_CASE("even with --delay 0 the API gets a moment for its first answer") {
  Lines log;
  auto c = config();
  c.answer_within = Millis(0);
  SliceSync sync(c, log.timeline);
  sync.start(t0);
  started(sync);
  CHECK(sync.next_timeout() == t0 + kMinAnswerTime);
}

TEST_CASE("Retry-After: honoured inside the budget, a failure beyond it") {
  Lines log;
  SliceSync patient(config(), log.timeline);
  patient.start(t0);
  started(patient);
  patient.on_list(retry(Millis(1000)), at(5));
  CHECK_FALSE(patient.take_next().start);
  CHECK(patient.next_timeout() == at(1005));
  patient.on_tick(at(1005));
  CHECK(started(patient).kind == Kind::list);

  auto c = config();
  c.answer_within = Millis(2000);
  SliceSync hurried(c, log.timeline);
  hurried.start(t0);
  started(hurried);
  hurried.on_list(retry(Millis(5000)), at(5));
  CHECK(hurried.state() == State::failed);
}

TEST_CASE("once the list is in, a failing watch retries past --delay (the Pod is known)") {
  Lines log;
  auto c = config();
  c.answer_within = Millis(100);
  auto sync = watching(log.timeline, c);
  sync.on_watch_end(retry(), at(5000));
  CHECK(sync.state() == State::running);
  REQUIRE(sync.next_timeout().has_value());
  sync.on_tick(*sync.next_timeout());
  CHECK(started(sync).kind == Kind::watch);
}

TEST_CASE("jittered backoff: inside [base, 2 base), and different per drain") {
  Lines log;
  std::set<long> first_waits;
  for (unsigned seed = 0; seed < 20; ++seed) {
    auto c = config();
    c.seed = seed;
    SliceSync sync(c, log.timeline);
    sync.start(t0);
    started(sync);
    sync.on_list(retry(), t0);
    auto wait = std::chrono::duration_cast<Millis>(*sync.next_timeout() - t0).count();
    CHECK(wait >= 200);
    CHECK(wait < 400);
    first_waits.insert(wait);
  }
  CHECK(first_waits.size() > 5);
}

TEST_CASE("a hard cap on requests per drain, however the API misbehaves") {
  Lines log;
  // Each watch delivers one event (progress resets the retries), then ends.
  auto sync = watching(log.timeline);
  TimePoint now = at(10);
  int rv = 200;
  while (sync.state() == State::running) {
    now += Millis(6000);
    sync.on_event(event("BOOKMARK", {{"metadata", {{"resourceVersion", std::to_string(++rv)}}}}),
                  now);
    sync.on_watch_end(ok(""), now);
    sync.take_next();
    REQUIRE(sync.requests() <= 12);
  }
  CHECK(sync.state() == State::failed);
  CHECK(sync.requests() == 12);
  CHECK(sync.failure().find("made 12 requests") != std::string::npos);
}

TEST_CASE("endless continue pages are cut off") {
  Lines log;
  SliceSync sync(config(), log.timeline);
  sync.start(t0);
  for (int page = 0; page < 20 && sync.state() == State::running; ++page) {
    started(sync);
    sync.on_list(ok(list_body({ready_web()}, "100", "more")), at(page));
  }
  CHECK(sync.state() == State::failed);
  CHECK(sync.requests() == 8);
  CHECK(sync.failure().find("more than 8 pages") != std::string::npos);
}

TEST_CASE("a watch whose headers never come is retried after the request timeout") {
  Lines log;
  SliceSync sync(config(), log.timeline);
  sync.start(t0);
  started(sync);
  sync.on_list(ok(list_body({ready_web()})), at(5));
  started(sync);
  REQUIRE(sync.next_timeout() == at(5005));
  sync.on_tick(at(5005));
  CHECK(sync.take_next().cancel);
  CHECK(sync.state() == State::running);
}

TEST_CASE("narrowing needs the Service label; --debug-watch-namespace keeps the old watch") {
  Lines log;
  SliceSync unlabelled(config(), log.timeline);
  unlabelled.start(t0);
  started(unlabelled);
  unlabelled.on_list(ok(list_body({slice("custom", "", {endpoint(kPodIp)})})), at(5));
  CHECK(started(unlabelled).url.find("labelSelector") == std::string::npos);

  auto c = config();
  c.narrow = false;
  SliceSync wide(c, log.timeline);
  wide.start(t0);
  started(wide);
  wide.on_list(ok(list_body({ready_web()})), at(5));
  CHECK(started(wide).url.find("labelSelector") == std::string::npos);

  SliceSync filtered(config({"web", "api"}), log.timeline);  // --service web --service api
  filtered.start(t0);
  CHECK(started(filtered).url.find("in%20%28web%2Capi%29") != std::string::npos);
  filtered.on_list(ok(list_body({ready_web()})), at(5));
  CHECK(started(filtered).url.find("labelSelector=kubernetes.io%2Fservice-name%3Dweb&") !=
        std::string::npos);
}

TEST_CASE("unusable identity and fatal answers fail at once") {
  Lines log;
  auto c = config();
  c.pod.namespace_name.clear();
  SliceSync no_namespace(c, log.timeline);
  no_namespace.start(t0);
  CHECK(no_namespace.state() == State::failed);

  SliceSync forbidden(config(), log.timeline);
  forbidden.start(t0);
  started(forbidden);
  forbidden.on_list({ApiOutcome::Kind::fatal, "", Millis(0), "403"}, at(5));
  CHECK(forbidden.state() == State::failed);
  CHECK(forbidden.failure() == "403");

  SliceSync garbage(config(), log.timeline);
  garbage.start(t0);
  started(garbage);
  garbage.on_list(ok("{\"items\":7}"), at(5));
  CHECK(garbage.failure().starts_with("malformed EndpointSlice list from the API server"));
}

TEST_CASE("the machine writes on the timeline it is given, and stamps nothing itself") {
  Lines log;
  SliceSync sync(config(), log.timeline);
  sync.start(t0);
  started(sync);
  sync.on_list(retry(), at(5));
  sync.on_tick(*sync.next_timeout());
  started(sync);
  sync.on_list(ok(list_body({ready_web()})), at(900));
  started(sync);
  sync.on_event(event("MODIFIED", terminating_web()), at(950));
  sync.end_batch();
  REQUIRE(sync.state() == State::gone);
  REQUIRE(log.lines.size() == 3);
  CHECK(log.lines[0].starts_with("listing EndpointSlices: HTTP 500: boom; retrying in "));
  CHECK(log.lines[1] == "Pod still routable: svc/web (slice web-abc12, 10.244.1.17)");
  CHECK(log.lines[2] ==
        "Pod left every EndpointSlice (was in svc/web (slice web-abc12, 10.244.1.17))");

  // On a started timeline every line carries its one stamp, from the timeline's zero.
  Lines drain;
  drain.timeline.start(Clock::now() - Millis(2000));
  SliceSync stamped(config(), drain.timeline);
  stamped.start(t0);
  started(stamped);
  stamped.on_list({ApiOutcome::Kind::fatal, "", Millis(0), "403"}, at(5));
  REQUIRE(drain.lines.size() == 1);
  const auto& line = drain.lines[0];
  CAPTURE(line);
  CHECK(line.starts_with("t=+2"));
  CHECK(line.find("ms EndpointSlice API unusable, falling back to --delay: 403") != line.npos);
  CHECK(line.find("t=+", 1) == line.npos);
}

TEST_CASE("services_naming_pod") {
  std::map<std::string, EndpointSlice> slices;
  slices["a"] = EndpointSlice{"a", "default", "web", "IPv4", {Endpoint{}}};
  slices["b"] = EndpointSlice{"b", "default", "api", "IPv4", {Endpoint{}}};
  slices["c"] = EndpointSlice{"c", "default", "web", "IPv4", {Endpoint{}}};
  CHECK(services_naming_pod(slices) == std::vector<std::string>{"api", "web"});
  slices["d"] = EndpointSlice{"d", "default", "", "IPv4", {Endpoint{}}};
  CHECK(services_naming_pod(slices).empty());
}
