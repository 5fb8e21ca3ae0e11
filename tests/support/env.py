# SPDX-License-Identifier: Apache-2.0
"""The binaries under test, the environment they run in (PID namespaces, sanitizers),
and the marker that finds every process a test started. Importable without pytest
(demo/ uses ``PYTHON``).

Binaries: ``LAMEDUCK_BIN`` and ``SIGECHO_BIN`` (ctest sets them), else build/lameduck and
build/tests/sigecho. Binaries for another architecture (the arm64 static build) run under
the user-mode emulator named by ``LDTEST_EMULATOR`` (e.g. qemu-aarch64-static, called
explicitly: binfmt_misc may be absent): start lameduck with ``lameduck_argv()``. A sanitizer build is detected; LeakSanitizer is turned off only where
it cannot work (it needs ptrace at exit, also as PID 1), see ``sanitizer_env()``.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from .procfs import alive, all_pids

ROOT = Path(__file__).resolve().parents[2]


def _binary(var: str, default: Path) -> str:
    value = os.environ.get(var)
    return os.path.abspath(value) if value else str(default)


LAMEDUCK_BIN = _binary("LAMEDUCK_BIN", ROOT / "build" / "lameduck")
SIGECHO_BIN = _binary("SIGECHO_BIN", ROOT / "build" / "tests" / "sigecho")

# The user-mode emulator for binaries of another architecture (qemu-aarch64-static).
EMULATOR = tuple(shlex.split(os.environ.get("LDTEST_EMULATOR", "")))
_ELF_MACHINES = {"x86_64": 62, "aarch64": 183, "riscv64": 243}


@functools.lru_cache(maxsize=None)
def is_foreign(path: str) -> bool:
    """True when path is an ELF executable for another architecture than this machine's."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return False
    if header[:4] != b"\x7fELF":
        return False
    machine = int.from_bytes(header[18:20], "little")
    return machine != _ELF_MACHINES.get(os.uname().machine, machine)


def emulated(path: str) -> list[str]:
    """The command prefix that runs path here: the emulator for a foreign binary."""
    if not is_foreign(path):
        return []
    assert EMULATOR, f"{path} is for another architecture: set LDTEST_EMULATOR"
    program = shutil.which(EMULATOR[0])
    assert program, f"LDTEST_EMULATOR: {EMULATOR[0]} not found"
    return [os.path.realpath(program), *EMULATOR[1:]]


def lameduck_argv(*args: str) -> list[str]:
    """The command line that runs lameduck with these arguments (under the emulator when
    LAMEDUCK_BIN is for another architecture)."""
    return [*emulated(LAMEDUCK_BIN), LAMEDUCK_BIN, *args]


def process_image(path: str) -> str:
    """What /proc/PID/exe shows for a process started as lameduck_argv() starts path."""
    prefix = emulated(path)
    return prefix[0] if prefix else os.path.realpath(path)

# The interpreter for Python helper processes (Debian's, which has the packages CI installs).
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

MODES = ["plain", "pid1"]

# Every process a test starts carries this variable, so teardown finds them all, wherever
# they were re-parented. (Not LAMEDUCK_*: lameduck reads those.)
MARKER_VAR = "LDTEST_RUN_ID"

SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: \w+Sanitizer")


def _has_marker(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def kill_marked(marker: str) -> None:
    """SIGKILLs every process whose environment carries the marker, until none is left."""
    needle = f"{MARKER_VAR}={marker}".encode()
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


def base_env(**extra: str) -> dict[str, str]:
    """The test environment without anything that changes lameduck's defaults: no
    KUBERNETES_* (so --delay defaults to 0), no LAMEDUCK_*, no Pod identity, and no
    traffic wait."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAMEDUCK_", "KUBERNETES_", "POD_", "HOST_IP", MARKER_VAR))}
    # These tests run in the machine's network namespace, where every other process's
    # connections are real traffic to a traffic wait (on by default): its timing is not
    # theirs to check. test_traffic.py tests it in network namespaces of its own; a test
    # that wants it passes --wait-traffic (the flag wins over the variable).
    env["LAMEDUCK_WAIT_TRAFFIC"] = "false"
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
    import pytest

    for path, var in ((LAMEDUCK_BIN, "LAMEDUCK_BIN"), (SIGECHO_BIN, "SIGECHO_BIN")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is not an executable: build first (ninja -C build) or set {var}",
                        pytrace=False)


def require_mode(mode: str) -> None:
    import pytest

    if mode == "pid1" and pid1_prefix() is None:
        pytest.skip("cannot create a PID namespace here (unshare --pid not permitted)")


def check_sanitizers(text: str) -> None:
    match = SANITIZER_REPORT.search(text)
    assert match is None, f"sanitizer report in lameduck's stderr:\n{text}"


def needs_root_mounts():
    """Skips the test unless it may bind-mount files over /etc in a private mount
    namespace (root and `unshare -m`), as the tests with their own /etc/resolv.conf do."""
    import pytest
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (a private /etc/resolv.conf)")
    r = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if r.returncode != 0:
        pytest.skip("unshare -m not permitted here")


def traced_env() -> dict[str, str]:
    """Extra environment for a lameduck that a test traces with strace: LeakSanitizer's
    check at exit needs ptrace, which a traced process cannot have, and it would exit 1
    instead of lameduck's code. Leak detection is off for that run only (ASan builds)."""
    if not _is_asan(LAMEDUCK_BIN):
        return {}
    options = sanitizer_env().get("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", ""))
    return {"ASAN_OPTIONS": f"{options}:detect_leaks=0" if options else "detect_leaks=0"}
