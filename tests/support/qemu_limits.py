# SPDX-License-Identifier: Apache-2.0
"""What the integration tests cannot check when lameduck runs under qemu-user (the arm64
static binary on an amd64 machine, ``LDTEST_EMULATOR=qemu-aarch64-static``), and why.

Each entry is a regular expression on the test's node id and the reason; pytest skips
the matching tests (tests/integration/conftest.py) with ``qemu-user: <reason>`` when LAMEDUCK_BIN is for another
architecture. These are limits of the emulator, checked against qemu 7.2 (Debian 12's
qemu-user-static): on real arm64 hardware the same tests run unchanged. Everything else —
signals, exit codes, reaping as PID 1, --delay and --kill-after, the EndpointSlice wait and
prestop against the fake API (TLS included), the empty root, install — runs under qemu.
"""

from __future__ import annotations

import re

# qemu-user's prctl() returns EINVAL for PR_SET_CHILD_SUBREAPER (in qemu 7.2 it is one of
# the options "not yet" passed through; newer qemu passes it on), so a lameduck that is
# not PID 1 cannot become a child subreaper: it warns and orphans go to the real reaper.
# As PID 1 (mode "pid1") orphans come to it anyway, and those tests run.
_SUBREAPER = ("prctl(PR_SET_CHILD_SUBREAPER) fails with EINVAL under qemu-user, so a "
              "lameduck that is not PID 1 cannot adopt orphans (and logs a warning)")

# qemu-user keeps host real-time signals for itself and shifts the rest: guest SIGRTMIN is
# host SIGRTMIN+1 (and host SIGRTMIN becomes the guest's SIGABRT), so a real-time signal
# sent from outside reaches the emulated lameduck as another signal, or not at all.
_RTSIG = ("qemu-user maps real-time signals to other host signal numbers (guest SIGRTMIN "
          "= host SIGRTMIN+1), so one sent from outside arrives as another signal")

# Without binfmt_misc the kernel cannot exec an arm64 program by itself: a child must be
# started through the emulator explicitly, which a command found by lameduck's own PATH
# search cannot be.
_EXEC = ("without binfmt_misc an arm64 child found by lameduck's PATH search cannot be "
         "exec'd (the emulator must be named explicitly)")

# The fault soak measures lameduck's VmHWM and /proc/PID/fd: under qemu-user those are the
# emulator's (its translation buffers and its own descriptors), and 200 emulated drains
# would take much of CI's time. The same faults run natively in every other pass.
_SOAK = ("the fault soak's memory and descriptor checks would measure qemu-user itself; "
         "it runs natively")

# qemu-user needs the host's synchronous fault signals for the guest's own faults: its host
# handler takes a SEGV/BUS/FPE/ILL that another process sent with kill(2), and the
# emulated lameduck's signalfd does not see it in time, or at all (qemu 7.2: observed
# lost for SEGV, BUS and ILL, late for FPE; ABRT, TRAP and SYS are forwarded).
_FAULT_KILL = ("qemu-user's own handler takes a SEGV/BUS/FPE/ILL sent with kill(2); the "
               "emulated lameduck's signalfd never gets it")

LIMITS: list[tuple[str, str]] = [
    (r"test_fault_soak\.py::", _SOAK),
    (r"test_pid1\.py::.*\[plain\]", _SUBREAPER),
    (r"test_pid1\.py::test_subreaper_adopts_daemons", _SUBREAPER),
    (r"test_orphans\.py::.*plain\]", _SUBREAPER),
    (r"test_exit_codes\.py::test_(not_executable_file|directory)_gives_126\[plain\]", _SUBREAPER),
    (r"test_exit_codes\.py::test_not_found_gives_127\[.*-plain\]", _SUBREAPER),
    (r"test_usage\.py::test_log_level_warn_keeps_only_warnings", _SUBREAPER),
    (r"test_signals\.py::.*\[RT(MIN|MAX)", _RTSIG),
    (r"test_signals\.py::test_several_signals_arrive_in_order", _RTSIG),
    (r"test_signals\.py::test_rewrite\[RTMIN", _RTSIG),
    (r"test_signals\.py::test_fault_signal_sent_with_kill_is_forwarded\[(SEGV|BUS|FPE|ILL)-",
     _FAULT_KILL),
]

# Only when the test child (SIGECHO_BIN) is an arm64 build too. CI runs the arm64 pass with
# the build machine's sigecho (the child's architecture is not what is tested, and a native
# child keeps the signal-timing assertions exact); the empty-root test uses the arm64
# static sigecho through the emulator copied into the root.
LIMITS_FOREIGN_CHILD: list[tuple[str, str]] = [
    (r"test_exit_codes\.py::test_command_is_searched_in_path", _EXEC),
]


def reason_for(nodeid: str, foreign_child: bool) -> str | None:
    for pattern, reason in LIMITS + (LIMITS_FOREIGN_CHILD if foreign_child else []):
        if re.search(pattern, nodeid):
            return reason
    return None
