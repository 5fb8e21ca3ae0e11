# SPDX-License-Identifier: Apache-2.0
"""sigecho, the signal-echo test child: its log lines (ready, signal, exit, with
CLOCK_MONOTONIC times, the clock of ``time.monotonic()``) and waiting for them."""

from __future__ import annotations

import dataclasses
import re
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .env import SIGECHO_BIN, emulated
from .procfs import alive, listens_for_signals
from .wait import TIMEOUT, wait_for

if TYPE_CHECKING:
    from .lameduck_proc import Lameduck


@dataclasses.dataclass(frozen=True)
class Ready:
    t: float
    who: str
    pid: int
    pgid: Optional[int] = None
    ppid: Optional[int] = None
    blocked: Optional[int] = None
    ignored: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class Received:
    t: float
    who: str
    name: str
    signo: int
    sender: int


@dataclasses.dataclass(frozen=True)
class Exited:
    t: float
    who: str
    code: Optional[int]      # exit code, or None when it died of a signal
    died_of: Optional[int]   # the signal it re-raised (--die-on)


_LINE = re.compile(r"^(?P<t>\d+\.\d+) (?P<kind>ready|signal|exit) (?P<rest>.*)$")


class SigechoLog:
    """The parsed lines of one sigecho log (complete lines only)."""

    def __init__(self, text: str):
        self.text = text
        self.ready_lines: list[Ready] = []
        self.received: list[Received] = []
        self.exits: list[Exited] = []
        lines = text.split("\n")
        for line in lines[:-1]:  # the last piece is empty or an unfinished line
            m = _LINE.match(line)
            if not m:
                continue
            t, kind, rest = float(m["t"]), m["kind"], m["rest"]
            if kind == "ready":
                kv = dict(p.split("=", 1) for p in rest.split() if "=" in p)
                num = lambda k, base=10: int(kv[k], base) if k in kv else None  # noqa: E731
                self.ready_lines.append(Ready(t, kv["who"], int(kv["pid"]), num("pgid"),
                                              num("ppid"), num("blocked", 16),
                                              num("ignored", 16)))
            elif kind == "signal":
                parts = rest.split()
                kv = dict(p.split("=", 1) for p in parts[2:])
                self.received.append(Received(t, kv["who"], parts[0], int(parts[1]),
                                              int(kv["from"])))
            else:
                parts = rest.split()
                who = parts[-1].split("=", 1)[1]
                if parts[0] == "die":
                    self.exits.append(Exited(t, who, None, int(parts[1])))
                else:
                    self.exits.append(Exited(t, who, int(parts[0]), None))

    def ready(self, who: str = "main") -> Optional[Ready]:
        return next((r for r in self.ready_lines if r.who == who), None)

    def signals(self, who: Optional[str] = "main") -> list[Received]:
        return [r for r in self.received if who is None or r.who == who]

    def signal_numbers(self, who: Optional[str] = "main") -> list[int]:
        return [r.signo for r in self.signals(who)]

    def first(self, signo: int, who: str = "main") -> Optional[Received]:
        return next((r for r in self.signals(who) if r.signo == signo), None)

    def exit(self, who: str = "main") -> Optional[Exited]:
        return next((e for e in self.exits if e.who == who), None)


class Sigecho:
    """One sigecho log file and the command that writes it.

    ``lameduck``: the Lameduck it runs under, if any (to map its PIDs to host PIDs)."""

    def __init__(self, log_path: Path, lameduck: Optional["Lameduck"] = None):
        self.log_path = Path(log_path)
        self.lameduck = lameduck

    def command(self, *args: str) -> list[str]:
        return [*emulated(SIGECHO_BIN), SIGECHO_BIN, "--log", str(self.log_path), *args]

    def read(self) -> SigechoLog:
        try:
            return SigechoLog(self.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            return SigechoLog("")

    def _wait(self, get, what: str, timeout: float):
        return wait_for(lambda: get(self.read()), timeout,
                        message=lambda: f"{what}; sigecho log:\n{self.read().text}")

    def host_pid(self, pid: int) -> int:
        """The host PID for a PID in the log (0 if that process is gone)."""
        try:
            return self.lameduck.host_pid(pid) if self.lameduck else pid
        except LookupError:
            return 0

    def wait_ready(self, who: str = "main", timeout: float = TIMEOUT,
                   listening: bool = True) -> Ready:
        """Waits for the ready line of who, and (listening=True) until it has blocked its
        signals to log them: sigecho prints "ready" just before it blocks them, and a signal
        in between would get the default action (e.g. SIGQUIT would kill it)."""
        ready = self._wait(lambda log: log.ready(who), f"sigecho {who} to be ready", timeout)
        if listening:
            pid = self.host_pid(ready.pid)
            wait_for(lambda: not alive(pid) or listens_for_signals(pid),
                     timeout, message=f"sigecho {who} (pid {pid}) to block its signals")
        return ready

    def wait_signal(self, signo: int, who: str = "main", timeout: float = TIMEOUT,
                    after: float = 0.0) -> Received:
        """Waits for the first signo received (at or after monotonic time ``after``)."""
        return self._wait(
            lambda log: next((r for r in log.signals(who) if r.signo == signo and r.t >= after),
                             None),
            f"sigecho {who} to receive {signal_label(signo)}", timeout)

    def wait_exit(self, who: str = "main", timeout: float = TIMEOUT) -> Exited:
        return self._wait(lambda log: log.exit(who), f"sigecho {who} to exit", timeout)


def signal_label(signo: int) -> str:
    try:
        return signal.Signals(signo).name
    except ValueError:
        if signal.SIGRTMIN <= signo <= signal.SIGRTMAX:
            return f"SIGRTMIN+{signo - signal.SIGRTMIN}"
        return str(signo)
