// SPDX-License-Identifier: Apache-2.0
#include "base/text.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "kube/kube_api.h"

using namespace lameduck;

TEST_CASE("clean text: plain text stays, controls and bad bytes go") {
  CHECK(clean_text("pod web-1 in shop") == "pod web-1 in shop");
  CHECK(clean_text("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\xA6\x86") ==
        "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\xA6\x86");
  // A Status message cannot start a line that looks like PID 1's.
  CHECK(clean_text("denied\n2026-12-01T09:00:00.000Z lameduck[1] info: Pod left") ==
        "denied 2026-12-01T09:00:00.000Z lameduck[1] info: Pod left");
  CHECK(clean_text("a\r\tb") == "a  b");
  CHECK(clean_text("\x1b[2Jgone") == "\\x1b[2Jgone");
  CHECK(clean_text(std::string_view("nul\0x", 5)) == "nul\\x00x");
  CHECK(clean_text("del\x7f") == "del\\x7f");
  CHECK(clean_text("c1\xC2\x85") == "c1\\u0085");    // NEL
  CHECK(clean_text("ls\xE2\x80\xA8ps") == "ls ps");  // U+2028
  CHECK(clean_text("web\xff") == "web\xEF\xBF\xBD");
  CHECK(clean_text("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  CHECK(clean_text("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  CHECK(clean_text("\xF4\x90\x80\x80").find("\xF4") == std::string::npos);      // > U+10FFFF
  CHECK(clean_text("cut\xE2\x82") == "cut\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("clean text: a cut falls on a character boundary and says so") {
  CHECK(clean_text("abcdef", 6) == "abcdef");
  CHECK(clean_text("abcdefg", 6) == "abc\xE2\x80\xA6");
  // 119 ASCII bytes and a 3-byte euro sign: the old 120-byte cut split the euro sign.
  std::string body(119, 'x');
  body += "\xE2\x82\xAC and more";
  std::string cut = clean_text(body, 120);
  CHECK(cut.size() <= 120);
  CHECK(is_clean_text(cut));
  CHECK(cut.substr(cut.size() - 3) == "\xE2\x80\xA6");
  CHECK(clean_text("\xE2\x82\xAC\xE2\x82\xAC", 5) == "\xE2\x80\xA6");
  CHECK(clean_text("abc", 2) == "ab");
  CHECK(clean_text("abc", 0).empty());
  // An escape is never cut in the middle.
  CHECK(clean_text("ab\x1b", 5) == "ab\xE2\x80\xA6");
}

TEST_CASE("clean text: cleaning twice changes nothing") {
  for (std::string s :
       {std::string("web\xff\n\x1b"), std::string(300, '\xE2'), std::string("ok")}) {
    for (std::size_t limit : {kNoLimit, std::size_t{7}, std::size_t{120}}) {
      auto once = clean_text(s, limit);
      CHECK(is_clean_text(once));
      CHECK(clean_text(once, limit) == once);
    }
  }
  CHECK_FALSE(is_clean_text("a\nb"));
  CHECK_FALSE(is_clean_text("\xff"));
}

TEST_CASE("json_quote is valid JSON whatever the bytes") {
  CHECK(json_quote("a\"b\\c\n") == "\"a\\\"b\\\\c\\n\"");
  CHECK(json_quote("\x1b") == "\"\\u001b\"");
  for (std::string s : {std::string("web\xff"), std::string("\xC3"), std::string("\xED\xA0\x80"),
                        std::string("caf\xC3\xA9")}) {
    auto parsed = nlohmann::json::parse(json_quote(s), nullptr, false);
    REQUIRE(parsed.is_string());
  }
  CHECK(nlohmann::json::parse(json_quote("web\xff")).get<std::string>() == "web\xEF\xBF\xBD");
}

TEST_CASE("status messages are one clean line (found by fuzz_status)") {
  // fuzz/regressions/fuzz_status: 119 bytes and a euro sign; the 120-byte cut split it.
  std::string body(119, 'x');
  body += "\xE2\x82\xAC";
  auto message = status_message(body);
  CHECK(is_clean_text(message));
  CHECK(message.size() <= 120);
  CHECK(nlohmann::json(message).dump().size() > 2);  // does not throw
  auto forged = status_message(
      R"({"kind":"Status","message":"no\n2026-12-01T00:00:00.000Z lameduck[1] info: x\u001b"})");
  CHECK(forged == "no 2026-12-01T00:00:00.000Z lameduck[1] info: x\\x1b");
}
