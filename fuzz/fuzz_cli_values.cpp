// SPDX-License-Identifier: Apache-2.0
// Values from the command line and the environment: durations, signals, --rewrite specs.
#include "base/duration.h"
#include "base/errors.h"
#include "fuzz_common.h"
#include "init/signals.h"

using namespace lameduck;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  if (auto d = parse_duration(text)) {
    if (d->count() < 0) fuzz::fail("negative duration", text);
    auto again = parse_duration(format_duration(*d));
    if (!again || *again != *d) fuzz::fail("format_duration does not parse back", text);
  }
  if (auto sig = parse_signal(text)) {
    auto again = parse_signal(signal_name(*sig));
    if (!again || *again != *sig) fuzz::fail("signal_name does not parse back", text);
  }
  SignalRewrite rewrite;
  try {
    rewrite.add(text);
    for (int sig = 1; sig < 65; ++sig) (void)rewrite.apply(sig);
  } catch (const SetupError& e) {
    (void)clean_text(e.what());
  }
  return 0;
}
