// SPDX-License-Identifier: Apache-2.0
// The resolver's inputs from outside: a DNS reply (dns::parse_reply, read_name) and the
// text of /etc/resolv.conf and /etc/hosts. The first byte picks the query type and where
// read_name starts; the reply's own first two bytes are taken as the query id, so that the
// fuzzer gets past the id check.
#include <arpa/inet.h>

#include <string>

#include "fuzz_common.h"
#include "kube/dns_message.h"
#include "kube/resolver.h"

using namespace lameduck;

namespace {

void check_address(const std::string& text, const char* what) {
  unsigned char bytes[16];
  if (inet_pton(AF_INET, text.c_str(), bytes) != 1 &&
      inet_pton(AF_INET6, text.c_str(), bytes) != 1) {
    fuzz::fail(what, text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string_view bytes = fuzz::as_text(data + 1, size - 1);
  fuzz::reset_peak();
  std::uint16_t qtype = (data[0] & 1) != 0 ? dns::kTypeAaaa : dns::kTypeA;
  std::uint16_t id = bytes.size() >= 2 ? static_cast<std::uint16_t>((data[1] << 8) | data[2]) : 0;
  for (const char* name : {"kubernetes.default.svc", "a"}) {
    dns::Reply r = dns::parse_reply(bytes, id, name, qtype);
    if (r.addresses.size() > dns::kMaxAddresses) fuzz::fail("too many addresses");
    if (r.verdict != dns::Reply::Verdict::ours && !r.addresses.empty()) {
      fuzz::fail("addresses from a reply that is not ours");
    }
    for (const auto& a : r.addresses) check_address(a, "a reply's address is not numeric");
    fuzz::check_clean(r.error, "parse_reply's error");
  }
  std::size_t at = bytes.empty() ? 0 : data[0] % bytes.size();
  if (auto name = dns::read_name(bytes, at)) {
    if (name->size() > 255 || name->empty() || name->back() != '\0') fuzz::fail("read_name", *name);
    if (at > bytes.size()) fuzz::fail("read_name moved past the end");
  }

  ResolvConf conf = parse_resolv_conf(bytes);
  if (conf.nameservers.empty() || conf.nameservers.size() > kMaxNameservers) {
    fuzz::fail("nameserver count");
  }
  if (conf.search.size() > kMaxSearchDomains) fuzz::fail("search domain count");
  if (conf.ndots < 0 || conf.ndots > 15 || conf.timeout_s < 1 || conf.timeout_s > 30 ||
      conf.attempts < 1 || conf.attempts > 5) {
    fuzz::fail("an option out of its range");
  }
  for (const auto& n : search_names("kubernetes.default.svc", conf)) {
    if (dns::wire_name(n).empty()) fuzz::fail("search_names gave a name DNS cannot carry", n);
  }
  for (const auto& a : hosts_addresses(bytes, "kubernetes.default.svc")) {
    check_address(a, "a hosts address is not numeric");
  }
  fuzz::check_memory(size);
  return 0;
}
