"""Shared helpers for lameduck's integration tests: run the real binary (optionally as PID 1
of a new PID namespace), signal it, and read what its child really received.

Other test files import from here::

    from conftest import SLACK, Lameduck, Sigecho, run_lameduck, wait_for

* fixtures: ``lameduck`` (start lameduck; everything it started is SIGKILLed at teardown),
  ``sigecho`` (a signal-echo child with its own log), ``echo_app`` (both, waiting until
  sigecho is ready *and* has blocked its signals: sigecho prints "ready" a moment before);
* ``run_lameduck(args)``: one-shot runs to the end (usage errors, exit codes);
* ``SigechoLog`` / ``Sigecho``: sigecho's lines (ready, signal, exit) with CLOCK_MONOTONIC
  times, the clock of ``time.monotonic()``;
* /proc helpers (``proc_stat``, ``children_of``, ``descendants_of``, ``alive``, ...),
  ``wait_for(predicate, timeout)``, ``base_env()`` (no KUBERNETES_*/LAMEDUCK_*/POD_*), and
  ``kill_marked(marker)`` for processes started with ``LDTEST_RUN_ID=<marker>`` in their
  environment.

Binaries: ``LAMEDUCK_BIN`` and ``SIGECHO_BIN`` (ctest sets them), else build/lameduck and
build/tests/sigecho. Timing slack for upper bounds: ``LDTEST_SLACK`` seconds (1.5). A
sanitizer build is detected; LeakSanitizer is turned off only where it cannot work (it
needs ptrace at exit, also as PID 1), see ``sanitizer_env()``.

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
import functools
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Optional, Sequence, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _binary(var: str, default: Path) -> str:
    value = os.environ.get(var)
    return os.path.abspath(value) if value else str(default)


LAMEDUCK_BIN = _binary("LAMEDUCK_BIN", ROOT / "build" / "lameduck")
SIGECHO_BIN = _binary("SIGECHO_BIN", ROOT / "build" / "tests" / "sigecho")

# Upper bounds are "expected time + SLACK": generous, for a busy 2-core machine.
SLACK = float(os.environ.get("LDTEST_SLACK", "1.5"))
# Default timeout for anything that should happen "soon".
TIMEOUT = float(os.environ.get("LDTEST_TIMEOUT", "10"))
# Lower bounds allow for the 6 decimals sigecho prints.
EPSILON = 0.002

MODES = ["plain", "pid1"]

# Every process a test starts carries this variable, so teardown finds them all, wherever
# they were re-parented. (Not LAMEDUCK_*: lameduck reads those.)
MARKER_VAR = _MARKER_VAR = "LDTEST_RUN_ID"

SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: \w+Sanitizer")

T = TypeVar("T")


class WaitTimeout(AssertionError):
    pass


def wait_for(predicate: Callable[[], T], timeout: float = TIMEOUT, interval: float = 0.01,
             message: str | Callable[[], str] = "condition") -> T:
    """Polls predicate until it returns something truthy, and returns that; raises
    WaitTimeout (an AssertionError) after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise WaitTimeout(f"timed out after {timeout}s waiting for {text}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    pgid: int


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
                    int(fields[2]))


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def all_stats() -> list[ProcStat]:
    out = []
    for pid in all_pids():
        stat = proc_stat(pid)
        if stat is not None:
            out.append(stat)
    return out


def children_of(pid: int) -> list[ProcStat]:
    return [s for s in all_stats() if s.ppid == pid]


def descendants_of(pid: int) -> list[ProcStat]:
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


def _exe(pid: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except OSError:
        return None


def _has_marker(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def kill_marked(marker: str) -> None:
    """SIGKILLs every process whose environment carries the marker, until none is left."""
    needle = f"{_MARKER_VAR}={marker}".encode()
    for _ in range(50):
        pids = [p for p in all_pids() if p != os.getpid() and _has_marker(p, needle)]
        pids = [p for p in pids if alive(p)]
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


# --------------------------------------------------------------------------------------
# environment probes (once per session)
# --------------------------------------------------------------------------------------

def base_env(**extra: str) -> dict[str, str]:
    """The test environment without anything that changes lameduck's defaults: no
    KUBERNETES_* (so --delay defaults to 0), no LAMEDUCK_*, no Pod identity."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAMEDUCK_", "KUBERNETES_", "POD_", _MARKER_VAR))}
    env.update(sanitizer_env())
    env.update(extra)
    return env


@functools.lru_cache(maxsize=None)
def _is_asan(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


@functools.lru_cache(maxsize=None)
def pid1_prefix() -> Optional[tuple[str, ...]]:
    """The command prefix that runs a program as PID 1 of a new PID namespace with its own
    /proc, or None where that is not permitted."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    for prefix in ([unshare, "--pid", "--fork", "--mount-proc"],
                   [unshare, "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]):
        try:
            r = subprocess.run([*prefix, "sh", "-c", "test $$ = 1"], capture_output=True,
                               timeout=20, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return tuple(prefix)
    return None


@functools.lru_cache(maxsize=None)
def sanitizer_env() -> dict[str, str]:
    """Extra environment for a sanitizer build. LeakSanitizer stops the world with ptrace
    at exit; where ptrace is not allowed (seccomp, some containers, under a debugger) it
    dies with exit code 1, which would replace lameduck's exit code. Probe it — as PID 1
    too — and turn leak detection off only when it does not work."""
    if not (_is_asan(LAMEDUCK_BIN) or _is_asan(SIGECHO_BIN)):
        return {}
    options = os.environ.get("ASAN_OPTIONS", "")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAMEDUCK_", "KUBERNETES_", "POD_"))}
    env["ASAN_OPTIONS"] = options
    probes = [[LAMEDUCK_BIN, "--", "true"]]
    if pid1_prefix():
        probes.append([*pid1_prefix(), LAMEDUCK_BIN, "--", "true"])
    for argv in probes:
        try:
            r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            continue
        if r.returncode != 0 and "LeakSanitizer" in r.stderr:
            sys.stderr.write("lameduck tests: LeakSanitizer does not work here "
                             f"({' '.join(argv[:2])}...); running with detect_leaks=0\n")
            options = f"{options}:detect_leaks=0" if options else "detect_leaks=0"
            break
    return {"ASAN_OPTIONS": options} if options else {}


def require_binaries() -> None:
    for path, var in ((LAMEDUCK_BIN, "LAMEDUCK_BIN"), (SIGECHO_BIN, "SIGECHO_BIN")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is not an executable: build first (ninja -C build) or set {var}",
                        pytrace=False)


def require_mode(mode: str) -> None:
    if mode == "pid1" and pid1_prefix() is None:
        pytest.skip("cannot create a PID namespace here (unshare --pid not permitted)")


# --------------------------------------------------------------------------------------
# running lameduck
# --------------------------------------------------------------------------------------

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


def _check_sanitizers(text: str) -> None:
    match = SANITIZER_REPORT.search(text)
    assert match is None, f"sanitizer report in lameduck's stderr:\n{text}"


def run_lameduck(args: Sequence[str], env: Optional[dict] = None, timeout: float = TIMEOUT,
                 mode: str = "plain") -> Result:
    """Runs lameduck with exactly these arguments to its end (for quick, one-shot cases:
    usage errors, exit codes of commands that end by themselves)."""
    require_binaries()
    require_mode(mode)
    prefix = list(pid1_prefix() or ()) if mode == "pid1" else []
    marker = uuid.uuid4().hex
    full_env = base_env(**(env or {}))
    full_env[_MARKER_VAR] = marker
    started = time.monotonic()
    try:
        r = subprocess.run([*prefix, LAMEDUCK_BIN, *args], env=full_env, capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                           start_new_session=True)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"lameduck {list(args)} did not end within {timeout}s: "
                             f"{e.stderr!r}") from None
    finally:
        kill_marked(marker)
    ended = time.monotonic()
    _check_sanitizers(r.stderr)
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
        self.env[_MARKER_VAR] = self.marker
        self.proc: Optional[subprocess.Popen] = None
        self.pid = 0
        self.launcher_pid = 0
        self.started_at = 0.0
        self.result: Optional[Result] = None

    # -- lifecycle ---------------------------------------------------------------------

    def argv(self) -> list[str]:
        own = [LAMEDUCK_BIN, *self.args, *(["--", *self.command] if self.command else [])]
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
            # Ready when the signalfd mask is in place (or it already ended).
            wait_for(lambda: self.proc.poll() is not None or not alive(self.pid)
                     or signal_mask(self.pid) & sigbit(signal.SIGTERM),
                     message="lameduck to block its signals")
        return self

    def _find_lameduck(self) -> int:
        want = os.path.realpath(LAMEDUCK_BIN)
        for child in children_of(self.launcher_pid):
            if _exe(child.pid) == want:
                return child.pid
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
        _check_sanitizers(self.result.stderr)
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


# --------------------------------------------------------------------------------------
# sigecho
# --------------------------------------------------------------------------------------

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
        return [SIGECHO_BIN, "--log", str(self.log_path), *args]

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


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------

@pytest.fixture
def lameduck(tmp_path):
    """``lameduck(args, command, mode="plain"|"pid1"|"reaper", env=None,
    block_signals=(), stderr_fd=None)`` starts lameduck; everything it started is
    SIGKILLed at teardown."""
    started: list[Lameduck] = []

    def start(args: Sequence[str] = (), command: Sequence[str] = (), **kwargs) -> Lameduck:
        ld = Lameduck(args, command, workdir=tmp_path, **kwargs)
        started.append(ld)
        return ld.start()

    yield start
    for ld in started:
        ld.kill()


@pytest.fixture
def sigecho(tmp_path):
    """``sigecho()`` returns a Sigecho with a fresh log file in tmp_path."""
    n = itertools.count(1)
    return lambda: Sigecho(tmp_path / f"sigecho-{next(n)}.log")


@pytest.fixture
def echo_app(lameduck, sigecho):
    """``echo_app(lameduck_args, *sigecho_args, mode=..., env=..., wait_for=("main",))``
    starts ``lameduck ARGS -- sigecho --log FILE SIGECHO_ARGS`` and waits until the named
    sigecho processes are ready. Returns (Lameduck, Sigecho)."""

    def start(args: Sequence[str] = (), *echo_args: str, mode: str = "plain",
              env: Optional[dict] = None, ready: Sequence[str] = ("main",),
              block_signals: Sequence[int] = ()) -> tuple[Lameduck, Sigecho]:
        echo = sigecho()
        ld = lameduck(args, echo.command(*echo_args), mode=mode, env=env,
                      block_signals=block_signals)
        echo.lameduck = ld
        for who in ready:
            # With --exit, main never blocks its signals: it sleeps, then exits.
            echo.wait_ready(who, listening=who != "main" or "--exit" not in echo_args)
        return ld, echo

    return start
