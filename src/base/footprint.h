// SPDX-License-Identifier: Apache-2.0
// The idle footprint: what lameduck gives back once the app runs and only waiting is left.
#pragma once

#include <optional>

#include "base/duration.h"

namespace lameduck {

// How long lameduck must have been waiting before the release: a run that ends sooner
// (`lameduck -- /bin/true`, a short job) never pays for mapping its exit path back in.
inline constexpr Millis kStartupSettle{100};

// Start-up is over: once EventLoop::wait() has waited kStartupSettle after now, it unmaps
// this process's view of the executable's read-only segments (code, constants;
// MADV_DONTNEED) right before it blocks again. The pages stay in the page cache, shared
// and clean; only those touched again are mapped back, so the idle VmRSS and Pss no longer
// count start-up code (option parsing, logging set-up, spawning the app) -- only the few
// pages between that call and poll(). Writable segments are never touched. Errors are
// ignored: they only cost memory.
void release_startup_pages_after_settle(TimePoint now);

// When the requested release is due; nullopt when none is pending.
std::optional<TimePoint> startup_release_due();

// Releases now (EventLoop::wait() calls it just before poll() once it is due); does
// nothing unless requested, and only once.
void release_startup_pages_if_requested();

}  // namespace lameduck
