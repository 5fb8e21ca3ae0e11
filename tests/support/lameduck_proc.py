# SPDX-License-Identifier: Apache-2.0
"""Running lameduck: ``run_lameduck`` for one-shot runs, ``Lameduck`` for a process the
test signals and watches.

Modes in which lameduck runs (``mode=``):

* ``"plain"``:  a child of the test process, as outside a container (lameduck makes itself
  a child subreaper);
* ``"pid1"``:   PID 1 of a new PID namespace via ``unshare --pid --fork --mount-proc``
  (skipped where unshare is not permitted); ``Lameduck.pid`` is the host PID,
  ``Lameduck.ns_pid`` the PID its children see (1);
* ``"reaper"``: a child of a small Python wrapper that is itself a child subreaper, so
  orphans that lameduck does not adopt land somewhere known (``Lameduck.launcher_pid``).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Optional, Sequence

from .env import (LAMEDUCK_BIN, MARKER_VAR, base_env, check_sanitizers, kill_marked,
                  lameduck_argv, pid1_prefix, process_image, require_binaries, require_mode)
from .procfs import ProcStat, alive, children_of, descendants_of, exe, listens_for_signals, \
    proc_stat, proc_status
from .wait import TIMEOUT, wait_for


@dataclasses.dataclass
class Result:
    code: int          # exit code (negative: killed by that signal, which is a bug)
    stderr: str
    stdout: str
    started_at: float  # time.monotonic() just before the launch
    ended_at: float    # time.monotonic() right when the exit was seen

    @property
    def elapsed(self) -> float:
        return self.ended_at - self.started_at

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_lameduck(args: Sequence[str], env: Optional[dict] = None, timeout: float = TIMEOUT,
                 mode: str = "plain") -> Result:
    """Runs lameduck with exactly these arguments to its end (for quick, one-shot cases:
    usage errors, exit codes of commands that end by themselves)."""
    require_binaries()
    require_mode(mode)
    prefix = list(pid1_prefix() or ()) if mode == "pid1" else []
    marker = uuid.uuid4().hex
    full_env = base_env(**(env or {}))
    full_env[MARKER_VAR] = marker
    started = time.monotonic()
    try:
        r = subprocess.run([*prefix, *lameduck_argv(*args)], env=full_env, capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                           start_new_session=True)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"lameduck {list(args)} did not end within {timeout}s: "
                             f"{e.stderr!r}") from None
    finally:
        kill_marked(marker)
    ended = time.monotonic()
    check_sanitizers(r.stderr)
    return Result(r.returncode, r.stderr, r.stdout, started, ended)


# A parent that is a child subreaper: lameduck's orphans that lameduck does not adopt are
# re-parented to it. It logs "reaped PID" for every process it reaps, and exits with
# lameduck's status.
_REAPER = r"""
import ctypes, os, signal, sys
log = open(sys.argv[1], "a", buffering=1)
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit(124)
child = os.fork()
if child == 0:
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; exec keeps that
        signal.signal(sig, signal.SIG_DFL)
    os.execv(sys.argv[2], sys.argv[2:])
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        pid, status = os.waitpid(-1, 0)
    except ChildProcessError:
        os._exit(124)
    log.write(f"reaped {pid}\n")
    if pid == child:
        code = os.waitstatus_to_exitcode(status)
        os._exit(code if code >= 0 else 128 - code)
"""

_counter = itertools.count(1)


class Lameduck:
    """One lameduck process: ``Lameduck(args, command, workdir=..., mode=...).start()``.

    ``pid`` is its host PID (the one to signal); ``ns_pid`` is the PID its children see
    (1 as PID 1). stderr and stdout go to files in workdir, readable while it runs."""

    def __init__(self, args: Sequence[str] = (), command: Sequence[str] = (), *,
                 workdir: Path, mode: str = "plain", env: Optional[dict] = None,
                 block_signals: Sequence[int] = (), stderr_fd: Optional[int] = None):
        assert mode in ("plain", "pid1", "reaper"), mode
        self.args = list(args)
        self.command = list(command)
        self.mode = mode
        self.block_signals = list(block_signals)
        self.stderr_fd = stderr_fd  # instead of the stderr file (e.g. a pipe)
        n = next(_counter)
        self.workdir = Path(workdir)
        self.stderr_path = self.workdir / f"lameduck-{n}.stderr"
        self.stdout_path = self.workdir / f"lameduck-{n}.stdout"
        self.reaped_path = self.workdir / f"lameduck-{n}.reaped"
        self.marker = uuid.uuid4().hex
        self.env = base_env(**(env or {}))
        self.env[MARKER_VAR] = self.marker
        self.proc: Optional[subprocess.Popen] = None
        self.pid = 0
        self.launcher_pid = 0
        self.started_at = 0.0
        self.result: Optional[Result] = None

    # -- lifecycle ---------------------------------------------------------------------

    def argv(self) -> list[str]:
        own = lameduck_argv(*self.args, *(["--", *self.command] if self.command else []))
        if self.mode == "pid1":
            return [*pid1_prefix(), *own]
        if self.mode == "reaper":
            return [sys.executable, "-c", _REAPER, str(self.reaped_path), *own]
        return own

    def start(self) -> "Lameduck":
        require_binaries()
        require_mode(self.mode)
        blocked = self.block_signals

        def preexec():
            if blocked:
                signal.pthread_sigmask(signal.SIG_BLOCK, blocked)

        with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err if self.stderr_fd is None else self.stderr_fd,
                                         env=self.env, start_new_session=True,
                                         preexec_fn=preexec if blocked else None)
        self.launcher_pid = self.proc.pid
        if self.mode == "plain":
            self.pid = self.proc.pid
        else:
            self.pid = wait_for(self._find_lameduck, message=lambda: (
                f"lameduck to start under {self.argv()[0]}: {self.stderr()}"))
            if self.pid < 0:  # it ended already
                self.pid = 0
        if self.pid:
            # Ready when the signalfd mask is in place (or it already ended); an idle
            # lameduck waits in rt_sigtimedwait, which unblocks what it waits for.
            wait_for(lambda: self.proc.poll() is not None or not alive(self.pid)
                     or listens_for_signals(self.pid),
                     message="lameduck to block its signals")
        return self

    def _find_lameduck(self) -> int:
        want = process_image(LAMEDUCK_BIN)
        for child in children_of(self.launcher_pid):
            if exe(child) == want:
                return child
        if self.proc.poll() is not None:
            return -1
        return 0

    @property
    def ns_pid(self) -> int:
        """lameduck's PID as its children see it (their ppid, the sender of its signals)."""
        return 1 if self.mode == "pid1" else self.pid

    def signal(self, sig: int) -> float:
        """Sends sig to lameduck; returns time.monotonic() from just before sending."""
        assert self.pid, "lameduck is not running"
        t = time.monotonic()
        os.kill(self.pid, sig)
        return t

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float = TIMEOUT) -> Result:
        """Waits for the end; fails the test if it does not come within timeout."""
        if self.result is not None:
            return self.result
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"lameduck did not exit within {timeout}s; stderr:\n"
                                 f"{self.stderr()}") from None
        ended = time.monotonic()
        self.result = Result(code, self.stderr(), self.stdout(), self.started_at, ended)
        check_sanitizers(self.result.stderr)
        return self.result

    def kill(self) -> None:
        """Teardown: SIGKILL lameduck (as PID 1 that ends its whole namespace), its
        launcher, and every process started with this run's environment."""
        if self.proc is None:
            return
        # Only while the launcher is not reaped: after that its PID could be reused.
        if self.proc.poll() is None:
            for pid in (self.pid, self.launcher_pid):
                try:
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(self.launcher_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        kill_marked(self.marker)
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            pass

    # -- what it said ------------------------------------------------------------------

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def wait_stderr(self, pattern: str, timeout: float = TIMEOUT) -> re.Match:
        """Waits until a line of stderr matches the regex; returns the match."""
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.stderr()), timeout,
                        message=lambda: f"/{pattern}/ in lameduck's stderr:\n{self.stderr()}")

    def reaped_by_launcher(self) -> list[int]:
        """mode="reaper": the PIDs the wrapper reaped (lameduck's own PID last)."""
        if not self.reaped_path.exists():
            return []
        return [int(line.split()[1]) for line in self.reaped_path.read_text().splitlines()
                if line.startswith("reaped ")]

    # -- the processes it runs ---------------------------------------------------------

    def state(self) -> Optional[str]:
        stat = proc_stat(self.pid)
        return stat.state if stat else None

    def namespace_processes(self) -> list[ProcStat]:
        """Everything below lameduck (as PID 1: the rest of its PID namespace)."""
        return descendants_of(self.pid)

    def host_pid(self, pid: int) -> int:
        """The host PID of a process that lameduck's children know as pid."""
        if self.mode != "pid1":
            return pid
        if pid == 1:
            return self.pid
        for stat in descendants_of(self.pid):
            nspid = (proc_status(stat.pid, "NSpid") or "").split()
            if nspid and int(nspid[-1]) == pid:
                return stat.pid
        raise LookupError(f"no process {pid} in lameduck's namespace")
