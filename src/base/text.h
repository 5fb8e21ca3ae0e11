// SPDX-License-Identifier: Apache-2.0
// Text that lameduck did not write (API bodies and Status messages, watch events, file
// contents, environment and command-line values, control-socket requests) is cleaned
// once, where it comes in, so that no log line can be forged and no JSON output breaks.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace lameduck {

inline constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();

// Valid UTF-8 without control characters, at most max_bytes long:
// * a byte that is not part of well-formed UTF-8 becomes U+FFFD;
// * tab, newline, CR, VT, FF, U+2028 and U+2029 become a space (a message cannot start a
//   new log line); other C0 controls, DEL and C1 controls become a visible \xNN or \uNNNN;
// * a longer result is cut on a character boundary and ends with "…" (max_bytes counts it).
// Clean text stays as it is: cleaning twice changes nothing.
std::string clean_text(std::string_view text, std::size_t max_bytes = kNoLimit);

// True when clean_text(text) == text.
bool is_clean_text(std::string_view text);

// text as a JSON string literal, quotes included; valid JSON whatever the bytes (bytes
// that are not UTF-8 become \ufffd).
std::string json_quote(std::string_view text);

// The words of text between runs of white space (space, tab, newline, CR, VT, FF), as
// `istream >> word` reads them; views into text.
std::vector<std::string_view> split_words(std::string_view text);

}  // namespace lameduck
