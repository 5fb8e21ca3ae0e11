# SPDX-License-Identifier: Apache-2.0
"""`lameduck prestop`: alone (its own wait), and together with a lameduck PID 1 (one wait,
asked over the abstract control socket, with peer checks).

PID 1 runs in a new PID namespace (``unshare --pid --fork --mount-proc``); the hook runs
inside that namespace as the kubelet would run it (``nsenter --target PID1 --pid --mount``).
Timing bounds are generous (``SLACK``) for a busy 2-core machine. Run:

    /usr/bin/python3 -m pytest -q tests/integration/test_prestop.py
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import pathlib
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from typing import Optional, Sequence

import pytest

from fakeapi.slices import endpoint, slice, terminating
from support.env import (PYTHON, SANITIZER_REPORT, base_env, lameduck_argv, pid1_prefix,
                         require_binaries)
from support.lameduck_proc import Lameduck
from support.procfs import children_of, listens_for_signals
from support.wait import SLACK, TIMEOUT, wait_for

NOBODY = 65534
# A hook's summary after its own fixed delay: the delay and its "over" line filled in; the
# drained phase is 0s, or a few ms on a slow machine (qemu-user).
DRAINED_SUMMARY = r"drain summary: delay {}, drained [\d.]+m?s; ended by: delay {} over"
_counter = itertools.count(1)


@functools.lru_cache(maxsize=None)
def slack() -> float:
    """SLACK plus what starting and ending the binary costs here (seconds under ASan), for
    bounds on a whole process's run time."""
    require_binaries()
    cost = 0.0
    for _ in range(2):
        started = time.monotonic()
        subprocess.run(lameduck_argv("prestop", "--check"), env=base_env(), capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)
        cost = max(cost, time.monotonic() - started)
    return SLACK + 4 * cost


def logged_at(log: str, text: str) -> float:
    """Seconds since the drain began (the "t=+Nms" field) of the line containing text."""
    for line in log.splitlines():
        m = re.search(r"t=\+(\d+)ms (.*)", line)
        if m and text in m[2]:
            return int(m[1]) / 1000
    raise AssertionError(f"no line with {text!r} in:\n{log}")


def needs_nsenter():
    """The tests that enter PID 1's namespace need root (nsenter --pid, setpriv)."""
    prefix = pid1_prefix()
    if prefix is None:
        pytest.skip("cannot create a PID namespace here (unshare --pid not permitted)")
    if "--user" in prefix or os.geteuid() != 0:
        pytest.skip("entering the PID namespace with nsenter needs root")
    for tool in ("nsenter", "setpriv", "unshare"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (util-linux)")


def ns_inode(host_pid: int) -> int:
    return os.stat(f"/proc/{host_pid}/ns/pid").st_ino


class Hook:
    """One ``lameduck prestop`` process. target: the host PID of a PID namespace's PID 1
    to run it in (as the kubelet does); user: a uid/gid to run it as."""

    def __init__(self, workdir: pathlib.Path, args: Sequence[str] = (), *,
                 target: Optional[int] = None, user: Optional[int] = None,
                 env: Optional[dict] = None):
        require_binaries()
        argv = lameduck_argv("prestop", *args)
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
        if target is not None:
            argv = ["nsenter", f"--target={target}", "--pid", "--mount", "--", *argv]
        self.nested = target is not None
        self.stderr_path = workdir / f"prestop-{next(_counter)}.stderr"
        with open(self.stderr_path, "wb") as err:
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, env=base_env(**(env or {})),
                                         start_new_session=True)
        self.ended_at: Optional[float] = None

    def pid(self) -> int:
        """The prestop process itself (under nsenter: nsenter's child)."""
        if not self.nested:
            return self.proc.pid
        return wait_for(lambda: next(iter(children_of(self.proc.pid)), 0),
                        message="nsenter to start prestop")

    def signal(self, sig: int) -> float:
        t = time.monotonic()
        os.kill(self.pid(), sig)
        return t

    def wait(self, timeout: float = TIMEOUT) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"prestop did not exit within {timeout}s; stderr:\n"
                                 f"{self.stderr()}") from None
        self.ended_at = time.monotonic()
        assert SANITIZER_REPORT.search(self.stderr()) is None, self.stderr()
        return code

    @property
    def elapsed(self) -> float:
        assert self.ended_at is not None
        return self.ended_at - self.started_at

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_stderr(self, pattern: str, timeout: float = TIMEOUT) -> re.Match:
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.stderr()), timeout,
                        message=lambda: f"/{pattern}/ in prestop's stderr:\n{self.stderr()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def hook(tmp_path):
    """``hook(args, target=None, user=None, env=None)`` starts ``lameduck prestop``."""
    started: list[Hook] = []

    def start(args: Sequence[str] = (), **kwargs) -> Hook:
        h = Hook(tmp_path, args, **kwargs)
        started.append(h)
        return h

    yield start
    for h in started:
        h.kill()


class ForeignPid1:
    """Something other than lameduck as PID 1 of a new PID namespace; its stderr goes to
    its stdout pipe unless given (a file or descriptor)."""

    def __init__(self, argv: Sequence[str], stderr=subprocess.STDOUT):
        self.proc = subprocess.Popen([*pid1_prefix(), *argv], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=stderr,
                                     env=base_env(), start_new_session=True, text=True)
        self.pid = wait_for(lambda: next(iter(children_of(self.proc.pid)), 0),
                            message="unshare to start PID 1")

    def kill(self) -> None:
        for pid in (self.pid, self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def foreign_pid1():
    started: list[ForeignPid1] = []

    def start(argv: Sequence[str], **kwargs) -> ForeignPid1:
        p = ForeignPid1(argv, **kwargs)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


# A PID 1 that listens on lameduck's control socket name like a lameduck would, but then
# hangs ("hang") or answers "draining" and closes at once ("eof").
FAKE_PID1 = r"""
import os, socket, sys, time
name = "\0lameduck/%d" % os.stat("/proc/self/ns/pid").st_ino
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(name)
s.listen(4)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.recv(100)
    if sys.argv[1] == "eof":
        c.sendall(b"draining phase=fake\n")
        c.close()
    else:
        time.sleep(3600)
"""


def raw_ask(name: str) -> str:
    """Connects to the abstract name, asks for a drain, returns the first line (or '')."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(TIMEOUT)
        s.connect("\0" + name)
        try:
            s.sendall(b"drain\n")
        except BrokenPipeError:
            pass  # refused and closed before the request went out; the answer is queued
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        return data.decode()


# --------------------------------------------------------------------------------------
# prestop alone
# --------------------------------------------------------------------------------------

def test_fixed_delay_then_exit_0(hook):
    h = hook(["--delay", "1500ms"])
    assert h.wait() == 0, h.stderr()
    assert h.elapsed >= 1.5
    assert h.elapsed < 1.5 + slack(), h.stderr()
    err = h.stderr()
    assert "waiting here" in err  # the test's PID 1 is not lameduck
    assert re.search(r"t=\+\d+ms waiting 1\.5s", err), err
    assert 1.5 <= logged_at(err, "delay 1.5s over: preStop hook exits 0") < 1.5 + SLACK, err
    assert re.search(DRAINED_SUMMARY.format(r"1\.5\d*s", r"1\.5s") + "\n",
                     err), err


def test_max_delay_caps_the_wait(hook):
    h = hook(["--delay", "30s", "--max-delay", "1s"])
    assert h.wait() == 0, h.stderr()
    assert 1.0 <= h.elapsed < 1.0 + slack()
    assert "waiting 1s" in h.stderr()  # the delay, capped


def test_options_from_the_environment(hook):
    h = hook([], env={"LAMEDUCK_DELAY": "1s"})
    assert h.wait() == 0, h.stderr()
    assert 1.0 <= h.elapsed < 1.0 + slack()


def test_no_delay_outside_kubernetes(hook):
    h = hook([])
    assert h.wait() == 0, h.stderr()
    assert h.elapsed < slack()


@pytest.mark.parametrize("args, env, says", [
    (["--delay", "soon"], {}, "--delay: invalid duration 'soon'"),
    (["--max-delay", "-1s"], {}, "--max-delay: invalid duration"),
    (["sleep"], {}, "unexpected argument(s): sleep"),
    (["--signal", "QUIT"], {}, "--signal"),
    (["--log-format", "xml"], {}, "--log-format"),
    ([], {"LAMEDUCK_SETTLE": "5 seconds"}, "--settle: invalid duration"),
    (["--check", "--delay", "x"], {}, "--delay: invalid duration"),
])
def test_usage_errors_exit_125_with_one_line(hook, args, env, says):
    h = hook(args, env=env)
    assert h.wait() == 125
    lines = [line for line in h.stderr().splitlines() if line.strip()]
    assert len(lines) == 1, h.stderr()
    assert lines[0].startswith("lameduck: "), lines
    assert says in lines[0], lines
    assert h.elapsed < slack()


def test_check_parses_and_exits_0(hook):
    h = hook(["--check", "--delay", "20s", "--max-delay", "25s", "--service", "web",
              "--log-format", "json"])
    assert h.wait() == 0, h.stderr()
    assert h.stderr() == ""
    assert h.elapsed < slack()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_ends_the_wait_early(hook, sig):
    h = hook(["--delay", "20s"])
    h.wait_stderr(r"waiting 20s")
    sent = h.signal(sig)
    assert h.wait() == 0, h.stderr()
    assert h.ended_at - sent < slack()
    assert f"{signal.Signals(sig).name} received" in h.stderr()
    assert "preStop hook stops waiting" in h.stderr()


def test_other_signals_do_not_end_the_wait(hook):
    h = hook(["--delay", "1500ms"])
    h.wait_stderr(r"waiting 1\.5s")
    h.signal(signal.SIGUSR1)
    h.signal(signal.SIGPIPE)
    assert h.wait() == 0, h.stderr()
    assert h.elapsed >= 1.5


def test_waits_until_the_pod_left_every_endpointslice(hook, fake_api):
    ip = "10.1.2.3"
    fake_api.set_slices([slice("web-abc12", "web", [endpoint(ip, pod="web-1"),
                                                    endpoint("10.1.2.4", pod="web-2")])])
    h = hook(["--wait-endpoints", "--api-server", fake_api.url, "--ca-file", fake_api.ca_file,
              "--token-file", fake_api.token_file, "--namespace", "default", "--pod-ip", ip,
              "--pod-name", "web-1", "--settle", "1s", "--max-delay", "30s", "--delay", "20s"])
    h.wait_stderr(r"waiting until the Pod left every EndpointSlice", timeout=TIMEOUT)
    time.sleep(1.5)
    assert h.proc.poll() is None, f"prestop ended while the Pod was still ready:\n{h.stderr()}"
    gone_at = time.monotonic()
    fake_api.set_slices([slice("web-abc12", "web", [terminating(ip, pod="web-1"),
                                                    endpoint("10.1.2.4", pod="web-2")])])
    assert h.wait(timeout=30) == 0, h.stderr()
    # The settle time after the Pod left, not the 20s fallback delay nor the 30s cap.
    assert h.ended_at - gone_at >= 1.0 - 0.05, h.stderr()
    assert h.ended_at - gone_at < 1.0 + SLACK + slack(), h.stderr()
    assert "settle 1s over" in h.stderr()


def test_endpointslice_api_failure_falls_back_to_the_delay(hook, fake_api):
    fake_api.fault(kind="status", code=403, on="list")
    h = hook(["--wait-endpoints", "--api-server", fake_api.url, "--ca-file", fake_api.ca_file,
              "--token-file", fake_api.token_file, "--namespace", "default",
              "--pod-ip", "10.1.2.3", "--delay", "1s", "--max-delay", "20s"])
    assert h.wait(timeout=20) == 0, h.stderr()
    assert 1.0 <= h.elapsed < 1.0 + slack(), h.stderr()


# --------------------------------------------------------------------------------------
# prestop with lameduck as PID 1
# --------------------------------------------------------------------------------------

def test_one_wait_not_two(echo_app, hook):
    """The hook asks PID 1 to drain and returns when PID 1's wait is over; the kubelet's
    SIGTERM that follows reaches the app at once. PID 1's configuration decides (2s here,
    not the hook's 6s)."""
    needs_nsenter()
    ld, echo = echo_app(["--delay", "2s"], "--exit-on", "TERM:0", mode="pid1")
    h = hook(["--delay", "6s"], target=ld.pid)
    assert h.wait() == 0, h.stderr()
    assert 2.0 <= h.elapsed < 2.0 + slack(), h.stderr()
    # Measured inside both processes, free of process start-up and exit costs:
    assert 2.0 <= logged_at(h.stderr(), "PID 1 reports the drain done") < 2.0 + SLACK
    assert 2.0 <= logged_at(ld.stderr(), "preStop hook released") < 2.0 + SLACK

    # What the kubelet does next: SIGTERM to PID 1.
    sent = ld.signal(signal.SIGTERM)
    term = echo.wait_signal(signal.SIGTERM)
    assert term.t - sent < 1.0, "the SIGTERM after the hook was not forwarded at once"
    # From the start of preStop to the app's stop signal: one wait (2s), not two (4s).
    assert 2.0 <= term.t - h.started_at < 2.0 + slack()
    assert ld.wait().code == 0

    pid1 = ld.stderr()
    # The drain's clock starts with the hook's request (within a few ms: under qemu-user
    # the line once came at t=+1ms).
    asked = re.search(r"t=\+(\d+)ms preStop hook \(pid \d+\) asked to drain", pid1)
    assert asked and int(asked.group(1)) < 100 * slack(), pid1
    assert re.search(r"preStop hook released \(delay 2s over\)", pid1), pid1
    assert "preStop drain already done: sent SIGTERM" in pid1
    hook_log = h.stderr()
    assert "asked PID 1 (lameduck) to drain" in hook_log
    draining = re.search(r"PID 1 is draining: phase=waiting-delay elapsed=(\d+)ms left=(\d+)ms",
                         hook_log)
    assert draining, hook_log
    elapsed, left = int(draining.group(1)), int(draining.group(2))
    assert elapsed < 100 * slack() and 1990 <= elapsed + left <= 2010, hook_log
    assert "PID 1 reports the drain done (delay 2s over)" in hook_log
    assert "waiting here" not in hook_log


def test_pid1_logs_every_line_of_a_hook_drain_with_the_hooks_pid(echo_app, hook):
    """With lameduck as PID 1 the hook's drain happens in PID 1, so the container log
    (PID 1's stderr, what `kubectl logs` reads) has all of it, naming the hook by its pid;
    the hook writes nothing there."""
    needs_nsenter()
    ld, echo = echo_app(["--delay", "1s"], "--exit-on", "TERM:0", mode="pid1")
    h = hook([], target=ld.pid)
    assert h.wait() == 0, h.stderr()
    hook_pid = re.search(r"lameduck\[(\d+)\] info: t=\+", h.stderr())[1]  # in the namespace
    ld.signal(signal.SIGTERM)
    assert ld.wait().code == 0
    pid1 = ld.stderr()
    app = echo.read().ready().pid
    expected = [
        rf"t=\+0ms preStop hook \(pid {hook_pid}\) asked to drain",
        r"t=\+\d+ms waiting 1s before releasing the preStop hook",
        r"t=\+\d+ms preStop hook released \(delay 1s over\); app keeps serving until SIGTERM",
        r"t=\+\d+ms SIGTERM received from pid 0 \(outside the container\)",
        rf"t=\+\d+ms preStop drain already done: sent SIGTERM to pid {app}",
        rf"t=\+\d+ms app \(pid {app}\) exited with 0",
        rf"t=\+\d+ms drain summary: delay 1[.\d]*s, drained [.\d]+m?s, stopping [.\d]+m?s; "
        rf"started by: preStop hook \(pid {hook_pid}\); ended by: delay 1s over; exit status 0",
        r"t=\+\d+ms exiting with 0",
    ]
    lines = [line for line in pid1.splitlines() if "t=+" in line]
    assert all(" lameduck[1] info: t=+" in line for line in lines), pid1
    lines = [line[line.index("t=+"):] for line in lines]
    assert len(lines) == len(expected), pid1
    for line, pattern in zip(lines, expected):
        assert re.fullmatch(pattern, line), f"{line!r} !~ /{pattern}/ in:\n{pid1}"
    # What the hook reports, PID 1 decided: the same end of the wait on both sides.
    assert "PID 1 reports the drain done (delay 1s over)" in h.stderr()
    assert "lameduck prestop" not in pid1  # no copy of the hook's lines


def test_two_hooks_share_one_drain(echo_app, hook):
    needs_nsenter()
    ld, echo = echo_app(["--delay", "2s"], "--exit-on", "TERM:0", mode="pid1")
    first = hook([], target=ld.pid)
    first.wait_stderr("PID 1 is draining")
    time.sleep(0.5)
    second = hook([], target=ld.pid)
    assert first.wait() == 0 and second.wait() == 0
    assert first.ended_at - second.ended_at < 0.5  # released together
    assert "already waiting-delay" in ld.stderr()
    # A hook after the drain is done returns at once.
    late = hook([], target=ld.pid)
    assert late.wait() == 0
    assert late.elapsed < slack()
    assert "drain already done" in late.stderr()
    assert echo.read().signals() == []  # nothing reached the app before SIGTERM


def test_sigterm_during_the_prestop_drain_finishes_that_one_drain(echo_app, hook):
    """If the kubelet's SIGTERM comes while the hook still waits (e.g. the hook was killed
    at its own bound), PID 1 does not start a second wait."""
    needs_nsenter()
    ld, echo = echo_app(["--delay", "3s"], "--exit-on", "TERM:0", mode="pid1")
    h = hook([], target=ld.pid)
    h.wait_stderr("PID 1 is draining")
    time.sleep(1.0)
    ld.signal(signal.SIGTERM)
    term = echo.wait_signal(signal.SIGTERM)
    assert 3.0 - 0.05 <= term.t - h.started_at < 3.0 + slack()
    # PID 1 tells the hook "done", then stops the app, which exits at once; PID 1 waits for
    # the hook to hang up before it exits (which would SIGKILL the hook).
    assert h.wait() == 0, h.stderr()
    assert ld.wait().code == 0


def test_a_prestop_drain_without_a_sigterm_expires(echo_app, hook):
    """`lameduck prestop` run by hand: no SIGTERM follows. The drained state holds until
    --max-delay after the drain's cap (at least 5s), then PID 1 serves again, and a later
    SIGTERM gets a full drain, not a stop at once."""
    needs_nsenter()
    ld, echo = echo_app(["--delay", "1s", "--max-delay", "1s"], "--exit-on", "TERM:0",
                        mode="pid1")
    h = hook([], target=ld.pid)
    assert h.wait() == 0, h.stderr()
    m = ld.wait_stderr(r"t=\+(\d+)ms preStop drained (\d+)s ago and no SIGTERM followed; serving "
                       r"again: the next SIGTERM drains again", timeout=6 + slack())
    # Expires at the cap (1s) + max(--max-delay, 5s) = 6s after the drain began.
    assert 6.0 <= int(m[1]) / 1000 < 6.0 + SLACK, ld.stderr()
    assert m[2] == "5", ld.stderr()
    assert echo.read().signals() == []
    sent = ld.signal(signal.SIGTERM)
    term = echo.wait_signal(signal.SIGTERM)
    assert 1.0 - 0.05 <= term.t - sent < 1.0 + slack(), ld.stderr()
    assert ld.wait().code == 0
    pid1 = ld.stderr()
    assert "preStop drain already done" not in pid1
    # The second drain has its own timeline and summary.
    assert re.search(r"t=\+0ms SIGTERM received from pid \d+", pid1), pid1
    assert re.search(r"drain summary: delay [\d.]+s, stopping \S+; ended by: delay 1s over",
                     pid1), pid1
    assert "started by" not in pid1.split("serving again")[1]


def test_app_exit_releases_the_hook(echo_app, hook):
    """The app exits during a drain that preStop started: the hook gets "done" and exits 0
    by itself; PID 1 waits for it to hang up, so the kernel does not kill it (which the
    kubelet would record as FailedPreStopHook)."""
    needs_nsenter()
    ld, echo = echo_app(["--delay", "20s"], "--exit-on", "USR1:3", mode="pid1")
    h = hook([], target=ld.pid)
    h.wait_stderr("PID 1 is draining")
    app = echo.host_pid(echo.read().ready().pid)
    os.kill(app, signal.SIGUSR1)
    assert h.wait() == 0, h.stderr()
    assert h.elapsed < 20 - SLACK
    assert "PID 1 reports the drain done (app exited)" in h.stderr(), h.stderr()
    assert ld.wait().code == 3
    assert "still connected" not in ld.stderr(), ld.stderr()


# Inside PID 1's namespace: asks for a drain, prints each line, then never hangs up.
HANGING_HOOK = r"""
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0lameduck/%d" % os.stat("/proc/self/ns/pid").st_ino)
s.sendall(b"drain\n")
f = s.makefile("rb")
while True:
    line = f.readline()
    if not line:
        break
    print(line.decode().strip(), flush=True)
    if line.startswith(b"done"):
        break
time.sleep(3600)
"""


def test_a_hook_that_never_hangs_up_holds_pid1_for_a_second_at_most(echo_app, tmp_path):
    needs_nsenter()
    ld, echo = echo_app(["--delay", "20s"], "--exit-on", "USR1:3", mode="pid1")
    out = tmp_path / "hanging.out"
    with open(out, "wb") as f:
        client = subprocess.Popen(
            ["nsenter", f"--target={ld.pid}", "--pid", "--mount", "--", PYTHON, "-c",
             HANGING_HOOK], stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_for(lambda: "draining" in out.read_text(), message="the client to be draining")
        app = echo.host_pid(echo.read().ready().pid)
        killed = time.monotonic()
        os.kill(app, signal.SIGUSR1)
        assert ld.wait().code == 3
        lingered = time.monotonic() - killed
        assert 1.0 - 0.05 <= lingered < 1.0 + slack(), ld.stderr()
        assert "done app exited" in out.read_text()
        assert re.search(r"a preStop hook is still connected 1s after the app exited; exiting "
                         r"anyway", ld.stderr()), ld.stderr()
        # The kernel killed the client with the namespace.
        assert client.wait(timeout=TIMEOUT) != 0
    finally:
        if client.poll() is None:
            os.killpg(client.pid, signal.SIGKILL)
            client.wait()


def test_sigterm_to_the_hook_while_pid1_drains(echo_app, hook):
    needs_nsenter()
    ld, echo = echo_app(["--delay", "20s"], "--exit-on", "TERM:0", mode="pid1")
    h = hook([], target=ld.pid)
    h.wait_stderr("PID 1 is draining")
    sent = h.signal(signal.SIGTERM)
    assert h.wait() == 0, h.stderr()
    assert h.ended_at - sent < slack()
    ld.wait_stderr(r"preStop hook \(pid \d+\) went away before the drain was done")
    # PID 1 keeps draining: the hook's end is not a stop signal.
    time.sleep(0.3)
    assert echo.read().signals() == []


def test_hook_is_bounded_by_its_own_max_delay(echo_app, hook):
    needs_nsenter()
    ld, _ = echo_app(["--delay", "20s"], "--exit-on", "TERM:0", mode="pid1")
    h = hook(["--max-delay", "1s"], target=ld.pid)
    assert h.wait() == 0, h.stderr()
    # --max-delay 1s + the 1s margin for PID 1's answer.
    assert 2.0 - 0.05 <= h.elapsed < 2.0 + slack(), h.stderr()
    assert "did not report the drain done within 2s" in h.stderr()


def test_another_uid_is_refused(echo_app, hook):
    needs_nsenter()
    ld, echo = echo_app(["--delay", "1s"], "--exit-on", "TERM:0", mode="pid1")
    h = hook(["--delay", "1s"], target=ld.pid, user=NOBODY)
    assert h.wait() == 0, h.stderr()
    assert h.elapsed >= 1.0  # it waited on its own
    assert re.search(r"PID 1 refused.*: uid 65534 is neither root nor lameduck's uid 0\)?; "
                     r"waiting here", h.stderr()), h.stderr()
    assert re.search(r"refused a preStop control connection from pid \d+ uid 65534",
                     ld.stderr()), ld.stderr()
    assert "asked to drain" not in ld.stderr()
    # PID 1 never started draining: its SIGTERM gets the whole delay.
    sent = ld.signal(signal.SIGTERM)
    term = echo.wait_signal(signal.SIGTERM)
    assert term.t - sent >= 1.0 - 0.05


def test_a_client_outside_the_pid_namespace_is_refused(echo_app):
    needs_nsenter()
    ld, echo = echo_app(["--delay", "1s"], "--exit-on", "TERM:0", mode="pid1")
    line = raw_ask(f"lameduck/{ns_inode(ld.pid)}")
    assert line.startswith("refused the client is outside this container's PID namespace")
    ld.wait_stderr(r"refused a preStop control connection from pid 0 uid 0")
    assert "asked to drain" not in ld.stderr()


def test_a_client_in_a_nested_pid_namespace_is_refused(echo_app):
    """Its pid is visible to PID 1, but /proc/<pid>/ns/pid is not PID 1's namespace."""
    needs_nsenter()
    ld, _ = echo_app(["--delay", "1s"], "--exit-on", "TERM:0", mode="pid1")
    code = ("import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.connect('\\0'+sys.argv[1]);"
            "time.sleep(0.5); print(s.recv(200).decode(), end='')")
    r = subprocess.run(["nsenter", f"--target={ld.pid}", "--pid", "--mount", "--",
                        "unshare", "--pid", "--fork", PYTHON, "-c", code,
                        f"lameduck/{ns_inode(ld.pid)}"],
                       capture_output=True, text=True, timeout=TIMEOUT, env=base_env())
    assert r.returncode == 0, r.stderr
    assert re.match(r"refused pid \d+ is in another PID namespace", r.stdout), r.stdout
    assert "asked to drain" not in ld.stderr()


def test_a_hook_in_another_pid_namespace_cannot_reach_pid1(echo_app, hook):
    """The name is per PID namespace: a hook elsewhere (another container of the Pod, the
    host) finds no lameduck and waits on its own."""
    needs_nsenter()
    ld, echo = echo_app(["--delay", "1s"], "--exit-on", "TERM:0", mode="pid1")
    h = hook(["--delay", "1s"])  # the test's own namespace
    assert h.wait() == 0
    assert h.elapsed >= 1.0
    assert "Connection refused" in h.stderr() and "waiting here" in h.stderr()
    assert "preStop hook" not in ld.stderr()


def test_pid1_not_lameduck_falls_back_to_own_wait(foreign_pid1, hook, sigecho):
    needs_nsenter()
    echo = sigecho()
    pid1 = foreign_pid1(echo.command())
    echo.wait_ready(listening=False)
    h = hook(["--delay", "1s"], target=pid1.pid)
    assert h.wait() == 0, h.stderr()
    assert 1.0 <= h.elapsed < 1.0 + slack()
    assert "PID 1 is not lameduck or does not listen" in h.stderr()
    assert "delay 1s over: preStop hook exits 0" in h.stderr()


def hook_pid_of(log: str) -> str:
    """The hook's pid in its PID namespace, from its own log lines."""
    return re.search(r"lameduck\[(\d+)\] \w+: t=\+", log)[1]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_foreign_pid1s_stderr_gets_the_hooks_timeline(tmp_path, foreign_pid1, hook, sigecho,
                                                        log_format):
    """PID 1's stderr is the container log (`kubectl logs`); the kubelet shows the hook's
    own output only when it fails. So the hook copies its lines there, marked as its own."""
    needs_nsenter()
    container_log = tmp_path / "prestoplog-pid1.stderr"
    echo = sigecho()
    with open(container_log, "ab") as err:
        pid1 = foreign_pid1(echo.command(), stderr=err)
    echo.wait_ready(listening=False)
    h = hook(["--delay", "1s", "--log-format", log_format], target=pid1.pid)
    assert h.wait() == 0, h.stderr()
    own = h.stderr()
    assert "lameduck prestop" not in own  # the hook's own output stays as it was
    copied = [line for line in container_log.read_text().splitlines() if "lameduck" in line]
    if log_format == "json":
        records = [json.loads(line) for line in own.splitlines()]
        assert copied, container_log.read_text()
        pid = json.loads(copied[0])["pid"]
        assert [json.loads(line) for line in copied] == [
            {**r, "logger": "lameduck prestop", "pid": pid} for r in records]
    else:
        pid = hook_pid_of(own)
        assert copied == [line.replace(f" lameduck[{pid}] ", f" lameduck prestop (pid {pid}) ")
                          for line in own.splitlines()]
    text = "\n".join(copied)
    assert "PID 1 is not lameduck or does not listen" in text
    assert "delay 1s over: preStop hook exits 0" in text
    assert re.search(DRAINED_SUMMARY.format(r"1[.\d]*s", "1s"), text)


def test_no_copy_when_pid1s_stderr_is_the_hooks(tmp_path, foreign_pid1, sigecho):
    needs_nsenter()
    container_log = tmp_path / "prestoplog-shared.stderr"
    echo = sigecho()
    with open(container_log, "ab") as err:
        pid1 = foreign_pid1(echo.command(), stderr=err)
        echo.wait_ready(listening=False)
        r = subprocess.run(["nsenter", f"--target={pid1.pid}", "--pid", "--mount", "--",
                            *lameduck_argv("prestop", "--delay", "200ms")],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                           env=base_env(), timeout=TIMEOUT)
    assert r.returncode == 0
    log = container_log.read_text()
    assert log.count("drain summary:") == 1, log
    assert "lameduck prestop" not in log


def full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is full; the write end is blocking again, as PID 1 had it."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"x" * 65536)
    except BlockingIOError:
        pass
    try:
        while True:
            os.write(w, b"x")
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    return r, w


@pytest.mark.parametrize("where", ["full pipe", "pipe without reader (no open)",
                                   "reader gone after the first line", "/dev/full"])
def test_an_unwritable_pid1_stderr_changes_nothing(foreign_pid1, hook, sigecho, where):
    """The copy never blocks or fails the hook: same exit status, same time, same output.
    A pipe without a reader cannot even be opened (ENXIO); one whose reader goes away once
    the copy runs makes every later write fail with EPIPE."""
    needs_nsenter()
    echo = sigecho()
    if where == "/dev/full":
        r, w = -1, os.open("/dev/full", os.O_WRONLY)
    else:
        r, w = full_pipe() if where == "full pipe" else os.pipe()
    try:
        pid1 = foreign_pid1(echo.command(), stderr=w)
        if where.startswith("pipe without reader"):
            os.close(r)
            r = -1
        echo.wait_ready(listening=False)
        h = hook(["--delay", "1s"], target=pid1.pid)
        if where.startswith("reader gone"):
            wait_for(lambda: select.select([r], [], [], 0.1)[0] and
                     b"lameduck prestop" in os.read(r, 65536), timeout=TIMEOUT,
                     message="the hook's first copied line")
            os.close(r)
            r = -1
        assert h.wait() == 0, h.stderr()
        assert 1.0 <= h.elapsed < 1.0 + slack(), h.stderr()
        assert re.search(DRAINED_SUMMARY.format(r"1[.\d]*s", "1s"),
                         h.stderr()), h.stderr()
        assert "lameduck prestop" not in h.stderr()
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)


def test_hanging_pid1_is_bounded(foreign_pid1, hook):
    needs_nsenter()
    pid1 = foreign_pid1([PYTHON, "-c", FAKE_PID1, "hang"])
    assert pid1.proc.stdout.readline().strip() == "listening"
    h = hook(["--max-delay", "1s", "--delay", "10s"], target=pid1.pid)
    assert h.wait() == 0, h.stderr()
    assert 2.0 - 0.05 <= h.elapsed < 2.0 + slack(), h.stderr()
    assert "did not report the drain done" in h.stderr()


def test_pid1_going_away_ends_the_hook(foreign_pid1, hook):
    needs_nsenter()
    pid1 = foreign_pid1([PYTHON, "-c", FAKE_PID1, "eof"])
    assert pid1.proc.stdout.readline().strip() == "listening"
    h = hook(["--delay", "10s"], target=pid1.pid)
    assert h.wait() == 0, h.stderr()
    assert h.elapsed < slack()
    assert "PID 1 is draining: phase=fake" in h.stderr()
    assert "PID 1 closed the control socket" in h.stderr()


def test_no_control_socket_unless_pid1(echo_app, hook):
    """lameduck that is not PID 1 does not listen (with shareProcessNamespace, PID 1 is the
    pause container and every container's lameduck shares one PID namespace)."""
    ld, echo = echo_app(["--delay", "1s", "--log-level", "debug"], "--exit-on", "TERM:0")
    assert "not PID 1: no preStop control socket" in ld.stderr()
    with pytest.raises(ConnectionRefusedError):
        raw_ask(f"lameduck/{ns_inode(os.getpid())}")


# --------------------------------------------------------------------------------------
# issue 21: the idle PID 1 waits in rt_sigtimedwait; a connection wakes it with a SIGIO
# --------------------------------------------------------------------------------------

# The system call an idle lameduck blocks in (/proc/PID/syscall's first field).
RT_SIGTIMEDWAIT = {"x86_64": 128, "aarch64": 137}


def blocked_in(pid: int) -> Optional[int]:
    try:
        first = pathlib.Path(f"/proc/{pid}/syscall").read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.lstrip("-").isdigit() else None


@pytest.mark.skipif(os.uname().machine not in RT_SIGTIMEDWAIT, reason="syscall numbers")
def test_idle_pid1_waits_in_sigtimedwait_and_wakes_for_every_hook(echo_app, hook):
    """The control socket raises SIGIO on connect, so an idle PID 1 waits in one
    rt_sigtimedwait (not poll + read). Connections that come at once raise one SIGIO
    between them; each is still answered, and PID 1 is back in rt_sigtimedwait after."""
    needs_nsenter()
    ld, echo = echo_app(["--delay", "1s"], "--exit-on", "TERM:0", mode="pid1")
    nr = RT_SIGTIMEDWAIT[os.uname().machine]
    wait_for(lambda: blocked_in(ld.pid) == nr, message="PID 1 to wait in rt_sigtimedwait")
    name = f"\0lameduck/{ns_inode(ld.pid)}"
    socks = []
    try:
        for _ in range(8):  # from outside the PID namespace: each is refused, with a line
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(TIMEOUT)
            s.connect(name)
            socks.append(s)
        for s in socks:
            assert s.recv(256).startswith(b"refused "), "every connection gets its answer"
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: blocked_in(ld.pid) == nr, message="PID 1 to wait in rt_sigtimedwait again")
    # A hook in the namespace is served from there, and SIGIO from a user is the app's.
    t0 = ld.signal(signal.SIGIO)
    echo.wait_signal(signal.SIGIO, after=t0)
    h = hook([], target=ld.pid)
    h.wait_stderr("PID 1 is draining")
    assert h.wait() == 0
    assert echo.read().signal_numbers() == [signal.SIGIO]


# --------------------------------------------------------------------------------------
# issue 15: a squatted name, a flood of refused connections, a busy PID 1
# --------------------------------------------------------------------------------------

class LateLameduck(Lameduck):
    """mode="pid1", but PID 1 is first a shell that waits for a file before it execs
    lameduck: time for the test to bind the namespace's socket name first."""

    def __init__(self, gate: pathlib.Path, *args, **kwargs):
        super().__init__(*args, mode="pid1", **kwargs)
        self.gate = gate

    def argv(self):
        argv = super().argv()
        n = len(pid1_prefix())
        script = f'while [ ! -e {self.gate} ]; do sleep 0.02; done; exec "$@"'
        return [*argv[:n], "sh", "-c", script, "sh", *argv[n:]]


def squat(gate: pathlib.Path, box: dict) -> None:
    """Binds the abstract name of the new PID namespace whose PID 1 (the shell of
    LateLameduck) waits for gate, from outside it (as a sidecar or a hostNetwork process
    could), and answers every connection with "done" at once: a hook that trusted it
    would skip the drain."""
    own = ns_inode(os.getpid())

    def gatekeeper() -> int:
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
            try:
                if str(gate).encode() in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes() \
                        and ns_inode(pid) != own:
                    return pid
            except OSError:
                continue
        return 0

    pid = wait_for(gatekeeper, message="the namespace's waiting PID 1")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(f"\0lameduck/{ns_inode(pid)}")
    sock.listen(16)
    sock.settimeout(0.2)
    gate.touch()
    while not box.get("stop"):
        try:
            conn, _ = sock.accept()
        except (socket.timeout, OSError):
            continue
        box["connections"] = box.get("connections", 0) + 1
        try:
            conn.sendall(b"done squatter says so\n")
        except OSError:
            pass
        conn.close()
    sock.close()


def test_a_squatted_name_does_not_cost_a_second_wait(tmp_path, sigecho, hook):
    """Before, PID 1 could not listen ("Address already in use"), the hook refused the
    squatter and waited on its own, and PID 1 waited again after SIGTERM."""
    needs_nsenter()
    gate = tmp_path / "i15-gate"
    echo = sigecho()
    ld = LateLameduck(gate, ["--delay", "2s"], echo.command("--exit-on", "TERM:0"),
                      workdir=tmp_path)
    box: dict = {}
    squatter = threading.Thread(target=squat, args=(gate, box), daemon=True)
    squatter.start()
    try:
        echo.lameduck = ld.start()
        echo.wait_ready()
        ld.wait_stderr(r"is taken by another process .*listening on @lameduck/\d+/[0-9a-f]{16}")
        h = hook([], target=ld.pid)
        assert h.wait() == 0, h.stderr()
        log = h.stderr()
        assert "PID 1 reports the drain done (delay 2s over)" in log, log
        assert "waiting here" not in log and "squatter" not in log
        assert box.get("connections", 0) >= 1  # it did try the squatter first
        assert 2.0 <= h.elapsed < 2.0 + slack()
        sent = ld.signal(signal.SIGTERM)
        term = echo.wait_signal(signal.SIGTERM)
        assert term.t - sent < 1.0, "PID 1 waited a second time"
        assert ld.wait().code == 0
    finally:
        box["stop"] = True
        squatter.join(timeout=TIMEOUT)
        ld.kill()


def test_a_flood_of_refused_connections_is_summarised(echo_app):
    """Before: one warning per connection (227,245 lines in 5 s from a looping sidecar)."""
    needs_nsenter()
    ld, _ = echo_app(["--delay", "1s"], "--exit-on", "TERM:0", mode="pid1")
    name = f"\0lameduck/{ns_inode(ld.pid)}"
    for _ in range(1000):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(name)  # from outside the PID namespace: refused
    ld.wait_stderr(r"refused \d+ more preStop control connections in the last 10s \(last from "
                   r"pid 0 uid 0: ", timeout=10 + SLACK + 5)
    lines = [line for line in ld.stderr().splitlines() if "refused" in line]
    assert len(lines) <= 3, "\n".join(lines[:10])
    total = 1 + sum(int(m) for m in re.findall(r"refused (\d+) more", ld.stderr()))
    assert total <= 1000


def fill_backlog(name: str) -> list[socket.socket]:
    """Connections that fill the listen backlog of a stopped server, until EAGAIN."""
    held = []
    for _ in range(100):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(name)
        except BlockingIOError:
            s.close()
            return held
        held.append(s)
    raise AssertionError("the backlog never filled")


def test_a_busy_pid1_is_retried(echo_app, hook):
    """A full backlog (EAGAIN) is not "PID 1 is not lameduck": the hook retries, then asks."""
    needs_nsenter()
    ld, echo = echo_app(["--delay", "2s"], "--exit-on", "TERM:0", mode="pid1")
    os.kill(ld.pid, signal.SIGSTOP)
    held = []
    try:
        held = fill_backlog(f"\0lameduck/{ns_inode(ld.pid)}")
        h = hook([], target=ld.pid)
        h.pid()
        time.sleep(0.8)
    finally:
        os.kill(ld.pid, signal.SIGCONT)
    assert h.wait() == 0, h.stderr()
    for s in held:
        s.close()
    log = h.stderr()
    assert "PID 1 reports the drain done (delay 2s over)" in log, log
    assert "waiting here" not in log


def test_a_pid1_busy_for_long_is_called_busy(echo_app, hook):
    needs_nsenter()
    ld, echo = echo_app(["--delay", "1s"], "--exit-on", "TERM:0", mode="pid1")
    os.kill(ld.pid, signal.SIGSTOP)
    try:
        held = fill_backlog(f"\0lameduck/{ns_inode(ld.pid)}")
        h = hook(["--delay", "1s"], target=ld.pid)
        assert h.wait(timeout=TIMEOUT + 5) == 0, h.stderr()
    finally:
        os.kill(ld.pid, signal.SIGCONT)
    for s in held:
        s.close()
    log = h.stderr()
    assert re.search(r"PID 1 is busy \(its control socket's backlog stayed full for 2s\); "
                     r"waiting here", log), log
    assert "not lameduck" not in log
    assert h.elapsed >= 2.0 + 1.0


def test_a_hook_retrying_a_busy_pid1_hears_sigterm(echo_app, hook):
    """The retries of a full backlog wait in the hook's event loop: a SIGTERM ends them at
    once (before, the hook was deaf for the whole 2 s and then waited on its own)."""
    needs_nsenter()
    ld, echo = echo_app(["--delay", "1s"], "--exit-on", "TERM:0", mode="pid1")
    os.kill(ld.pid, signal.SIGSTOP)
    try:
        held = fill_backlog(f"\0lameduck/{ns_inode(ld.pid)}")
        h = hook(["--delay", "1s"], target=ld.pid)
        pid = h.pid()
        wait_for(lambda: listens_for_signals(pid), message="the hook's signalfd")
        time.sleep(0.3)  # into the 2 s of retries
        sent = h.signal(signal.SIGTERM)
        assert h.wait(timeout=TIMEOUT + 5) == 0, h.stderr()
    finally:
        os.kill(ld.pid, signal.SIGCONT)
    for s in held:
        s.close()
    log = h.stderr()
    assert h.ended_at - sent < 1.0 + SLACK, log
    assert re.search(r"SIGTERM received from pid \d+: preStop hook stops waiting, exits 0", log), log
    assert "PID 1 is busy" not in log and "waiting here" not in log, log


def test_a_hook_that_waited_itself_makes_pid1_skip_its_wait(echo_app, hook):
    """PID 1 busy when the hook asks: the hook waits on its own, then tells PID 1
    ("waited"), so the kubelet's SIGTERM is forwarded at once, not after PID 1's own 5s."""
    needs_nsenter()
    ld, echo = echo_app(["--delay", "5s"], "--exit-on", "TERM:0", mode="pid1")
    os.kill(ld.pid, signal.SIGSTOP)
    held = []
    try:
        held = fill_backlog(f"\0lameduck/{ns_inode(ld.pid)}")
        h = hook(["--delay", "1s"], target=ld.pid)
        h.wait_stderr(r"PID 1 is busy .*; waiting here", timeout=TIMEOUT + 5)
    finally:
        os.kill(ld.pid, signal.SIGCONT)
    for s in held:
        s.close()
    assert h.wait() == 0, h.stderr()
    assert "told PID 1 (lameduck) that this hook waited" in h.stderr(), h.stderr()
    ld.wait_stderr(r"preStop hook \(pid \d+\) waited on its own \(delay 1s over\); the "
                   r"kubelet's SIGTERM is forwarded at once")
    sent = ld.signal(signal.SIGTERM)
    term = echo.wait_signal(signal.SIGTERM)
    assert term.t - sent < 1.0, ld.stderr()
    assert ld.wait().code == 0
    assert "preStop drain already done: sent SIGTERM" in ld.stderr(), ld.stderr()
