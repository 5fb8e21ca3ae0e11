# SPDX-License-Identifier: Apache-2.0
"""Exit status: the child's code, 128+N for signal N, and lameduck's own 125/126/127."""

import os
import signal

import pytest

from support.env import MODES, SIGECHO_BIN
from support.lameduck_proc import run_lameduck


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_child_exit_code_passes_through(mode, code, sigecho):
    echo = sigecho()
    result = run_lameduck(["--", *echo.command("--exit", str(code))], mode=mode)
    assert result.code == code
    assert echo.read().exit().code == code
    assert f"exiting with {code}" in result.stderr


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGTERM])
def test_child_killed_by_signal_gives_128_plus_n(mode, sig):
    # ulimit -c 0: no core dump to write (or to hand to a slow core_pattern helper).
    result = run_lameduck(["--", "sh", "-c", f"ulimit -c 0; kill -{int(sig)} $$"], mode=mode)
    assert result.code == 128 + sig
    assert f"killed by {sig.name}" in result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_child_dies_of_the_stop_signal(echo_app, mode):
    ld, echo = echo_app([], "--die-on", "TERM", mode=mode)
    ld.signal(signal.SIGTERM)
    assert ld.wait().code == 143


@pytest.mark.parametrize("mode", MODES)
def test_success_exit_code_maps_143_to_0(echo_app, mode):
    ld, echo = echo_app(["-e", "143"], "--die-on", "TERM", mode=mode)
    ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 0
    assert echo.read().exit().died_of == signal.SIGTERM


@pytest.mark.parametrize("args,env,child_code,expected", [
    (["-e", "3", "-e", "143"], {}, 3, 0),
    (["-e", "3", "-e", "143"], {}, 143, 0),
    (["-e", "3", "-e", "143"], {}, 4, 4),
    (["--success-exit-code", "1"], {}, 1, 0),
    (["--success-exit-code", "1"], {}, 0, 0),
    ([], {"LAMEDUCK_SUCCESS_EXIT_CODE": "3,143"}, 3, 0),
    ([], {"LAMEDUCK_SUCCESS_EXIT_CODE": "3,143"}, 143, 0),
    ([], {"LAMEDUCK_SUCCESS_EXIT_CODE": "3,143"}, 42, 42),
    ([], {"LAMEDUCK_SUCCESS_EXIT_CODE": "7"}, 7, 0),
])
def test_success_exit_codes(args, env, child_code, expected):
    result = run_lameduck([*args, "--", "sh", "-c", f"exit {child_code}"], env=env)
    assert result.code == expected


def test_success_exit_code_applies_to_signal_deaths():
    result = run_lameduck(["-e", "137", "--", "sh", "-c", "kill -9 $$"])
    assert result.code == 0


@pytest.mark.parametrize("mode", MODES)
def test_not_executable_file_gives_126(tmp_path, mode):
    script = tmp_path / "app.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o644)
    result = run_lameduck(["--", str(script)], mode=mode)
    assert result.code == 126
    assert len(result.stderr_lines) == 1, result.stderr
    assert str(script) in result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_directory_gives_126(tmp_path, mode):
    result = run_lameduck(["--", str(tmp_path)], mode=mode)
    assert result.code == 126
    assert len(result.stderr_lines) == 1, result.stderr
    assert str(tmp_path) in result.stderr


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("command", ["/nonexistent/app", "no-such-command-lameduck-test"])
def test_not_found_gives_127(mode, command):
    result = run_lameduck(["--", command, "arg"], mode=mode)
    assert result.code == 127
    assert len(result.stderr_lines) == 1, result.stderr
    assert command in result.stderr
    assert "No such file" in result.stderr


def test_command_is_searched_in_path(tmp_path):
    os.symlink(SIGECHO_BIN, tmp_path / "my-sigecho")
    log = tmp_path / "log"
    result = run_lameduck(["--", "my-sigecho", "--log", str(log), "--exit", "5"],
                          env={"PATH": f"{tmp_path}:{os.environ.get('PATH', '/usr/bin:/bin')}"})
    assert result.code == 5


def test_arguments_reach_the_child_verbatim(tmp_path):
    out = tmp_path / "args"
    args = ["a b", "", "--delay", "-e", "*", "$HOME", "ünï"]
    result = run_lameduck(["--", "sh", "-c", 'printf "%s\\n" "$@" > "$0"', str(out), *args])
    assert result.code == 0
    assert out.read_text().split("\n")[:-1] == args


def test_stdio_is_inherited(tmp_path):
    result = run_lameduck(["--", "sh", "-c", "echo out; echo err >&2"])
    assert result.stdout == "out\n"
    assert "err\n" in result.stderr
