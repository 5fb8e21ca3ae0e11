// SPDX-License-Identifier: Apache-2.0
// DNS messages for lameduck's own resolver (resolver.h): a query for one name and one type
// (A or AAAA), and the checks on a reply before its addresses are believed. Everything
// here is pure: bytes in, bytes or a verdict out. A reply comes from the network, so every
// count, length and compression pointer is checked against the bytes that are there, and
// nothing grows with what a count claims.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lameduck::dns {

inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeCname = 5;
inline constexpr std::uint16_t kTypeAaaa = 28;
inline constexpr std::uint16_t kClassIn = 1;

inline constexpr std::uint8_t kRcodeNoError = 0;
inline constexpr std::uint8_t kRcodeFormErr = 1;
inline constexpr std::uint8_t kRcodeServFail = 2;
inline constexpr std::uint8_t kRcodeNxDomain = 3;
inline constexpr std::uint8_t kRcodeNotImp = 4;
inline constexpr std::uint8_t kRcodeRefused = 5;

inline constexpr std::size_t kMaxCnameHops = 16;  // a longer chain is refused (a loop)
inline constexpr std::size_t kMaxAddresses = 32;  // per reply; the rest is dropped

// "NXDOMAIN", "SERVFAIL", ..., "rcode 9".
std::string rcode_name(std::uint8_t rcode);

// name ("kubernetes.default.svc", one trailing dot allowed) in wire form: length-prefixed
// labels, lower case, ending with the root's 0. Empty when it is no valid host name for a
// query: an empty label, a label over 63 bytes, over 255 bytes in all.
std::string wire_name(std::string_view name);

// A standard query (RD set, one question, class IN) for name and qtype with id; empty when
// wire_name() refuses name.
std::string build_query(std::uint16_t id, std::string_view name, std::uint16_t qtype);

struct Reply {
  enum class Verdict {
    ours,       // the answer to our question: rcode, truncated and addresses hold
    not_ours,   // another id, not a response, another question: keep waiting
    malformed,  // claims to be ours but cannot be read: error says why
  };
  Verdict verdict = Verdict::malformed;
  std::uint8_t rcode = 0;
  bool truncated = false;
  // The addresses of name (or of the end of its CNAME chain), numeric ("10.96.0.1",
  // "fd00::1"), at most kMaxAddresses.
  std::vector<std::string> addresses;
  std::string error;
};

// Reads reply as the answer to build_query(id, name, qtype): the header's id, QR and
// opcode, the question echoed back (name compared case-insensitively), then the answer
// section: CNAME records from name on (at most kMaxCnameHops), and the A or AAAA records
// of a name in that chain. Authority and additional sections are not read.
Reply parse_reply(std::string_view reply, std::uint16_t id, std::string_view name,
                  std::uint16_t qtype);

// The name at offset in message, in wire form (lower case, uncompressed), following
// compression pointers (at most 64 hops, each to an offset inside message); offset moves
// past the name as it stands at offset. nullopt when the name runs out of the message, is
// longer than 255 bytes, uses a reserved label type or loops.
std::optional<std::string> read_name(std::string_view message, std::size_t& offset);

}  // namespace lameduck::dns
