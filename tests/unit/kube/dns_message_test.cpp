// SPDX-License-Identifier: Apache-2.0
#include "kube/dns_message.h"

#include <doctest/doctest.h>

#include <string>

using namespace lameduck;
using namespace lameduck::dns;

namespace {

void put16(std::string& out, unsigned v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

// A reply header: id, flags (QR set), counts.
std::string header(unsigned id, unsigned flags, unsigned qd, unsigned an) {
  std::string out;
  put16(out, id);
  put16(out, flags | 0x8000);
  put16(out, qd);
  put16(out, an);
  put16(out, 0);
  put16(out, 0);
  return out;
}

std::string question(const std::string& name, unsigned type) {
  std::string out = wire_name(name);
  put16(out, type);
  put16(out, kClassIn);
  return out;
}

// A record with owner (wire form or a pointer), type and rdata.
std::string record(const std::string& owner, unsigned type, const std::string& rdata) {
  std::string out = owner;
  put16(out, type);
  put16(out, kClassIn);
  put16(out, 0);
  put16(out, 30);  // TTL
  put16(out, static_cast<unsigned>(rdata.size()));
  return out + rdata;
}

const std::string kPtrToQuestion("\xc0\x0c", 2);  // the question's name, at offset 12
const std::string kV4("\x0a\x60\x00\x01", 4);     // 10.96.0.1

std::string answer_a(unsigned id, const std::string& name) {
  return header(id, 0x0180, 1, 1) + question(name, kTypeA) + record(kPtrToQuestion, kTypeA, kV4);
}

}  // namespace

TEST_CASE("dns: names in wire form") {
  CHECK(wire_name("Kubernetes.Default.svc") == std::string("\x0akubernetes\x07"
                                                           "default\x03svc\0",
                                                           24));
  CHECK(wire_name("a.b.") == std::string("\x01"
                                         "a\x01"
                                         "b\0",
                                         5));
  CHECK(wire_name("").empty());
  CHECK(wire_name(".").empty());
  CHECK(wire_name("a..b").empty());
  CHECK(wire_name(std::string(64, 'x')).empty());
  CHECK_FALSE(wire_name(std::string(63, 'x')).empty());
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  CHECK(wire_name(long_name).empty());  // 256 bytes in wire form
}

TEST_CASE("dns: a query holds one question with RD set") {
  std::string q = build_query(0x1234, "kubernetes.default.svc", kTypeAaaa);
  REQUIRE(q.size() == 12 + 24 + 4);
  CHECK(q.substr(0, 12) == std::string("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12));
  CHECK(q.substr(12) == question("kubernetes.default.svc", kTypeAaaa));
  CHECK(build_query(1, "a..b", kTypeA).empty());
}

TEST_CASE("dns: an A answer") {
  Reply r = parse_reply(answer_a(7, "api.example"), 7, "API.example", kTypeA);
  REQUIRE(r.verdict == Reply::Verdict::ours);
  CHECK(r.rcode == kRcodeNoError);
  CHECK(r.addresses == std::vector<std::string>{"10.96.0.1"});
}

TEST_CASE("dns: an AAAA answer") {
  std::string v6("\xfd\x00\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
  std::string reply = header(9, 0x0180, 1, 1) + question("api.example", kTypeAaaa) +
                      record(kPtrToQuestion, kTypeAaaa, v6);
  Reply r = parse_reply(reply, 9, "api.example", kTypeAaaa);
  REQUIRE(r.verdict == Reply::Verdict::ours);
  CHECK(r.addresses == std::vector<std::string>{"fd00::1"});
}

TEST_CASE("dns: a CNAME chain is followed to the addresses") {
  // api.example -> b.example -> c.example (A); an A of an unrelated name is not believed.
  std::string reply = header(1, 0x0180, 1, 4) + question("api.example", kTypeA);
  std::size_t b_at = reply.size() + 2 + 10;  // where b.example's name starts (in rdata)
  reply += record(kPtrToQuestion, kTypeCname, wire_name("b.example"));
  std::string ptr_b = {static_cast<char>(0xc0), static_cast<char>(b_at)};
  reply += record(ptr_b, kTypeCname, wire_name("c.example"));
  reply += record(wire_name("other.example"), kTypeA, std::string("\x01\x02\x03\x04", 4));
  reply += record(wire_name("C.example"), kTypeA, kV4);
  Reply r = parse_reply(reply, 1, "api.example", kTypeA);
  REQUIRE(r.verdict == Reply::Verdict::ours);
  CHECK(r.addresses == std::vector<std::string>{"10.96.0.1"});
}

TEST_CASE("dns: a CNAME loop is malformed") {
  std::string reply = header(1, 0x0180, 1, 2) + question("a.example", kTypeA) +
                      record(wire_name("a.example"), kTypeCname, wire_name("b.example")) +
                      record(wire_name("b.example"), kTypeCname, wire_name("a.example"));
  Reply r = parse_reply(reply, 1, "a.example", kTypeA);
  CHECK(r.verdict == Reply::Verdict::malformed);
  CHECK(r.error.find("CNAME chain") != std::string::npos);
}

TEST_CASE("dns: NXDOMAIN and SERVFAIL are answers with their rcode") {
  Reply nx =
      parse_reply(header(3, 0x0183, 1, 0) + question("x.example", kTypeA), 3, "x.example", kTypeA);
  CHECK(nx.verdict == Reply::Verdict::ours);
  CHECK(nx.rcode == kRcodeNxDomain);
  CHECK(nx.addresses.empty());
  CHECK(rcode_name(nx.rcode) == "NXDOMAIN");
  // A refusal without the question is an answer too, but an NXDOMAIN without it is not.
  CHECK(parse_reply(header(3, 0x0185, 0, 0), 3, "x.example", kTypeA).verdict ==
        Reply::Verdict::ours);
  CHECK(parse_reply(header(3, 0x0183, 0, 0), 3, "x.example", kTypeA).verdict ==
        Reply::Verdict::not_ours);
}

TEST_CASE("dns: what is not the answer to our question is not ours") {
  std::string good = answer_a(7, "api.example");
  CHECK(parse_reply(good, 8, "api.example", kTypeA).verdict == Reply::Verdict::not_ours);
  CHECK(parse_reply(good, 7, "other.example", kTypeA).verdict == Reply::Verdict::not_ours);
  CHECK(parse_reply(good, 7, "api.example", kTypeAaaa).verdict == Reply::Verdict::not_ours);
  std::string query = build_query(7, "api.example", kTypeA);  // QR not set
  CHECK(parse_reply(query, 7, "api.example", kTypeA).verdict == Reply::Verdict::not_ours);
  CHECK(parse_reply(good.substr(0, 11), 7, "api.example", kTypeA).verdict ==
        Reply::Verdict::not_ours);
}

TEST_CASE("dns: hostile replies are malformed, never read past their end") {
  std::string good = answer_a(7, "api.example");
  // Cut anywhere after the question: the answer record is incomplete.
  std::size_t question_end = 12 + question("api.example", kTypeA).size();
  for (std::size_t n = question_end + 1; n < good.size(); ++n) {
    Reply r = parse_reply(good.substr(0, n), 7, "api.example", kTypeA);
    CHECK(r.verdict == Reply::Verdict::malformed);
  }
  // The same cut with TC set: the records that are whole are used, here none.
  std::string truncated = good;
  truncated[2] = static_cast<char>(truncated[2] | 0x02);
  Reply t = parse_reply(truncated.substr(0, good.size() - 2), 7, "api.example", kTypeA);
  CHECK(t.verdict == Reply::Verdict::ours);
  CHECK(t.truncated);
  CHECK(t.addresses.empty());
  // A huge answer count over a short reply: the bytes end the loop.
  std::string huge = good;
  huge[6] = '\xff';
  huge[7] = '\xff';
  Reply h = parse_reply(huge, 7, "api.example", kTypeA);
  CHECK(h.verdict == Reply::Verdict::malformed);
  CHECK(h.error.find("1 of 65535") != std::string::npos);
  // An A record of 5 bytes.
  std::string bad_a = header(7, 0x0180, 1, 1) + question("api.example", kTypeA) +
                      record(kPtrToQuestion, kTypeA, std::string("\1\2\3\4\5", 5));
  CHECK(parse_reply(bad_a, 7, "api.example", kTypeA).verdict == Reply::Verdict::malformed);
  // rdlength past the end.
  std::string past = good;
  past[past.size() - 5] = '\x40';
  CHECK(parse_reply(past, 7, "api.example", kTypeA).verdict == Reply::Verdict::malformed);
}

TEST_CASE("dns: compression pointers that loop or point outside are refused") {
  std::size_t at = 12;
  // A pointer to itself.
  std::string self = header(1, 0x0180, 1, 0) + std::string("\xc0\x0c", 2);
  CHECK_FALSE(read_name(self, at));
  // Two pointers to each other.
  std::string pair = header(1, 0x0180, 1, 0) + std::string("\xc0\x0e\xc0\x0c", 4);
  at = 12;
  CHECK_FALSE(read_name(pair, at));
  // A pointer past the end.
  std::string out = header(1, 0x0180, 1, 0) + std::string("\xc0\xff", 2);
  at = 12;
  CHECK_FALSE(read_name(out, at));
  // A label that runs past the end, and a reserved label type.
  std::string runs = header(1, 0x0180, 1, 0) + std::string(
                                                   "\x05"
                                                   "ab",
                                                   3);
  at = 12;
  CHECK_FALSE(read_name(runs, at));
  std::string reserved = header(1, 0x0180, 1, 0) + std::string(
                                                       "\x41"
                                                       "a\0",
                                                       3);
  at = 12;
  CHECK_FALSE(read_name(reserved, at));
  // A loop through labels grows the name until 255 bytes stop it.
  std::string grow = header(1, 0x0180, 1, 0) + std::string(
                                                   "\x01"
                                                   "a\xc0\x0c",
                                                   4);
  at = 12;
  CHECK_FALSE(read_name(grow, at));
  // The same loop as the question of a reply: malformed, not a crash.
  std::string reply = header(1, 0x0180, 1, 0) + std::string("\xc0\x0c", 2) + std::string(4, '\0');
  CHECK(parse_reply(reply, 1, "a", kTypeA).verdict == Reply::Verdict::malformed);
  // A good pointer: offset moves past the pointer only.
  std::string good = header(1, 0x0180, 1, 0) + wire_name("a.b") + std::string("\xc0\x0c", 2);
  at = 12 + 5;
  auto name = read_name(good, at);
  REQUIRE(name);
  CHECK(*name == wire_name("a.b"));
  CHECK(at == good.size());
}
