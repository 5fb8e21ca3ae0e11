# SPDX-License-Identifier: Apache-2.0
"""Leftovers: when the app has exited, processes it left behind (a daemon in its own
session) get the stop signal and --orphan-grace to exit, then SIGKILL. As PID 1 and as a
child subreaper alike."""

import shutil
import signal
import subprocess
import time

import pytest

from support.env import MODES, traced_env
from support.procfs import alive
from support.wait import EPSILON, SLACK


@pytest.mark.parametrize("mode", MODES)
def test_daemon_exits_within_the_grace(echo_app, mode):
    ld, echo = echo_app(["--orphan-grace", "5s"], "--daemon", "300", "--exit-on", "TERM:5",
                        mode=mode, ready=("daemon", "main"))
    ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 5, "lameduck exits with the main child's code"
    log = echo.read()
    main_exit = log.exit("main")
    term = log.first(signal.SIGTERM, who="daemon")
    assert term is not None, log.text
    assert term.sender == ld.ns_pid
    assert term.t >= main_exit.t, "leftovers are signalled once the app has exited"
    daemon_exit = log.exit("daemon")
    assert daemon_exit is not None and daemon_exit.code == 0, log.text
    assert daemon_exit.t - term.t >= 0.3 - EPSILON
    # It exited by itself; lameduck followed soon, well before the 5 s grace.
    assert result.ended_at - daemon_exit.t < SLACK
    assert "leftover processes exited" in result.stderr
    assert "SIGKILL" not in result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_daemon_ignoring_sigterm_is_killed_after_the_grace(echo_app, mode):
    ld, echo = echo_app(["--orphan-grace", "1s"], "--daemon", "-1", "--exit-on", "TERM:5",
                        mode=mode, ready=("daemon", "main"))
    daemon = echo.host_pid(echo.read().ready("daemon").pid)
    ld.signal(signal.SIGTERM)
    term = echo.wait_signal(signal.SIGTERM, who="daemon")
    result = ld.wait()
    assert result.code == 5
    log = echo.read()
    assert term.t >= log.exit("main").t
    assert result.ended_at - term.t >= 1.0 - EPSILON, "SIGKILL before the grace was over"
    assert result.ended_at - term.t < 1.0 + SLACK
    assert log.exit("daemon") is None
    assert "leftover processes still running after 1s: sent SIGKILL" in result.stderr
    assert not alive(daemon)


@pytest.mark.parametrize("mode", MODES)
def test_app_exiting_by_itself_leaves_a_daemon(echo_app, mode):
    # No SIGTERM: the app ends on its own (on a forwarded USR1, sent once the daemon is
    # listening); its daemon still gets the stop signal, then the grace, then SIGKILL.
    ld, echo = echo_app(["--orphan-grace", "1s"], "--daemon", "-1", "--exit-on", "USR1:3",
                        mode=mode, ready=("daemon", "main"))
    ld.signal(signal.SIGUSR1)
    result = ld.wait()
    assert result.code == 3
    log = echo.read()
    term = log.first(signal.SIGTERM, who="daemon")
    assert term is not None and term.sender == ld.ns_pid, log.text
    assert term.t >= log.exit("main").t
    assert result.ended_at - term.t >= 1.0 - EPSILON
    assert result.ended_at - term.t < 1.0 + SLACK


@pytest.mark.parametrize("mode", MODES)
def test_leftovers_get_the_configured_stop_signal(echo_app, mode):
    ld, echo = echo_app(["--signal", "QUIT", "--orphan-grace", "5s"], "--daemon", "-1",
                        "--exit-on", "QUIT:0", mode=mode, ready=("daemon", "main"))
    ld.signal(signal.SIGTERM)
    echo.wait_signal(signal.SIGQUIT, who="daemon")
    # SIGTERM (or SIGINT) during the grace cuts it short.
    t1 = ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 0
    assert result.ended_at - t1 < SLACK
    assert echo.read().signal_numbers(who="daemon") == [signal.SIGQUIT]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_impatient_signal_cuts_the_grace_short(echo_app, mode, sig):
    ld, echo = echo_app(["--orphan-grace", "30s"], "--daemon", "-1", "--exit-on", "TERM:5",
                        mode=mode, ready=("daemon", "main"))
    daemon = echo.host_pid(echo.read().ready("daemon").pid)
    ld.signal(signal.SIGTERM)
    echo.wait_signal(signal.SIGTERM, who="daemon")
    time.sleep(0.2)
    assert ld.running()
    t1 = ld.signal(sig)
    result = ld.wait()
    assert result.code == 5
    assert result.ended_at - t1 < SLACK
    assert not alive(daemon)


@pytest.mark.parametrize("mode", MODES)
def test_signal_taken_with_the_apps_exit_cuts_the_grace_short(echo_app, mode):
    """A SIGTERM still pending when lameduck has reaped the app (taken with take_pending,
    not in the grace's own wait) skips the grace too, and starts no drain for a dead app.
    strace holds lameduck's first wait4 (the app's reap) for a second, so the SIGTERM sent
    meanwhile is pending right after the app's exit."""
    if shutil.which("strace") is None:
        pytest.skip("needs strace")
    ld, echo = echo_app(["--orphan-grace", "30s"], "--daemon", "-1", "--exit-on", "USR1:5",
                        mode=mode, ready=("daemon", "main"), env=traced_env())
    daemon = echo.host_pid(echo.read().ready("daemon").pid)
    tracer = subprocess.Popen(
        ["strace", "-qq", "-o", "/dev/null", "-p", str(ld.pid), "-e", "trace=wait4",
         "-e", "inject=wait4:delay_exit=1000000:when=1"],
        stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # attached (strace -qq prints nothing)
        ld.signal(signal.SIGUSR1)
        echo.wait_exit()
        time.sleep(0.2)  # lameduck is in the held wait4 now
        t1 = ld.signal(signal.SIGTERM)
        result = ld.wait()
    finally:
        tracer.wait(timeout=10)
    assert result.code == 5
    assert result.ended_at - t1 < 1.0 + SLACK, result.stderr
    assert not alive(daemon)
    assert "keeps serving" not in result.stderr, result.stderr
    assert "drain summary" not in result.stderr, result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_no_leftovers_no_wait(echo_app, mode):
    ld, echo = echo_app(["--orphan-grace", "30s"], "--exit-on", "TERM:0", mode=mode)
    t0 = ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 0
    assert result.ended_at - t0 < SLACK
    assert "left" not in result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_group_member_left_behind_is_cleaned_up(echo_app, mode):
    # A process of the app's group that outlives the app: a leftover like any other.
    ld, echo = echo_app(["--orphan-grace", "5s"], "--member", "--exit-on", "USR1:0",
                        mode=mode, ready=("member", "main"))
    ld.signal(signal.SIGUSR1)  # to the app only (no --group): it exits, the member stays
    result = ld.wait()
    assert result.code == 0
    log = echo.read()
    assert log.first(signal.SIGTERM, who="member") is not None
    assert log.exit("member").code == 0
    assert result.ended_at - log.exit("member").t < SLACK
