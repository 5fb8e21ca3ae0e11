// SPDX-License-Identifier: Apache-2.0
// The idle footprint: what lameduck gives back once the app runs and only waiting is left.
#pragma once

namespace lameduck {

// Start-up is over: the next EventLoop::wait() unmaps this process's view of the
// executable's read-only segments (code, constants; MADV_DONTNEED) right before it blocks.
// The pages stay in the page cache, shared and clean; only those touched again are mapped
// back, so the idle VmRSS and Pss no longer count start-up code (option parsing, logging
// set-up, spawning the app) -- only the few pages between that call and poll().
// Writable segments are never touched. Errors are ignored: they only cost memory.
void release_startup_pages_at_next_wait();

// Called by EventLoop::wait() just before poll(); does nothing unless requested (once).
void release_startup_pages_if_requested();

}  // namespace lameduck
