# SPDX-License-Identifier: Apache-2.0
"""The static binary in an empty root (issue 5): chroot into a directory that holds only
lameduck, a statically linked sigecho and the ServiceAccount files, inside a new mount and
PID namespace, so lameduck is PID 1 with no libc, no /etc, no /proc and no CA bundle. The
drain and the EndpointSlice wait (TLS to the fake API server) must still work.

Runs only when LAMEDUCK_BIN is statically linked (scripts/test.sh runs the suite against
build-static/lameduck) and SIGECHO_STATIC_BIN is set (ctest sets it). For the arm64 binary
under qemu-user (LDTEST_EMULATOR), the root also holds the (static) emulator, which runs
both lameduck and sigecho: the kernel cannot start an arm64 program there by itself."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from fakeapi.slices import endpoint, slice
from support.env import LAMEDUCK_BIN, base_env, emulated, kill_marked
from support.procfs import descendants_of
from support.sigecho import SigechoLog
from support.wait import SLACK, wait_for

SIGECHO_STATIC = os.environ.get("SIGECHO_STATIC_BIN", "")
POD_IP = "127.0.0.9"
# The emulator's path inside the root, when the binaries are for another architecture.
EMULATOR_IN_ROOT = "/emulator"


def in_root(binary: str, path: str) -> list[str]:
    """The command that runs binary, copied to path in the root."""
    return [EMULATOR_IN_ROOT, path] if emulated(binary) else [path]


def has_interpreter(path: str) -> bool:
    """True when the ELF file asks for a dynamic loader (has a PT_INTERP header)."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return True
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            return True
    return False


pytestmark = [
    pytest.mark.skipif(not os.path.exists(LAMEDUCK_BIN) or has_interpreter(LAMEDUCK_BIN),
                       reason="LAMEDUCK_BIN is not a static binary"),
    pytest.mark.skipif(not SIGECHO_STATIC or not os.path.exists(SIGECHO_STATIC),
                       reason="no statically linked sigecho (SIGECHO_STATIC_BIN)"),
    pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("chroot") is None,
                       reason="needs unshare and chroot"),
]


class EmptyRoot:
    """lameduck as PID 1 of a new PID namespace, chrooted into root."""

    def __init__(self, root: Path, args: list[str]):
        self.root = root
        self.marker = uuid.uuid4().hex
        env = base_env(LDTEST_RUN_ID=self.marker)
        self.stderr_path = root.parent / "lameduck.stderr"
        argv = ["unshare", "--mount", "--pid", "--fork", "chroot", str(root),
                *in_root(LAMEDUCK_BIN, "/lameduck"), *args, "--",
                *in_root(SIGECHO_STATIC, "/sigecho"), "--log", "/echo.log", "--exit-on", "TERM:0"]
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         start_new_session=True)
        self.pid = wait_for(self._find, message="lameduck to start in the empty root")
        wait_for(lambda: self.echo().ready("main"), message=lambda: (
            f"sigecho to be ready; stderr:\n{self.stderr()}"))

    def _find(self) -> int:
        for stat in descendants_of(self.proc.pid):
            if stat.comm == "lameduck" or (emulated(LAMEDUCK_BIN) and _argv(stat.pid)[1:2] == [
                    "/lameduck"]):
                return stat.pid
        assert self.proc.poll() is None, f"exited early:\n{self.stderr()}"
        return 0

    def echo(self) -> SigechoLog:
        path = self.root / "echo.log"
        return SigechoLog(path.read_text() if path.exists() else "")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            kill_marked(self.marker)


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return []


class Root:
    """The empty root directory and the lameduck runs started in it."""

    def __init__(self, path: Path):
        self.path = path
        self.runs: list[EmptyRoot] = []

    def add_service_account(self, fake) -> None:
        (self.path / "sa").mkdir(exist_ok=True)
        shutil.copy(fake.ca_file, self.path / "sa" / "ca.crt")
        shutil.copy(fake.token_file, self.path / "sa" / "token")

    def start(self, args: list[str]) -> EmptyRoot:
        run = EmptyRoot(self.path, args)
        self.runs.append(run)
        return run


@pytest.fixture
def empty_root(tmp_path):
    path = tmp_path / "root"
    path.mkdir()
    shutil.copy(LAMEDUCK_BIN, path / "lameduck")
    shutil.copy(SIGECHO_STATIC, path / "sigecho")
    emulator = emulated(LAMEDUCK_BIN) or emulated(SIGECHO_STATIC)
    if emulator:
        shutil.copy(shutil.which(emulator[0]) or emulator[0], path / EMULATOR_IN_ROOT.lstrip("/"))
        assert not has_interpreter(str(path / EMULATOR_IN_ROOT.lstrip("/"))), \
            f"{emulator[0]} must be static to run in the empty root"
    root = Root(path)
    yield root
    for run in root.runs:
        kill_marked(run.marker)


def test_nothing_else_is_in_the_root(empty_root):
    run = empty_root.start(["--delay", "0"])
    expected = ["echo.log", "lameduck", "sigecho"]
    if emulated(LAMEDUCK_BIN) or emulated(SIGECHO_STATIC):
        expected.insert(1, EMULATOR_IN_ROOT.lstrip("/"))
    assert sorted(p.name for p in run.root.iterdir()) == expected
    os.kill(run.pid, signal.SIGTERM)
    assert run.wait(10) == 0


def test_fixed_delay_drain_in_an_empty_root(empty_root):
    run = empty_root.start(["--delay", "1s"])
    sent = time.monotonic()
    os.kill(run.pid, signal.SIGTERM)
    code = run.wait(10)
    received = [r for r in run.echo().signals("main") if r.signo == signal.SIGTERM]
    assert code == 0, run.stderr()
    assert received, run.stderr()
    assert 1.0 <= received[0].t - sent < 1.0 + SLACK
    assert received[0].sender == 1  # lameduck is PID 1 in there


def test_endpointslice_wait_in_an_empty_root(empty_root, fake_api):
    """TLS to the API with only /sa/ca.crt, no NSS, no DNS: the in-cluster path."""
    fake_api.set_slices([slice("web-a", "web", [endpoint(POD_IP, pod="web-1"),
                                                endpoint("127.0.0.10", pod="web-2")])])
    empty_root.add_service_account(fake_api)
    run = empty_root.start([
        "--api-server", fake_api.url, "--token-file", "/sa/token", "--ca-file", "/sa/ca.crt",
        "--namespace", "default", "--pod-ip", POD_IP, "--settle", "300ms", "--delay", "20s",
        "--max-delay", "25s"])
    fake_api.clear_requests()
    sent = time.monotonic()
    os.kill(run.pid, signal.SIGTERM)
    wait_for(lambda: any(r.get("watch") for r in fake_api.requests()),
             message=lambda: f"a watch request; stderr:\n{run.stderr()}")
    time.sleep(0.5)
    assert not run.echo().signals("main"), "signalled while still routable"
    changed = time.monotonic()
    fake_api.set_slices([slice("web-a", "web", [
        endpoint(POD_IP, pod="web-1", ready=False, serving=True, terminating=True),
        endpoint("127.0.0.10", pod="web-2")])])
    code = run.wait(15)
    assert code == 0, run.stderr()
    got = [r for r in run.echo().signals("main") if r.signo == signal.SIGTERM]
    assert got, run.stderr()
    assert got[0].t >= changed + 0.3 - 0.002
    assert got[0].t - sent < 20, "fell back to --delay instead of watching"
    assert "Pod left every EndpointSlice" in run.stderr()
    kinds = ["watch" if r.get("watch") else "list" for r in fake_api.requests()]
    assert kinds == ["list", "watch"], fake_api.requests()
