// SPDX-License-Identifier: Apache-2.0
// The command line: the input's NUL-separated words are argv (after "lameduck"), parsed by
// lameduck's own parser (src/cli/parser.h) with no LAMEDUCK_* variable set.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli/options.h"
#include "fuzz_common.h"

using namespace lameduck;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::vector<std::string> names;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "LAMEDUCK_", 9) == 0) {
      names.emplace_back(*entry, std::strcspn(*entry, "="));
    }
  }
  for (const auto& name : names) unsetenv(name.c_str());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  std::vector<std::string> words;
  for (std::size_t start = 0; start <= text.size() && words.size() < 64;) {
    std::size_t end = text.find('\0', start);
    if (end == std::string_view::npos) end = text.size();
    words.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  std::vector<const char*> argv{"lameduck"};
  for (const auto& word : words) argv.push_back(word.c_str());
  try {
    Command command = parse_command_line(static_cast<int>(argv.size()), argv.data());
    if (const auto* help = std::get_if<Help>(&command); help != nullptr && help->text.empty()) {
      fuzz::fail("empty help", text);
    }
    if (const auto* run = std::get_if<RunOptions>(&command);
        run != nullptr && run->command.empty()) {
      fuzz::fail("a run without a command", text);
    }
  } catch (const SetupError& e) {
    if (std::string_view(e.what()).empty()) fuzz::fail("an empty usage error", text);
  }
  return 0;
}
