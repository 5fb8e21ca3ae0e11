# SPDX-License-Identifier: Apache-2.0
"""The drain: after SIGTERM the app keeps serving for --delay, then gets the stop signal.

Times are CLOCK_MONOTONIC on both sides: t0 is taken just before the test sends SIGTERM,
so "received - t0 >= delay" is exact; upper bounds get SLACK."""

import re
import signal
import time

import pytest

from support.env import MODES, pid1_prefix
from support.lameduck_proc import Lameduck
from support.sigecho import Sigecho
from support.wait import EPSILON, SLACK

QUIET = 0.3
# The sender's wording may vary ("from pid 123", "from outside the container").
KEEPS_SERVING = r"t=\+\d+ms SIGTERM received from [^\n]*app keeps serving"
K8S_ENV = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def assert_no_stop_yet(echo, sig=signal.SIGTERM):
    assert sig not in echo.read().signal_numbers(), echo.read().text


# The real 15 s of the default delay in a Pod, measured without making the suite 15 s
# longer: the drains start with the first test of this file (module fixture) and are
# checked by the last one.

@pytest.fixture(scope="module")
def k8s_drains(tmp_path_factory):
    drains, started = [], []
    try:
        for mode in MODES:
            if mode == "pid1" and pid1_prefix() is None:
                continue
            workdir = tmp_path_factory.mktemp(f"k8s-{mode}")
            echo = Sigecho(workdir / "sigecho.log")
            ld = Lameduck(["--no-wait-endpoints"], echo.command("--exit-on", "TERM:0"),
                          workdir=workdir, mode=mode, env=K8S_ENV)
            started.append(ld)
            echo.lameduck = ld.start()
            echo.wait_ready()
            drains.append((mode, ld, echo, ld.signal(signal.SIGTERM)))
        yield drains
    finally:
        for ld in started:
            ld.kill()


def test_default_delay_in_kubernetes_starts(k8s_drains):
    """Keep this the first test of the file."""
    for mode, ld, echo, t0 in k8s_drains:
        ld.wait_stderr(KEEPS_SERVING)
        assert_no_stop_yet(echo)


@pytest.mark.parametrize("mode", MODES)
def test_stop_signal_comes_after_the_delay(echo_app, mode):
    ld, echo = echo_app(["--delay", "1.5s"], "--exit-on", "TERM:0", mode=mode)
    child = echo.read().ready().pid
    t0 = ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGTERM)
    assert got.t - t0 >= 1.5 - EPSILON
    assert got.t - t0 < 1.5 + SLACK
    assert got.sender == ld.ns_pid
    result = ld.wait()
    assert result.code == 0
    # The timeline, as users read it.
    assert re.search(rf"lameduck\[{ld.ns_pid}\] info: {KEEPS_SERVING}", result.stderr), \
        result.stderr
    m = re.search(rf"t=\+(\d+)ms delay 1\.5s over: sent SIGTERM to pid {child}\b",
                  result.stderr)
    assert m, result.stderr
    assert int(m[1]) >= 1500
    assert re.search(r"t=\+\d+ms exiting with 0", result.stderr)


@pytest.mark.parametrize("mode", MODES)
def test_second_sigterm_skips_the_wait(echo_app, mode):
    ld, echo = echo_app(["--delay", "30s"], "--exit-on", "TERM:0", mode=mode)
    ld.signal(signal.SIGTERM)
    ld.wait_stderr(KEEPS_SERVING)
    time.sleep(QUIET)
    assert_no_stop_yet(echo)
    t1 = ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGTERM)
    assert got.t >= t1
    assert got.t - t1 < SLACK
    result = ld.wait()
    assert result.code == 0
    assert "second SIGTERM skips the wait: sent SIGTERM" in result.stderr
    # Sent once: the second SIGTERM is not forwarded on top of the stop signal.
    assert echo.read().signal_numbers() == [signal.SIGTERM]


@pytest.mark.parametrize("mode", MODES)
def test_sigint_skips_the_wait(echo_app, mode):
    ld, echo = echo_app(["--delay", "30s"], "--exit-on", "TERM:0", mode=mode)
    ld.signal(signal.SIGTERM)
    ld.wait_stderr(KEEPS_SERVING)
    t1 = ld.signal(signal.SIGINT)
    got = echo.wait_signal(signal.SIGTERM)  # the stop signal, not SIGINT
    assert got.t - t1 < SLACK
    assert ld.wait().code == 0
    assert "SIGINT skips the wait: sent SIGTERM" in ld.result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_sigint_while_serving_is_forwarded_at_once(echo_app, mode):
    ld, echo = echo_app(["--delay", "30s"], "--exit-on", "INT:4", mode=mode)
    t0 = ld.signal(signal.SIGINT)
    got = echo.wait_signal(signal.SIGINT)
    assert got.t - t0 < SLACK
    assert ld.wait().code == 4


@pytest.mark.parametrize("mode", MODES)
def test_child_exiting_during_the_wait_ends_lameduck(echo_app, mode):
    ld, echo = echo_app(["--delay", "30s"], "--exit-on", "USR1:7", mode=mode)
    ld.signal(signal.SIGTERM)
    ld.wait_stderr(KEEPS_SERVING)
    t1 = ld.signal(signal.SIGUSR1)  # forwarded at once; the app exits 7 on it
    result = ld.wait()
    assert result.code == 7
    assert result.ended_at - t1 < SLACK
    assert echo.read().signal_numbers() == [signal.SIGUSR1], "no stop signal may be sent"
    assert "sent SIGTERM" not in result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_child_dying_during_the_wait_passes_its_signal(echo_app, mode):
    ld, echo = echo_app(["--delay", "30s"], "--die-on", "USR2", mode=mode)
    ld.signal(signal.SIGTERM)
    ld.wait_stderr(KEEPS_SERVING)
    ld.signal(signal.SIGUSR2)
    assert ld.wait().code == 128 + signal.SIGUSR2


@pytest.mark.parametrize("mode", MODES)
def test_other_signals_are_forwarded_during_the_wait(echo_app, mode):
    ld, echo = echo_app(["--delay", "30s"], "--exit-on", "TERM:0", mode=mode)
    ld.signal(signal.SIGTERM)
    ld.wait_stderr(KEEPS_SERVING)
    for sig in (signal.SIGUSR1, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH):
        t = ld.signal(sig)
        got = echo.wait_signal(sig)
        assert got.t - t < SLACK
        assert got.sender == ld.ns_pid
    assert_no_stop_yet(echo)
    ld.signal(signal.SIGTERM)
    assert ld.wait().code == 0
    assert echo.read().signal_numbers() == [signal.SIGUSR1, signal.SIGHUP, signal.SIGQUIT,
                                            signal.SIGWINCH, signal.SIGTERM]


@pytest.mark.parametrize("mode", MODES)
def test_kill_after(echo_app, mode):
    # sigecho logs SIGTERM and keeps running: an app that ignores the stop signal.
    ld, echo = echo_app(["--kill-after", "1s"], mode=mode)
    ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 128 + signal.SIGKILL
    assert result.ended_at - got.t >= 1.0 - EPSILON
    assert result.ended_at - got.t < 1.0 + SLACK
    assert re.search(r"kill-after 1s reached: app still running, sent SIGKILL", result.stderr)
    assert echo.read().exit() is None


@pytest.mark.parametrize("mode", MODES)
def test_kill_after_not_needed(echo_app, mode):
    ld, echo = echo_app(["--kill-after", "5s"], "--exit-on", "TERM:3", mode=mode)
    t0 = ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 3
    assert result.ended_at - t0 < SLACK
    assert "SIGKILL" not in result.stderr


def test_kill_after_counts_from_the_stop_signal(echo_app):
    ld, echo = echo_app(["--delay", "0.6s", "--kill-after", "0.6s"])
    t0 = ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGTERM)
    assert got.t - t0 >= 0.6 - EPSILON
    result = ld.wait()
    assert result.code == 137
    assert result.ended_at - got.t >= 0.6 - EPSILON
    assert result.ended_at - got.t < 0.6 + SLACK


@pytest.mark.parametrize("mode", MODES)
def test_max_delay_caps_delay(echo_app, mode):
    ld, echo = echo_app(["--delay", "60s", "--max-delay", "0.8s"], "--exit-on", "TERM:0",
                        mode=mode)
    t0 = ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGTERM)
    assert got.t - t0 >= 0.8 - EPSILON
    assert got.t - t0 < 0.8 + SLACK
    assert ld.wait().code == 0


@pytest.mark.parametrize("mode", MODES)
def test_stop_signal_option(echo_app, mode):
    ld, echo = echo_app(["--delay", "0.5s", "--signal", "QUIT"], "--exit-on", "QUIT:0",
                        "--exit-on", "TERM:9", mode=mode)
    t0 = ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGQUIT)
    assert got.t - t0 >= 0.5 - EPSILON
    assert got.t - t0 < 0.5 + SLACK
    result = ld.wait()
    assert result.code == 0
    assert echo.read().signal_numbers() == [signal.SIGQUIT]
    assert "delay 500ms over: sent SIGQUIT" in result.stderr


@pytest.mark.parametrize("spelling", ["SIGUSR2", "usr2", "12"])
def test_stop_signal_spellings(echo_app, spelling):
    ld, echo = echo_app(["--signal", spelling], "--exit-on", "USR2:0")
    ld.signal(signal.SIGTERM)
    assert ld.wait().code == 0
    assert echo.read().signal_numbers() == [signal.SIGUSR2]


def test_stop_signal_from_env(echo_app):
    ld, echo = echo_app([], "--exit-on", "HUP:0", env={"LAMEDUCK_SIGNAL": "HUP"})
    ld.signal(signal.SIGTERM)
    assert ld.wait().code == 0
    assert echo.read().signal_numbers() == [signal.SIGHUP]


@pytest.mark.parametrize("mode", MODES)
def test_default_delay_in_kubernetes_is_not_zero(echo_app, mode):
    # No --delay and KUBERNETES_SERVICE_HOST set: the app keeps serving after SIGTERM
    # (the full 15 s are measured by test_default_delay_in_kubernetes_is_15s, at the end).
    ld, echo = echo_app(["--no-wait-endpoints"], "--exit-on", "TERM:0", mode=mode,
                        env=K8S_ENV)
    ld.signal(signal.SIGTERM)
    ld.wait_stderr(KEEPS_SERVING)
    time.sleep(QUIET)
    assert_no_stop_yet(echo)
    t1 = ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGTERM)
    assert got.t - t1 < SLACK
    assert ld.wait().code == 0


def test_timeline_announces_the_wait(echo_app):
    # Once, a fixed delay was never announced: the timeline jumped from "SIGTERM received"
    # to "delay 15s over".
    ld, echo = echo_app(["--no-wait-endpoints"], "--exit-on", "TERM:0", env=K8S_ENV)
    ld.signal(signal.SIGTERM)
    ld.wait_stderr(KEEPS_SERVING)
    ld.wait_stderr(r"t=\+\d+ms waiting 15s\b", timeout=5)


@pytest.mark.parametrize("mode", MODES)
def test_default_delay_outside_kubernetes_is_zero(echo_app, mode):
    ld, echo = echo_app([], "--exit-on", "TERM:0", mode=mode)
    t0 = ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGTERM)
    assert got.t - t0 < SLACK
    assert ld.wait().code == 0
    assert "delay 0s over: sent SIGTERM" in ld.result.stderr


def test_delay_from_env(echo_app):
    ld, echo = echo_app([], "--exit-on", "TERM:0", env={"LAMEDUCK_DELAY": "700ms"})
    t0 = ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGTERM)
    assert got.t - t0 >= 0.7 - EPSILON
    assert got.t - t0 < 0.7 + SLACK
    assert ld.wait().code == 0
    assert "delay 700ms over: sent SIGTERM" in ld.result.stderr


def test_delay_flag_wins_over_env(echo_app):
    ld, echo = echo_app(["--delay", "500ms"], "--exit-on", "TERM:0",
                        env={"LAMEDUCK_DELAY": "30s"})
    t0 = ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGTERM)
    assert got.t - t0 >= 0.5 - EPSILON
    assert got.t - t0 < 0.5 + SLACK
    assert "delay 500ms over: sent SIGTERM" in ld.wait().stderr


@pytest.mark.parametrize("spelling,seconds", [("1", 1.0), ("400ms", 0.4), ("0.3", 0.3)])
def test_delay_spellings(echo_app, spelling, seconds):
    ld, echo = echo_app(["--delay", spelling], "--exit-on", "TERM:0")
    t0 = ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGTERM)
    assert got.t - t0 >= seconds - EPSILON
    assert got.t - t0 < seconds + SLACK


@pytest.mark.parametrize("args,env,seconds", [
    ([], {"LAMEDUCK_DELAY": "500ms"}, 0.5),
    ([], {"LAMEDUCK_DELAY": "0"}, 0.0),
    (["--delay", "0"], {}, 0.0),
    (["--delay", "0s"], {"LAMEDUCK_DELAY": "30s"}, 0.0),
])
def test_kubernetes_default_delay_can_be_overridden(echo_app, args, env, seconds):
    env = {**K8S_ENV, "LAMEDUCK_WAIT_ENDPOINTS": "false", **env}
    ld, echo = echo_app(args, "--exit-on", "TERM:0", env=env)
    t0 = ld.signal(signal.SIGTERM)
    got = echo.wait_signal(signal.SIGTERM)
    assert got.t - t0 >= seconds - EPSILON
    assert got.t - t0 < seconds + SLACK


def test_default_delay_in_kubernetes_is_15s(k8s_drains):
    """Keep this the last test of the file."""
    for mode, ld, echo, t0 in k8s_drains:
        got = echo.wait_signal(signal.SIGTERM, timeout=15 + 3 * SLACK + 10)
        assert got.t - t0 >= 15.0 - EPSILON, mode
        assert got.t - t0 < 15.0 + SLACK, mode
        assert ld.wait().code == 0
        assert "delay 15s over: sent SIGTERM" in ld.result.stderr
