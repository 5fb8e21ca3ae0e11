// SPDX-License-Identifier: Apache-2.0
#include "kube/dns_message.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>

namespace lameduck::dns {
namespace {

constexpr std::size_t kHeaderBytes = 12;
constexpr std::size_t kMaxNameBytes = 255;
constexpr std::size_t kMaxLabelBytes = 63;
constexpr std::size_t kMaxPointerHops = 64;

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::uint16_t u16(std::string_view s, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(s[at]) << 8) |
                                    static_cast<unsigned char>(s[at + 1]));
}

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

Reply malformed(std::string why) {
  Reply r;
  r.verdict = Reply::Verdict::malformed;
  r.error = std::move(why);
  return r;
}

Reply not_ours() {
  Reply r;
  r.verdict = Reply::Verdict::not_ours;
  return r;
}

}  // namespace

std::string rcode_name(std::uint8_t rcode) {
  switch (rcode) {
    case kRcodeNoError: return "NOERROR";
    case kRcodeFormErr: return "FORMERR";
    case kRcodeServFail: return "SERVFAIL";
    case kRcodeNxDomain: return "NXDOMAIN";
    case kRcodeNotImp: return "NOTIMP";
    case kRcodeRefused: return "REFUSED";
    default: return "rcode " + std::to_string(rcode);
  }
}

std::string wire_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return {};
  std::string out;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    std::size_t len = dot - start;
    if (len == 0 || len > kMaxLabelBytes) return {};
    out.push_back(static_cast<char>(len));
    for (std::size_t i = start; i < dot; ++i) out.push_back(lower(name[i]));
    start = dot + 1;
  }
  out.push_back('\0');
  if (out.size() > kMaxNameBytes) return {};
  return out;
}

std::string build_query(std::uint16_t id, std::string_view name, std::uint16_t qtype) {
  std::string qname = wire_name(name);
  if (qname.empty()) return {};
  std::string out;
  out.reserve(kHeaderBytes + qname.size() + 4);
  put16(out, id);
  put16(out, 0x0100);  // QR=0, opcode QUERY, RD=1
  put16(out, 1);       // QDCOUNT
  put16(out, 0);       // ANCOUNT
  put16(out, 0);       // NSCOUNT
  put16(out, 0);       // ARCOUNT
  out += qname;
  put16(out, qtype);
  put16(out, kClassIn);
  return out;
}

std::optional<std::string> read_name(std::string_view message, std::size_t& offset) {
  std::string out;
  std::size_t pos = offset;
  std::size_t hops = 0;
  bool jumped = false;
  for (;;) {
    if (pos >= message.size()) return std::nullopt;
    auto len = static_cast<unsigned char>(message[pos]);
    if ((len & 0xc0) == 0xc0) {
      if (pos + 1 >= message.size() || ++hops > kMaxPointerHops) return std::nullopt;
      std::size_t target = (static_cast<std::size_t>(len & 0x3f) << 8) |
                           static_cast<unsigned char>(message[pos + 1]);
      if (!jumped) offset = pos + 2;
      jumped = true;
      pos = target;
      continue;
    }
    if ((len & 0xc0) != 0) return std::nullopt;  // 0x40 and 0x80: reserved label types
    if (len == 0) {
      out.push_back('\0');
      if (out.size() > kMaxNameBytes) return std::nullopt;
      if (!jumped) offset = pos + 1;
      return out;
    }
    if (pos + 1 + len > message.size() || out.size() + 1 + len + 1 > kMaxNameBytes) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(len));
    for (std::size_t i = 0; i < len; ++i) out.push_back(lower(message[pos + 1 + i]));
    pos += 1 + len;
  }
}

Reply parse_reply(std::string_view reply, std::uint16_t id, std::string_view name,
                  std::uint16_t qtype) {
  if (reply.size() < kHeaderBytes) return not_ours();  // not even a header: noise
  if (u16(reply, 0) != id) return not_ours();
  std::uint16_t flags = u16(reply, 2);
  bool is_response = (flags & 0x8000) != 0;
  unsigned opcode = (flags >> 11) & 0xf;
  if (!is_response || opcode != 0) return not_ours();
  Reply r;
  r.rcode = static_cast<std::uint8_t>(flags & 0xf);
  r.truncated = (flags & 0x0200) != 0;
  std::uint16_t qdcount = u16(reply, 4);
  std::uint16_t ancount = u16(reply, 6);
  std::string qname = wire_name(name);
  std::size_t pos = kHeaderBytes;
  if (qdcount == 0) {
    // Some servers send no question back with an error (FORMERR, REFUSED, NOTIMP); an
    // answer without the question is believed for nothing else.
    if (r.rcode == kRcodeNoError || r.rcode == kRcodeNxDomain) return not_ours();
    r.verdict = Reply::Verdict::ours;
    return r;
  }
  if (qdcount != 1) return not_ours();
  auto echoed = read_name(reply, pos);
  if (!echoed) return malformed("the question's name cannot be read");
  if (pos + 4 > reply.size()) return malformed("the question ends early");
  if (*echoed != qname || u16(reply, pos) != qtype || u16(reply, pos + 2) != kClassIn) {
    return not_ours();
  }
  pos += 4;

  struct Cname {
    std::string owner;
    std::string target;
  };
  struct Address {
    std::string owner;
    std::string text;
  };
  std::vector<Cname> cnames;
  std::vector<Address> addresses;
  // Every record is at least 11 bytes, so a count beyond what the bytes hold ends the loop
  // on the bytes, never on the count.
  for (std::uint16_t i = 0; i < ancount; ++i) {
    auto owner = read_name(reply, pos);
    if (!owner || pos + 10 > reply.size()) {
      if (r.truncated) break;  // a truncated reply may end inside a record
      return malformed("the answer section ends after " + std::to_string(i) + " of " +
                       std::to_string(ancount) + " records");
    }
    std::uint16_t type = u16(reply, pos);
    std::uint16_t klass = u16(reply, pos + 2);
    std::size_t rdlength = u16(reply, pos + 8);
    pos += 10;
    if (pos + rdlength > reply.size()) {
      if (r.truncated) break;
      return malformed("a record's data runs past the end of the reply");
    }
    std::size_t rdata = pos;
    pos += rdlength;
    if (klass != kClassIn) continue;
    if (type == kTypeCname) {
      std::size_t at = rdata;
      auto target = read_name(reply, at);
      if (!target || at != pos) return malformed("a CNAME record holds no valid name");
      if (cnames.size() < kMaxCnameHops * 4) cnames.push_back({std::move(*owner), *target});
    } else if (type == qtype) {
      std::size_t want = qtype == kTypeA ? 4 : 16;
      if (rdlength != want) {
        return malformed("an " + std::string(qtype == kTypeA ? "A" : "AAAA") + " record of " +
                         std::to_string(rdlength) + " bytes");
      }
      char text[INET6_ADDRSTRLEN] = {};
      if (inet_ntop(qtype == kTypeA ? AF_INET : AF_INET6, reply.data() + rdata, text,
                    sizeof text) == nullptr) {
        continue;
      }
      if (addresses.size() < kMaxAddresses * 4) addresses.push_back({std::move(*owner), text});
    }
  }

  // The chain from the question's name: name -> CNAME -> ... -> the name with addresses.
  std::vector<std::string> chain{qname};
  for (;;) {
    auto next = std::find_if(cnames.begin(), cnames.end(),
                             [&](const Cname& c) { return c.owner == chain.back(); });
    if (next == cnames.end()) break;
    if (chain.size() > kMaxCnameHops ||
        std::find(chain.begin(), chain.end(), next->target) != chain.end()) {
      return malformed("a CNAME chain that loops or is longer than " +
                       std::to_string(kMaxCnameHops));
    }
    chain.push_back(next->target);
  }
  for (auto& a : addresses) {
    if (r.addresses.size() >= kMaxAddresses) break;
    if (std::find(chain.begin(), chain.end(), a.owner) == chain.end()) continue;
    if (std::find(r.addresses.begin(), r.addresses.end(), a.text) == r.addresses.end()) {
      r.addresses.push_back(std::move(a.text));
    }
  }
  r.verdict = Reply::Verdict::ours;
  return r;
}

}  // namespace lameduck::dns
