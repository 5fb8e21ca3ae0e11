# SPDX-License-Identifier: Apache-2.0
"""strace attached to a running process (measure.py's syscalls, traffic_drain.py)."""

import subprocess
import time


def attach_strace(pid, args):
    """strace ``args`` attached to ``pid``, returned once it has attached (it says so on
    stderr), plus a short pause so that the attach's own stops are over."""
    st = subprocess.Popen(["strace", *args, "-p", str(pid)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    buf = b""
    while b"attached" not in buf and time.monotonic() < deadline:
        chunk = st.stderr.read1(256)
        if not chunk:
            break
        buf += chunk
    time.sleep(0.2)
    return st
