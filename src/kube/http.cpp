// SPDX-License-Identifier: Apache-2.0
#include "kube/http.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <stdexcept>

#include "kube/host_lookup.h"

namespace lameduck {
namespace {

void global_init_once() {
  // Lazily, at the first drain: an idle lameduck never pays for TLS initialisation.
  static const bool done = [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("curl_global_init failed");
    }
    return true;
  }();
  (void)done;
}

std::string size_text(std::size_t bytes) {
  return bytes >= (1u << 20) ? std::to_string(bytes >> 20) + " MiB"
                             : std::to_string(bytes >> 10) + " KiB";
}

}  // namespace

// The curl side of one request. Its address is what curl's callbacks get.
struct HttpRequest::Impl {
  Impl(const std::string& url, const HttpOptions& options, ChunkFn chunk, DoneFn done);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void finish(CURLcode code);
  // Ends a request that never reached curl (its host name did not resolve).
  void finish_with(CURLcode code, const std::string& error);
  // Pins the host name to addresses, so curl never resolves it (CURLOPT_RESOLVE).
  void pin_addresses(const std::vector<std::string>& addresses);
  static std::size_t on_write(char* data, std::size_t size, std::size_t n, void* self);
  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* self);
  std::size_t write(std::string_view data);
  std::size_t abort(HttpFailure why, std::string reason);

  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* resolve = nullptr;
  std::shared_ptr<const std::string> ca_pem;
  std::string lookup_host;  // the URL's host when it is a name (empty for an IP literal)
  std::string port;
  Millis lookup_timeout{3000};
  ChunkFn on_chunk;
  DoneFn on_done;
  std::string body;
  bool got_headers = false;
  long retry_after_ms = 0;
  std::size_t max_body = 0;
  HttpFailure aborted = HttpFailure::none;  // our write callback ended the transfer: why
  std::string abort_reason;
  std::string own_error;  // finish_with()'s text, which may be longer than curl's buffer
  char error[CURL_ERROR_SIZE] = {};
};

HttpRequest::HttpRequest(const std::string& url, const HttpOptions& options, ChunkFn on_chunk,
                         DoneFn on_done)
    : impl_(std::make_unique<Impl>(url, options, std::move(on_chunk), std::move(on_done))) {}

HttpRequest::~HttpRequest() = default;

bool HttpRequest::got_headers() const {
  return impl_->got_headers;
}

HttpRequest::Impl::Impl(const std::string& url, const HttpOptions& options, ChunkFn chunk,
                        DoneFn done)
    : ca_pem(options.ca_pem),
      on_chunk(std::move(chunk)),
      on_done(std::move(done)),
      max_body(options.max_body) {
  global_init_once();
  easy = curl_easy_init();
  if (easy == nullptr) throw std::runtime_error("curl_easy_init failed");
  std::string host;
  if (url_host_port(url, host, port) && !is_ip_literal(host)) lookup_host = host;
  lookup_timeout = Millis(options.connect_timeout_ms);
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  // The CA from memory; with none, an empty bundle (nothing verifies), never a file.
  static const std::string kNoCa;
  const std::string& pem = ca_pem ? *ca_pem : kNoCa;
  curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_NOCOPY};
  if (curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob) != CURLE_OK) {
    throw std::runtime_error("this libcurl cannot take a CA bundle from memory (CAINFO_BLOB)");
  }
  curl_easy_setopt(easy, CURLOPT_CAINFO, nullptr);
  curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, options.connect_timeout_ms);
  if (options.total_timeout_ms > 0) {
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, options.total_timeout_ms);
  }
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "lameduck/" LAMEDUCK_VERSION);
  // "": every encoding this libcurl decodes (gzip with zlib); none is asked for without.
  if (options.accept_compressed) curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Impl::on_write);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Impl::on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
  headers = curl_slist_append(headers, "Accept: application/json");
  std::string auth = "Authorization: Bearer " + options.bearer_token;
  headers = curl_slist_append(headers, auth.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
}

HttpRequest::Impl::~Impl() {
  if (easy != nullptr) curl_easy_cleanup(easy);
  curl_slist_free_all(headers);
  curl_slist_free_all(resolve);
}

void HttpRequest::Impl::pin_addresses(const std::vector<std::string>& addresses) {
  std::string entry = lookup_host + ":" + port + ":";
  for (std::size_t i = 0; i < addresses.size(); ++i) entry += (i == 0 ? "" : ",") + addresses[i];
  curl_slist_free_all(resolve);
  resolve = curl_slist_append(nullptr, entry.c_str());
  curl_easy_setopt(easy, CURLOPT_RESOLVE, resolve);
}

void HttpRequest::Impl::finish_with(CURLcode code, const std::string& text) {
  own_error = text;
  finish(code);
}

std::size_t HttpRequest::Impl::on_header(char* data, std::size_t size, std::size_t n, void* self) {
  auto* request = static_cast<Impl*>(self);
  request->got_headers = true;
  if (auto ms = parse_retry_after(std::string_view(data, size * n))) request->retry_after_ms = *ms;
  return size * n;
}

std::size_t HttpRequest::Impl::on_write(char* data, std::size_t size, std::size_t n, void* self) {
  return static_cast<Impl*>(self)->write(std::string_view(data, size * n));
}

std::size_t HttpRequest::Impl::abort(HttpFailure why, std::string reason) {
  aborted = why;
  abort_reason = std::move(reason);
  return 0;
}

std::size_t HttpRequest::Impl::write(std::string_view data) {
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (status == 200 && on_chunk) {
    // A C frame is above us: nothing may be thrown through it.
    try {
      if (!on_chunk(data)) return abort(HttpFailure::aborted, "the transfer was ended by lameduck");
    } catch (const std::exception& e) {
      return abort(HttpFailure::aborted,
                   std::string("internal error while reading the answer: ") + e.what());
    } catch (...) {
      return abort(HttpFailure::aborted, "internal error while reading the answer");
    }
  } else if (body.size() + data.size() <= max_body) {
    body.append(data);
  } else {
    // A runaway body: abort rather than eat the Pod's memory.
    body.clear();
    return abort(HttpFailure::too_large, "the answer is larger than " + size_text(max_body));
  }
  return data.size();
}

void HttpRequest::Impl::finish(CURLcode code) {
  HttpResult result;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &result.status);
  if (code == CURLE_WRITE_ERROR && aborted != HttpFailure::none) {
    result.failure = aborted;
    result.error = abort_reason;
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    result.failure = HttpFailure::timeout;
  } else if (code != CURLE_OK) {
    result.failure = HttpFailure::transport;
  }
  if (code != CURLE_OK && result.error.empty()) {
    result.error = !own_error.empty() ? own_error
                   : error[0] != '\0' ? std::string(error)
                                      : curl_easy_strerror(code);
  }
  result.retry_after_ms = retry_after_ms;
  result.body = std::move(body);
  body.clear();
  // on_done may destroy this request; copy the callback first.
  auto done = on_done;
  done(result);
}

struct HttpClient::Impl {
  Impl();
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socket_data);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  void finish_done();
  void finish_lookups(TimePoint now);

  struct Waiting {
    HttpRequest::Impl* request;
    TimePoint deadline;
  };
  CURLM* multi = nullptr;
  // Requests waiting for their host name's lookup (host_lookup.h), which they share.
  std::shared_ptr<HostLookup> lookup;
  std::vector<Waiting> waiting;
  std::map<curl_socket_t, short> sockets;
  std::optional<TimePoint> timer;
};

HttpClient::HttpClient() : impl_(std::make_unique<Impl>()) {}
HttpClient::~HttpClient() = default;

HttpClient::Impl::Impl() {
  global_init_once();
  multi = curl_multi_init();
  if (multi == nullptr) throw std::runtime_error("curl_multi_init failed");
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
}

HttpClient::Impl::~Impl() {
  // Requests are owned by their callers, who cancel them before this runs.
  curl_multi_cleanup(multi);
}

void HttpClient::start(HttpRequest& request) {
  HttpRequest::Impl* r = request.impl_.get();
  if (!r->lookup_host.empty()) {
    auto lookup = shared_lookup(r->lookup_host);
    auto answer = lookup->answer();
    if (!answer) {
      impl_->lookup = lookup;
      impl_->waiting.push_back({r, Clock::now() + r->lookup_timeout});
      return;
    }
    r->pin_addresses(answer->addresses);  // shared_lookup() never returns a failed one
  }
  curl_multi_add_handle(impl_->multi, r->easy);
}

void HttpClient::cancel(HttpRequest& request) {
  HttpRequest::Impl* r = request.impl_.get();
  auto& waiting = impl_->waiting;
  auto it = std::find_if(waiting.begin(), waiting.end(),
                         [r](const Impl::Waiting& w) { return w.request == r; });
  if (it != waiting.end()) {
    waiting.erase(it);
    return;
  }
  curl_multi_remove_handle(impl_->multi, r->easy);
}

std::optional<TimePoint> HttpClient::next_timeout() const {
  std::optional<TimePoint> t = impl_->timer;
  for (const auto& w : impl_->waiting) t = t ? std::min(*t, w.deadline) : w.deadline;
  // Without an eventfd to wake us, look at the lookup now and then.
  if (!impl_->waiting.empty() && impl_->lookup && impl_->lookup->fd() < 0) {
    auto soon = Clock::now() + Millis(50);
    t = t ? std::min(*t, soon) : soon;
  }
  return t;
}

void HttpClient::Impl::finish_lookups(TimePoint now) {
  if (waiting.empty() || !lookup) return;
  auto answer = lookup->answer();
  if (answer && lookup->fd() >= 0) {
    std::uint64_t count = 0;
    [[maybe_unused]] auto n = ::read(lookup->fd(), &count, sizeof count);
  }
  // Collect first: finishing a request may start or cancel others.
  struct Failed {
    HttpRequest::Impl* request;
    CURLcode code;
    std::string error;
  };
  std::vector<Failed> failed;
  for (auto it = waiting.begin(); it != waiting.end();) {
    HttpRequest::Impl* request = it->request;
    if (answer && answer->ok()) {
      request->pin_addresses(answer->addresses);
      curl_multi_add_handle(multi, request->easy);
    } else if (answer) {
      failed.push_back({request, CURLE_COULDNT_RESOLVE_HOST,
                        "cannot resolve the API server's host name " + request->lookup_host + ": " +
                            answer->error});
    } else if (now >= it->deadline) {
      failed.push_back({request, CURLE_OPERATION_TIMEDOUT,
                        "no answer from DNS for the API server's host name " +
                            request->lookup_host + " within " +
                            format_duration(request->lookup_timeout)});
    } else {
      ++it;
      continue;
    }
    it = waiting.erase(it);
  }
  if (waiting.empty()) lookup.reset();
  for (auto& f : failed) f.request->finish_with(f.code, f.error);
}

int HttpClient::Impl::on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
  auto* client = static_cast<Impl*>(self);
  if (what == CURL_POLL_REMOVE) {
    client->sockets.erase(fd);
  } else {
    short events = 0;
    if ((what & CURL_POLL_IN) != 0) events |= POLLIN;
    if ((what & CURL_POLL_OUT) != 0) events |= POLLOUT;
    client->sockets[fd] = events;
  }
  return 0;
}

int HttpClient::Impl::on_timer(CURLM*, long timeout_ms, void* self) {
  auto* client = static_cast<Impl*>(self);
  if (timeout_ms < 0) {
    client->timer.reset();
  } else {
    client->timer = Clock::now() + Millis(timeout_ms);
  }
  return 0;
}

void HttpClient::add_fds(std::vector<pollfd>& fds) {
  for (const auto& [fd, events] : impl_->sockets) fds.push_back({fd, events, 0});
  if (!impl_->waiting.empty() && impl_->lookup && impl_->lookup->fd() >= 0) {
    fds.push_back({impl_->lookup->fd(), POLLIN, 0});
  }
}

void HttpClient::on_ready(std::span<const pollfd> fds, TimePoint now) {
  int running = 0;
  impl_->finish_lookups(now);
  for (const auto& fd : fds) {
    if (fd.revents == 0 || !impl_->sockets.contains(fd.fd)) continue;
    int flags = 0;
    if ((fd.revents & POLLIN) != 0) flags |= CURL_CSELECT_IN;
    if ((fd.revents & POLLOUT) != 0) flags |= CURL_CSELECT_OUT;
    if ((fd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(impl_->multi, fd.fd, flags, &running);
  }
  if (impl_->timer && *impl_->timer <= now) {
    impl_->timer.reset();
    curl_multi_socket_action(impl_->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  impl_->finish_done();
}

void HttpClient::Impl::finish_done() {
  // Collect first: finishing a request may start or cancel others.
  std::vector<std::pair<HttpRequest::Impl*, CURLcode>> done;
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    HttpRequest::Impl* request = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &request);
    curl_multi_remove_handle(multi, message->easy_handle);
    done.emplace_back(request, message->data.result);
  }
  for (auto& [request, code] : done) request->finish(code);
}

}  // namespace lameduck
