// SPDX-License-Identifier: Apache-2.0
#include "kube/http.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string_view>

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

// lameduck talks to one API server: one lookup at a time, kept for the process.
std::shared_ptr<HostLookup>& current_lookup() {
  static std::shared_ptr<HostLookup> lookup;
  return lookup;
}

// The lookup of host: the current one, or a new one when it was for another host or
// answered with a failure.
std::shared_ptr<HostLookup> lookup_for(const std::string& host) {
  auto& lookup = current_lookup();
  if (lookup && lookup->host() == host) {
    auto answer = lookup->answer();
    if (!answer || answer->ok()) return lookup;
  }
  lookup = std::make_shared<HostLookup>(host);
  return lookup;
}

}  // namespace

void prefetch_host(const std::string& url) {
  std::string host;
  std::string port;
  if (url_host_port(url, host, port) && !is_ip_literal(host)) lookup_for(host);
}

HttpRequest::HttpRequest(const std::string& url, const HttpOptions& options, ChunkFn on_chunk,
                         DoneFn on_done)
    : ca_pem_(options.ca_pem),
      on_chunk_(std::move(on_chunk)),
      on_done_(std::move(on_done)),
      max_body_(options.max_body) {
  global_init_once();
  easy_ = curl_easy_init();
  if (easy_ == nullptr) throw std::runtime_error("curl_easy_init failed");
  std::string host;
  if (url_host_port(url, host, port_) && !is_ip_literal(host)) lookup_host_ = host;
  lookup_timeout_ = Millis(options.connect_timeout_ms);
  curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  // The CA from memory; with none, an empty bundle (nothing verifies), never a file.
  static const std::string kNoCa;
  const std::string& pem = ca_pem_ ? *ca_pem_ : kNoCa;
  curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_NOCOPY};
  if (curl_easy_setopt(easy_, CURLOPT_CAINFO_BLOB, &blob) != CURLE_OK) {
    throw std::runtime_error("this libcurl cannot take a CA bundle from memory (CAINFO_BLOB)");
  }
  curl_easy_setopt(easy_, CURLOPT_CAINFO, nullptr);
  curl_easy_setopt(easy_, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, options.connect_timeout_ms);
  if (options.total_timeout_ms > 0) {
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, options.total_timeout_ms);
  }
  curl_easy_setopt(easy_, CURLOPT_USERAGENT, "lameduck/" LAMEDUCK_VERSION);
  // "": every encoding this libcurl decodes (gzip with zlib); none is asked for without.
  if (options.accept_compressed) curl_easy_setopt(easy_, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &HttpRequest::on_write);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &HttpRequest::on_header);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy_, CURLOPT_PRIVATE, this);
  headers_ = curl_slist_append(headers_, "Accept: application/json");
  std::string auth = "Authorization: Bearer " + options.bearer_token;
  headers_ = curl_slist_append(headers_, auth.c_str());
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
}

HttpRequest::~HttpRequest() {
  if (easy_ != nullptr) curl_easy_cleanup(easy_);
  curl_slist_free_all(headers_);
  curl_slist_free_all(resolve_);
}

void HttpRequest::pin_addresses(const std::vector<std::string>& addresses) {
  std::string entry = lookup_host_ + ":" + port_ + ":";
  for (std::size_t i = 0; i < addresses.size(); ++i) entry += (i == 0 ? "" : ",") + addresses[i];
  curl_slist_free_all(resolve_);
  resolve_ = curl_slist_append(nullptr, entry.c_str());
  curl_easy_setopt(easy_, CURLOPT_RESOLVE, resolve_);
}

void HttpRequest::finish_with(CURLcode code, const std::string& error) {
  std::snprintf(error_, sizeof error_, "%s", error.c_str());
  finish(code);
}

std::size_t HttpRequest::on_header(char* data, std::size_t size, std::size_t n, void* self) {
  auto* request = static_cast<HttpRequest*>(self);
  request->got_headers_ = true;
  if (auto ms = parse_retry_after(std::string_view(data, size * n))) request->retry_after_ms_ = *ms;
  return size * n;
}

std::size_t HttpRequest::on_write(char* data, std::size_t size, std::size_t n, void* self) {
  auto* request = static_cast<HttpRequest*>(self);
  long status = 0;
  curl_easy_getinfo(request->easy_, CURLINFO_RESPONSE_CODE, &status);
  if (status == 200 && request->on_chunk_) {
    // A C frame is above us: nothing may be thrown through it.
    try {
      if (!request->on_chunk_(std::string_view(data, size * n))) {
        request->abort_ = HttpFailure::aborted;
        request->abort_reason_ = "the transfer was ended by lameduck";
        return 0;
      }
    } catch (const std::exception& e) {
      request->abort_ = HttpFailure::aborted;
      request->abort_reason_ = std::string("internal error while reading the answer: ") + e.what();
      return 0;
    } catch (...) {
      request->abort_ = HttpFailure::aborted;
      request->abort_reason_ = "internal error while reading the answer";
      return 0;
    }
  } else if (request->body_.size() + size * n <= request->max_body_) {
    request->body_.append(data, size * n);
  } else {
    // A runaway body: abort rather than eat the Pod's memory.
    request->abort_ = HttpFailure::too_large;
    auto cap = request->max_body_;
    request->abort_reason_ =
        "the answer is larger than " + (cap >= (1u << 20) ? std::to_string(cap >> 20) + " MiB"
                                                          : std::to_string(cap >> 10) + " KiB");
    request->body_.clear();
    return 0;
  }
  return size * n;
}

void HttpRequest::finish(CURLcode code) {
  HttpResult result;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &result.status);
  if (code == CURLE_WRITE_ERROR && abort_ != HttpFailure::none) {
    result.failure = abort_;
    result.error = abort_reason_;
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    result.failure = HttpFailure::timeout;
  } else if (code != CURLE_OK) {
    result.failure = HttpFailure::transport;
  }
  if (code != CURLE_OK && result.error.empty()) {
    result.error = error_[0] != '\0' ? std::string(error_) : curl_easy_strerror(code);
  }
  result.retry_after_ms = retry_after_ms_;
  result.body = std::move(body_);
  body_.clear();
  // on_done may destroy this request; copy the callback first.
  auto done = on_done_;
  done(result);
}

HttpClient::HttpClient() {
  global_init_once();
  multi_ = curl_multi_init();
  if (multi_ == nullptr) throw std::runtime_error("curl_multi_init failed");
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &HttpClient::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &HttpClient::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

HttpClient::~HttpClient() {
  // Requests are owned by their callers, who cancel them before this runs.
  curl_multi_cleanup(multi_);
}

void HttpClient::start(HttpRequest& request) {
  if (!request.lookup_host().empty()) {
    auto lookup = lookup_for(request.lookup_host());
    auto answer = lookup->answer();
    if (!answer) {
      lookup_ = lookup;
      waiting_.push_back({&request, Clock::now() + request.lookup_timeout()});
      return;
    }
    request.pin_addresses(answer->addresses);  // lookup_for() never returns a failed one
  }
  curl_multi_add_handle(multi_, request.handle());
}

void HttpClient::cancel(HttpRequest& request) {
  auto it = std::find_if(waiting_.begin(), waiting_.end(),
                         [&request](const Waiting& w) { return w.request == &request; });
  if (it != waiting_.end()) {
    waiting_.erase(it);
    return;
  }
  curl_multi_remove_handle(multi_, request.handle());
}

std::optional<TimePoint> HttpClient::next_timeout() const {
  std::optional<TimePoint> t = timer_;
  for (const auto& w : waiting_) t = t ? std::min(*t, w.deadline) : w.deadline;
  // Without an eventfd to wake us, look at the lookup now and then.
  if (!waiting_.empty() && lookup_ && lookup_->fd() < 0) {
    auto soon = Clock::now() + Millis(50);
    t = t ? std::min(*t, soon) : soon;
  }
  return t;
}

void HttpClient::finish_lookups(TimePoint now) {
  if (waiting_.empty() || !lookup_) return;
  auto answer = lookup_->answer();
  if (answer && lookup_->fd() >= 0) {
    std::uint64_t count = 0;
    [[maybe_unused]] auto n = ::read(lookup_->fd(), &count, sizeof count);
  }
  // Collect first: finishing a request may start or cancel others.
  struct Failed {
    HttpRequest* request;
    CURLcode code;
    std::string error;
  };
  std::vector<Failed> failed;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    HttpRequest* request = it->request;
    if (answer && answer->ok()) {
      request->pin_addresses(answer->addresses);
      curl_multi_add_handle(multi_, request->handle());
    } else if (answer) {
      failed.push_back({request, CURLE_COULDNT_RESOLVE_HOST,
                        "cannot resolve the API server's host name " + request->lookup_host() +
                            ": " + answer->error});
    } else if (now >= it->deadline) {
      failed.push_back({request, CURLE_OPERATION_TIMEDOUT,
                        "no answer from DNS for the API server's host name " +
                            request->lookup_host() + " within " +
                            format_duration(request->lookup_timeout())});
    } else {
      ++it;
      continue;
    }
    it = waiting_.erase(it);
  }
  if (waiting_.empty()) lookup_.reset();
  for (auto& f : failed) f.request->finish_with(f.code, f.error);
}

int HttpClient::on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
  auto* client = static_cast<HttpClient*>(self);
  if (what == CURL_POLL_REMOVE) {
    client->sockets_.erase(fd);
  } else {
    short events = 0;
    if ((what & CURL_POLL_IN) != 0) events |= POLLIN;
    if ((what & CURL_POLL_OUT) != 0) events |= POLLOUT;
    client->sockets_[fd] = events;
  }
  return 0;
}

int HttpClient::on_timer(CURLM*, long timeout_ms, void* self) {
  auto* client = static_cast<HttpClient*>(self);
  if (timeout_ms < 0) {
    client->timer_.reset();
  } else {
    client->timer_ = Clock::now() + Millis(timeout_ms);
  }
  return 0;
}

void HttpClient::add_fds(std::vector<pollfd>& fds) {
  for (const auto& [fd, events] : sockets_) fds.push_back({fd, events, 0});
  if (!waiting_.empty() && lookup_ && lookup_->fd() >= 0) {
    fds.push_back({lookup_->fd(), POLLIN, 0});
  }
}

void HttpClient::on_ready(std::span<const pollfd> fds, TimePoint now) {
  int running = 0;
  finish_lookups(now);
  for (const auto& fd : fds) {
    if (fd.revents == 0 || !sockets_.contains(fd.fd)) continue;
    int flags = 0;
    if ((fd.revents & POLLIN) != 0) flags |= CURL_CSELECT_IN;
    if ((fd.revents & POLLOUT) != 0) flags |= CURL_CSELECT_OUT;
    if ((fd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(multi_, fd.fd, flags, &running);
  }
  if (timer_ && *timer_ <= now) {
    timer_.reset();
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  finish_done();
}

void HttpClient::finish_done() {
  // Collect first: finishing a request may start or cancel others.
  std::vector<std::pair<HttpRequest*, CURLcode>> done;
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    HttpRequest* request = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &request);
    curl_multi_remove_handle(multi_, message->easy_handle);
    done.emplace_back(request, message->data.result);
  }
  for (auto& [request, code] : done) request->finish(code);
}

std::optional<long> parse_retry_after(std::string_view line) {
  // "Retry-After: 1" (429 and 503 from the apiserver); the HTTP-date form counts as none.
  constexpr std::string_view kName = "retry-after:";
  if (line.size() <= kName.size() ||
      !std::equal(kName.begin(), kName.end(), line.begin(), [](char a, char b) {
        return a == std::tolower(static_cast<unsigned char>(b));
      })) {
    return std::nullopt;
  }
  long seconds = 0;
  bool digits = false;
  for (char c : line.substr(kName.size())) {
    if (c >= '0' && c <= '9') {
      digits = true;
      seconds = std::min(seconds * 10 + (c - '0'), 86400L);
    } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      return 0L;
    }
  }
  return digits ? seconds * 1000 : 0L;
}

std::string url_escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789ABCDEF";
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace lameduck
