// SPDX-License-Identifier: Apache-2.0
// A host name in --api-server is resolved on a thread of its own, never in the loop: a
// lookup (resolver.h) blocks for as long as DNS takes and has no file descriptor, and a
// DNS server that never answers (CoreDNS draining itself at the very moment the Pod
// drains) would otherwise hold PID 1's signals and deadlines. The thread is detached and
// never joined; the loop learns the answer from an eventfd. An IP literal (what
// KUBERNETES_SERVICE_HOST holds) needs none of this: curl converts it without any lookup.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lameduck {

struct LookupAnswer {
  std::vector<std::string> addresses;  // numeric, as curl's CURLOPT_RESOLVE takes them
  std::string error;                   // empty when addresses holds at least one
  bool ok() const { return error.empty(); }
};

class HostLookup {
 public:
  // Starts resolving host at once and returns; the answer comes later.
  explicit HostLookup(const std::string& host);
  // Never waits for the thread: it finishes on its own and frees what it shares.
  ~HostLookup() = default;
  HostLookup(const HostLookup&) = delete;
  HostLookup& operator=(const HostLookup&) = delete;

  const std::string& host() const { return host_; }
  // Readable once the answer is there; -1 when no eventfd could be made (then poll with
  // a short timer, see answer()).
  int fd() const;
  // The answer, once there; never blocks.
  std::optional<LookupAnswer> answer() const;

 private:
  struct Shared;
  std::string host_;
  std::shared_ptr<Shared> shared_;
};

// lameduck talks to one API server: one lookup at a time, kept for the process. The
// lookup of host: the current one, or a new one when it was for another host or answered
// with a failure.
std::shared_ptr<HostLookup> shared_lookup(const std::string& host);

// Starts resolving url's host now when it is a name, so that a drain later finds the
// answer ready (shared_lookup); does nothing for an IP literal.
void prefetch_host(const std::string& url);

// "10.96.0.1", "fd00::1", "[fd00::1]": true; "kubernetes.default.svc": false.
bool is_ip_literal(const std::string& host);

// host and port of "https://HOST[:PORT][/...]" (IPv6 literals in brackets, returned
// without them); false when url has no host.
bool url_host_port(const std::string& url, std::string& host, std::string& port);

}  // namespace lameduck
