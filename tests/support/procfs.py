# SPDX-License-Identifier: Apache-2.0
"""Reading /proc: process stat lines, parents and children, signal masks, executables.

Used by the tests and by demo/ and bench/ (which put tests/ on sys.path).
"""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path
from typing import Optional


@dataclasses.dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    pgid: int
    sid: int = 0  # the session id


def proc_stat(pid: int) -> Optional[ProcStat]:
    """/proc/PID/stat, or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return parse_stat_line(text)


def parse_stat_line(text: str) -> ProcStat:
    """One /proc/PID/stat line; comm may contain spaces and parentheses."""
    close = text.rindex(")")
    pid = int(text[: text.index("(")].strip())
    fields = text[close + 2:].split()
    return ProcStat(pid, text[text.index("(") + 1: close], fields[0], int(fields[1]),
                    int(fields[2]), int(fields[3]))


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def all_stats() -> list[ProcStat]:
    out = []
    for pid in all_pids():
        stat = proc_stat(pid)
        if stat is not None:
            out.append(stat)
    return out


# Where the kernel has CONFIG_PROC_CHILDREN: /proc/PID/task/TID/children.
_CHILDREN_FILES = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def children_of(pid: int) -> list[int]:
    """The PIDs of pid's children, zombies included ([] when pid is gone).

    Reads the children lists of all of pid's threads (a child is listed under the thread
    that forked it), which costs a few reads, not a scan of /proc: demo/ and bench/ poll
    it while they measure. Falls back to the scan where the kernel has no such files."""
    if not _CHILDREN_FILES:
        return [s.pid for s in all_stats() if s.ppid == pid]
    kids = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return kids
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass  # that thread (or the whole process) ended meanwhile
    return kids


def descendant_pids(pid: int) -> list[int]:
    """The PIDs of pid's children, their children, ... (depth first)."""
    out = []
    for child in children_of(pid):
        out.append(child)
        out.extend(descendant_pids(child))
    return out


def descendants_of(pid: int) -> list[ProcStat]:
    """``proc_stat`` of every descendant of pid (one consistent scan of /proc)."""
    stats = all_stats()
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for s in stats:
            if s.ppid == parent:
                out.append(s)
                todo.append(s.pid)
    return out


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    stat = proc_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def proc_status(pid: int, field: str) -> Optional[str]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == field:
                return value.strip()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def signal_mask(pid: int, field: str = "SigBlk") -> int:
    value = proc_status(pid, field)
    return int(value, 16) if value else 0


def sigbit(sig: int) -> int:
    return 1 << (sig - 1)


_SIGTIMEDWAIT_NR = {"x86_64": 128, "aarch64": 137, "riscv64": 137}.get(os.uname().machine)


def listens_for_signals(pid: int) -> bool:
    """True when pid blocks SIGTERM, or sits in sigwaitinfo() (which, while it waits,
    unblocks the signals it waits for, so SigBlk alone does not tell)."""
    if signal_mask(pid) & sigbit(signal.SIGTERM):
        return True
    try:
        if "sigtimedwait" in Path(f"/proc/{pid}/wchan").read_text():
            return True
        nr = Path(f"/proc/{pid}/syscall").read_text().split()[0]
        return nr.isdigit() and int(nr) == _SIGTIMEDWAIT_NR
    except (OSError, IndexError):
        return False


def exe(pid: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except OSError:
        return None
