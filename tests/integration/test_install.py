# SPDX-License-Identifier: Apache-2.0
"""`lameduck install DIR` (issue 13): the initContainer copies the running binary into an
emptyDir, atomically (temporary file in DIR, fsync, rename, mode 0755), refuses a DIR that
does not exist, and a second run does no harm."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

from support.env import LAMEDUCK_BIN, base_env, emulated
from support.lameduck_proc import run_lameduck


def installed(directory: Path) -> Path:
    return directory / "lameduck"


def copy_argv(binary: Path, *args: str) -> list[str]:
    """Runs a copy of LAMEDUCK_BIN (under the emulator, as LAMEDUCK_BIN would be)."""
    return [*emulated(LAMEDUCK_BIN), str(binary), *args]


def test_copies_the_running_binary_with_mode_0755(tmp_path):
    result = run_lameduck(["install", str(tmp_path)])
    assert result.code == 0, result.stderr
    target = installed(tmp_path)
    assert target.read_bytes() == Path(LAMEDUCK_BIN).read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert f"installed {target}" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lameduck"], "a temporary file is left"
    assert result.stdout == ""


def test_the_copy_runs(tmp_path):
    assert run_lameduck(["install", str(tmp_path)]).code == 0
    r = subprocess.run(copy_argv(installed(tmp_path), "version"), capture_output=True, text=True,
                       timeout=30, env=base_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout.startswith("lameduck "), r


def test_mode_does_not_depend_on_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        result = run_lameduck(["install", str(tmp_path)])
    finally:
        os.umask(old)
    assert result.code == 0, result.stderr
    assert stat.S_IMODE(installed(tmp_path).stat().st_mode) == 0o755


def test_a_second_run_leaves_an_identical_file_alone(tmp_path):
    assert run_lameduck(["install", str(tmp_path)]).code == 0
    before = installed(tmp_path).stat()
    result = run_lameduck(["install", str(tmp_path)])
    assert result.code == 0, result.stderr
    after = installed(tmp_path).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert "is up to date" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lameduck"]


def test_replaces_a_different_file_and_fixes_its_mode(tmp_path):
    target = installed(tmp_path)
    target.write_bytes(b"an older lameduck")
    target.chmod(0o600)
    result = run_lameduck(["install", str(tmp_path)])
    assert result.code == 0, result.stderr
    assert target.read_bytes() == Path(LAMEDUCK_BIN).read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


def test_replaces_a_binary_that_is_running(tmp_path):
    """Writing into a running executable fails with ETXTBSY; a rename over it does not, and
    the running process keeps its (old) file."""
    source = tmp_path / "src"
    source.mkdir()
    old = source / "old"
    shutil.copy(LAMEDUCK_BIN, old)
    with open(old, "ab") as f:
        f.write(b"\0older build")  # trailing bytes: still the same program, other content
    dest = tmp_path / "shared"
    dest.mkdir()
    r = subprocess.run(copy_argv(old, "install", str(dest)), capture_output=True, text=True,
                       timeout=30, env=base_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    running = subprocess.Popen(copy_argv(installed(dest), "--delay", "0", "--", "sleep", "30"),
                               env=base_env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        result = run_lameduck(["install", str(dest)])
        assert result.code == 0, result.stderr
        assert installed(dest).read_bytes() == Path(LAMEDUCK_BIN).read_bytes()
        assert running.poll() is None
    finally:
        running.kill()
        running.wait()


def test_readers_never_see_a_partial_file(tmp_path):
    """Two different builds install over each other again and again while a reader keeps
    reading DIR/lameduck: every read is one build or the other, complete."""
    a = Path(LAMEDUCK_BIN).read_bytes()
    other = tmp_path / "other"
    shutil.copy(LAMEDUCK_BIN, other)
    with open(other, "ab") as f:
        f.write(b"\0another build")
    b = other.read_bytes()
    dest = tmp_path / "shared"
    dest.mkdir()
    assert run_lameduck(["install", str(dest)]).code == 0
    bad: list[str] = []
    reads = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            data = installed(dest).read_bytes()
            reads += 1
            if data != a and data != b:
                bad.append(f"read {len(data)} bytes, neither build")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(6):
            binary = other if i % 2 == 0 else Path(LAMEDUCK_BIN)
            r = subprocess.run(copy_argv(binary, "install", str(dest)), capture_output=True, text=True,
                               timeout=30, env=base_env(), stdin=subprocess.DEVNULL)
            assert r.returncode == 0, r.stderr
            assert "installed" in r.stderr
    finally:
        stop.set()
        thread.join()
    assert not bad, bad[:3]
    assert reads > 0
    assert installed(dest).read_bytes() == a
    assert sorted(p.name for p in dest.iterdir()) == ["lameduck"]


def test_refuses_a_directory_that_does_not_exist(tmp_path):
    missing = tmp_path / "missing"
    result = run_lameduck(["install", str(missing)])
    assert result.code == 1
    assert result.stderr_lines == [
        f"lameduck: install: {missing} does not exist (mount the volume there)"]
    assert not missing.exists()


def test_refuses_a_file_as_the_directory(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    result = run_lameduck(["install", str(path)])
    assert result.code == 1
    assert "cannot open directory" in result.stderr and "Not a directory" in result.stderr
    assert path.read_text() == "x"


def test_a_failed_rename_leaves_no_temporary_file(tmp_path):
    (tmp_path / "lameduck").mkdir()  # rename(2) of a file over a directory fails
    result = run_lameduck(["install", str(tmp_path)])
    assert result.code == 1
    assert "cannot rename" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lameduck"]


def test_usage_errors():
    assert run_lameduck(["install"]).code == 125
    r = run_lameduck(["install", "a", "b"])
    assert r.code == 125 and "unexpected argument" in r.stderr
    r = run_lameduck(["install", "--help"])
    assert r.code == 0 and "DIR" in r.stdout
