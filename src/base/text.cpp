// SPDX-License-Identifier: Apache-2.0
#include "base/text.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace lameduck {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";     // U+2026

// The length of the well-formed UTF-8 sequence at text[0] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), 0 when there is none. Sets code_point.
std::size_t utf8_length(std::string_view text, char32_t& code_point) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char b0 = byte(0);
  if (b0 < 0x80) {
    code_point = b0;
    return 1;
  }
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) low = 0xA0;   // overlong
    if (b0 == 0xED) high = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) low = 0x90;   // overlong
    if (b0 == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  char32_t cp = b0 & (0xFF >> (length + 1));
  for (std::size_t i = 1; i < length; ++i) cp = (cp << 6) | (byte(i) & 0x3F);
  code_point = cp;
  return length;
}

bool is_space_control(char32_t cp) {
  return cp == '\t' || cp == '\n' || cp == '\v' || cp == '\f' || cp == '\r' || cp == 0x2028 ||
         cp == 0x2029;
}

bool is_control(char32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

// What one character (or one stray byte) at text[0] becomes; consumed is how many bytes.
std::string_view clean_piece(std::string_view text, std::size_t& consumed, char (&scratch)[8]) {
  char32_t cp = 0;
  std::size_t length = utf8_length(text, cp);
  if (length == 0) {
    consumed = 1;
    return kReplacement;
  }
  consumed = length;
  if (!is_control(cp)) return text.substr(0, length);
  if (is_space_control(cp)) return " ";
  int n = cp < 0x80 ? std::snprintf(scratch, sizeof scratch, "\\x%02x", static_cast<unsigned>(cp))
                    : std::snprintf(scratch, sizeof scratch, "\\u%04x", static_cast<unsigned>(cp));
  return std::string_view(scratch, static_cast<std::size_t>(n));
}

// How many bytes at the start of text are printable ASCII (space to '~'): text that
// clean_text keeps as it is; for json_quote (in_json) also without '"' and '\\'.
std::size_t plain_run(std::string_view text, bool in_json = false) {
  std::size_t n = 0;
  for (; n < text.size(); ++n) {
    char c = text[n];
    if (c < ' ' || c > '~' || (in_json && (c == '"' || c == '\\'))) break;
  }
  return n;
}

}  // namespace

std::string clean_text(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  // Where to cut when the result turns out too long: the last character boundary that
  // leaves room for the ellipsis.
  std::size_t budget = max_bytes >= kEllipsis.size() ? max_bytes - kEllipsis.size() : max_bytes;
  std::size_t cut = 0;
  char scratch[8];
  while (!text.empty()) {
    // Most text is printable ASCII, which stays as it is: a whole run at once (every byte
    // of it a character boundary).
    if (std::size_t run = plain_run(text); run > 0) {
      std::size_t before = out.size();
      std::size_t take = std::min(run, max_bytes - before);
      out.append(text.data(), take);
      if (before <= budget) cut = std::min(out.size(), budget);
      if (take < run) {
        out.resize(cut);
        if (max_bytes >= kEllipsis.size()) out += kEllipsis;
        return out;
      }
      text.remove_prefix(run);
      continue;
    }
    std::size_t consumed = 0;
    std::string_view piece = clean_piece(text, consumed, scratch);
    text.remove_prefix(consumed);
    if (out.size() + piece.size() > max_bytes) {
      out.resize(cut);
      if (max_bytes >= kEllipsis.size()) out += kEllipsis;
      return out;
    }
    out += piece;
    if (out.size() <= budget) cut = out.size();
  }
  return out;
}

bool is_clean_text(std::string_view text) {
  char scratch[8];
  while (!text.empty()) {
    if (std::size_t run = plain_run(text); run > 0) {
      text.remove_prefix(run);
      continue;
    }
    std::size_t consumed = 0;
    std::string_view piece = clean_piece(text, consumed, scratch);
    if (piece != text.substr(0, consumed)) return false;
    text.remove_prefix(consumed);
  }
  return true;
}

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  out.reserve(text.size() + 2);
  while (!text.empty()) {
    if (std::size_t run = plain_run(text, true); run > 0) {
      out.append(text.data(), run);
      text.remove_prefix(run);
      continue;
    }
    char32_t cp = 0;
    std::size_t length = utf8_length(text, cp);
    if (length == 0) {
      out += "\\ufffd";
      text.remove_prefix(1);
      continue;
    }
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (cp < 0x20 || cp == 0x7F) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(cp));
          out += escaped;
        } else {
          out += text.substr(0, length);
        }
    }
    text.remove_prefix(length);
  }
  out += '"';
  return out;
}

std::vector<std::string_view> split_words(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  std::vector<std::string_view> words;
  for (std::size_t start = text.find_first_not_of(kSpace); start != std::string_view::npos;) {
    std::size_t end = text.find_first_of(kSpace, start);
    words.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    start = end == std::string_view::npos ? end : text.find_first_not_of(kSpace, end);
  }
  return words;
}

}  // namespace lameduck
