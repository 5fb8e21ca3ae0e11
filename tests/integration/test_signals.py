# SPDX-License-Identifier: Apache-2.0
"""Signal forwarding: what the child really receives, from whom.

With the default --delay 0 (no KUBERNETES_SERVICE_HOST), SIGTERM starts a drain that ends at
once and sends the stop signal (SIGTERM); SIGINT while serving is forwarded as itself. So
every signal below reaches the child as itself."""

import os
import pty
import shutil
import signal
import sys
import time
import uuid

import pytest

from support.env import (MARKER_VAR, MODES, base_env, kill_marked, lameduck_argv,
                         require_binaries, require_mode)
from support.lameduck_proc import Lameduck
from support.procfs import proc_stat
from support.sigecho import Sigecho
from support.wait import SLACK, wait_for

RTMIN = signal.SIGRTMIN

FORWARDED = {
    "HUP": signal.SIGHUP, "INT": signal.SIGINT, "QUIT": signal.SIGQUIT,
    "USR1": signal.SIGUSR1, "USR2": signal.SIGUSR2, "ALRM": signal.SIGALRM,
    "TERM": signal.SIGTERM, "CONT": signal.SIGCONT, "WINCH": signal.SIGWINCH,
    "URG": signal.SIGURG, "PIPE": signal.SIGPIPE, "VTALRM": signal.SIGVTALRM,
    "PROF": signal.SIGPROF, "IO": signal.SIGIO, "PWR": signal.SIGPWR,
    "XCPU": signal.SIGXCPU, "XFSZ": signal.SIGXFSZ,
    "RTMIN": RTMIN, "RTMIN+1": RTMIN + 1, "RTMAX": signal.SIGRTMAX,
}

# How long a "must not arrive" check waits after the evidence that it would have.
QUIET = 0.3


@pytest.fixture(scope="module")
def shared_echo(tmp_path_factory):
    """``shared_echo(mode)``: one ``lameduck -- sigecho`` per mode for the many one-signal
    checks below (each sigecho logs and survives every signal sent here); restarted if a
    test left it dead."""
    pool, started = {}, []

    def get(mode):
        require_mode(mode)
        if mode in pool:
            ld, echo = pool[mode]
            if ld.running() and echo.read().exit() is None:
                return ld, echo
        workdir = tmp_path_factory.mktemp(f"shared-{mode}")
        echo = Sigecho(workdir / "sigecho.log")
        ld = Lameduck([], echo.command(), workdir=workdir, mode=mode)
        started.append(ld)
        echo.lameduck = ld.start()
        echo.wait_ready()
        pool[mode] = ld, echo
        return ld, echo

    yield get
    for ld in started:
        ld.kill()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(FORWARDED))
def test_signal_reaches_child(shared_echo, mode, name):
    sig = FORWARDED[name]
    ld, echo = shared_echo(mode)
    time.sleep(0.01)
    t0 = ld.signal(sig)
    got = echo.wait_signal(sig, after=t0)
    assert got.sender == ld.ns_pid, "the signal must come from lameduck"
    assert got.t - t0 < SLACK
    # Exactly once, and nothing else.
    time.sleep(0.05)
    assert [r.signo for r in echo.read().signals() if r.t >= t0] == [sig]
    assert ld.running()


@pytest.mark.parametrize("mode", MODES)
def test_several_signals_arrive_in_order(echo_app, mode):
    ld, echo = echo_app([], mode=mode)
    sigs = [signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, RTMIN + 2]
    for sig in sigs:
        ld.signal(sig)
        echo.wait_signal(sig)
    assert echo.read().signal_numbers() == sigs


JOB_CONTROL = {"TSTP": signal.SIGTSTP, "TTIN": signal.SIGTTIN, "TTOU": signal.SIGTTOU}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(JOB_CONTROL))
def test_job_control_signals_stop_an_app_in_its_own_session(echo_app, mode, name):
    """Without a terminal the app leads its own session, so its process group is orphaned
    and the kernel would discard a default-action TSTP, TTIN or TTOU: lameduck forwards
    them as SIGSTOP (as dumb-init does in setsid mode), so `kill -TSTP 1` stops the app,
    SIGCONT resumes it, and lameduck itself never stops."""
    ld, echo = echo_app([], mode=mode)
    app = echo.host_pid(echo.read().ready("main").pid)
    ld.signal(JOB_CONTROL[name])
    wait_for(lambda: proc_stat(app).state == "T", message="the app to be stopped")
    time.sleep(QUIET)
    assert ld.state() not in ("T", "t", None), f"lameduck is stopped: state {ld.state()}"
    ld.signal(signal.SIGCONT)
    wait_for(lambda: proc_stat(app).state != "T", message="the app to run again")
    # Still responsive: the next signal is forwarded too; the stop signal never arrived.
    t1 = ld.signal(signal.SIGUSR1)
    echo.wait_signal(signal.SIGUSR1, after=t1)
    assert JOB_CONTROL[name] not in echo.read().signal_numbers()
    assert ld.state() not in ("T", "t", None)


@pytest.mark.parametrize("mode", MODES)
def test_a_rewrite_of_a_job_control_signal_wins(echo_app, mode):
    ld, echo = echo_app(["--rewrite", "TSTP:USR1", "--rewrite", "TTIN:TTIN"], mode=mode)
    app = echo.host_pid(echo.read().ready("main").pid)
    t0 = ld.signal(signal.SIGTSTP)
    echo.wait_signal(signal.SIGUSR1, after=t0)
    ld.signal(signal.SIGTTIN)  # rewritten to itself: sigecho catches it
    echo.wait_signal(signal.SIGTTIN)
    assert proc_stat(app).state != "T"
    assert echo.read().signal_numbers() == [signal.SIGUSR1, signal.SIGTTIN]


@pytest.mark.parametrize("mode", MODES)
def test_job_control_signals_never_stop_lameduck(echo_app, mode):
    ld, echo = echo_app([a for n in JOB_CONTROL for a in ("--rewrite", f"{n}:{n}")],
                        mode=mode)
    for sig in JOB_CONTROL.values():
        ld.signal(sig)
    for sig in JOB_CONTROL.values():
        echo.wait_signal(sig)
    time.sleep(QUIET)
    assert ld.state() not in ("T", "t", None)
    t1 = ld.signal(signal.SIGUSR1)
    echo.wait_signal(signal.SIGUSR1, after=t1)


# A child that can tell whether it got SIGCHLD (sigecho swallows SIGCHLD silently).
CHLD_APP = r"""
import signal, sys
sigs = {signal.SIGCHLD, signal.SIGUSR1}
signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
log = open(sys.argv[1], "a", buffering=1)
log.write("ready\n")
while True:
    info = signal.sigwaitinfo(sigs)
    log.write(f"got {info.si_signo}\n")
    if info.si_signo == signal.SIGUSR1:
        sys.exit(3)
"""


@pytest.mark.parametrize("mode", MODES)
def test_sigchld_is_not_forwarded(lameduck, tmp_path, mode):
    log = tmp_path / "chld.log"
    ld = lameduck([], [sys.executable, "-c", CHLD_APP, str(log)], mode=mode)
    wait_for(lambda: log.exists() and "ready" in log.read_text())
    ld.signal(signal.SIGCHLD)
    time.sleep(0.1)
    ld.signal(signal.SIGUSR1)
    assert ld.wait().code == 3
    assert log.read_text().splitlines()[1:] == [f"got {int(signal.SIGUSR1)}"]


@pytest.mark.parametrize("mode", MODES)
def test_group_reaches_the_whole_process_group(echo_app, mode):
    ld, echo = echo_app(["--group"], "--member", "--exit-on", "TERM:0", mode=mode,
                        ready=("main", "member"))
    log = echo.read()
    assert log.ready("main").pgid == log.ready("main").pid
    ld.signal(signal.SIGUSR1)
    main = echo.wait_signal(signal.SIGUSR1, who="main")
    member = echo.wait_signal(signal.SIGUSR1, who="member")
    assert main.sender == member.sender == ld.ns_pid
    # The stop signal goes to the group too.
    ld.signal(signal.SIGTERM)
    echo.wait_signal(signal.SIGTERM, who="member")
    echo.wait_signal(signal.SIGTERM, who="main")
    result = ld.wait()
    assert result.code == 0
    assert f"sent SIGTERM to process group {log.ready('main').pid}" in result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_without_a_terminal_the_app_leads_a_session_of_its_own(echo_app, mode):
    """Issue 21: stdin is not a terminal, so the app is started with setsid (as dumb-init
    does): the orphans it leaves exit without the kernel's orphaned-group walk. Its group
    is still one group, and --group still reaches all of it."""
    ld, echo = echo_app(["--group"], "--member", "--exit-on", "TERM:0", mode=mode,
                        ready=("main", "member"))
    log = echo.read()
    main = proc_stat(echo.host_pid(log.ready("main").pid))
    member = proc_stat(echo.host_pid(log.ready("member").pid))
    assert main.sid == main.pgid == main.pid
    assert member.sid == member.pgid == main.pid
    assert proc_stat(ld.pid).sid != main.sid
    t0 = ld.signal(signal.SIGUSR1)
    echo.wait_signal(signal.SIGUSR1, who="main", after=t0)
    echo.wait_signal(signal.SIGUSR1, who="member", after=t0)
    ld.signal(signal.SIGTERM)
    echo.wait_signal(signal.SIGTERM, who="member")
    assert ld.wait().code == 0


@pytest.mark.parametrize("mode", MODES)
def test_without_group_only_the_child(echo_app, mode):
    ld, echo = echo_app([], "--member", "--exit-on", "TERM:0", mode=mode,
                        ready=("main", "member"))
    ld.signal(signal.SIGUSR1)
    echo.wait_signal(signal.SIGUSR1, who="main")
    ld.signal(signal.SIGTERM)
    echo.wait_signal(signal.SIGTERM, who="main")
    result = ld.wait()
    assert result.code == 0
    log = echo.read()
    # The member never got USR1; it got SIGTERM only as a leftover, after the app exited.
    assert signal.SIGUSR1 not in log.signal_numbers(who="member")
    for got in log.signals(who="member"):
        assert got.signo == signal.SIGTERM and got.t >= log.exit("main").t


@pytest.mark.parametrize("value,group", [("true", True), ("1", True), ("false", False),
                                         ("0", False), ("", False)])
def test_group_env_variable(echo_app, value, group):
    ld, echo = echo_app([], "--member", ready=("main", "member"), env={"LAMEDUCK_GROUP": value})
    ld.signal(signal.SIGHUP)
    echo.wait_signal(signal.SIGHUP, who="main")
    if group:
        echo.wait_signal(signal.SIGHUP, who="member")
    else:
        time.sleep(QUIET)
        assert echo.read().signals(who="member") == []


@pytest.mark.parametrize("mode", MODES)
def test_child_starts_clean_in_its_own_process_group(echo_app, mode):
    ld, echo = echo_app([], mode=mode)
    ready = echo.read().ready()
    assert ready.blocked == 0, f"blocked mask {ready.blocked:#x}"
    assert ready.ignored == 0, f"ignored signals {ready.ignored:#x}"
    assert ready.pgid == ready.pid, "the child must lead its own process group"
    assert ready.ppid == ld.ns_pid
    own_pgid = proc_stat(ld.pid).pgid
    assert proc_stat(ld.host_pid(ready.pid)).pgid != own_pgid


def test_child_mask_is_empty_even_if_lameduck_inherited_blocked_signals(echo_app):
    blocked = [signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP]
    ld, echo = echo_app([], mode="plain", block_signals=blocked)
    assert echo.read().ready().blocked == 0


@pytest.mark.parametrize("rule,sent,expected,mode", [
    ("USR1:USR2", signal.SIGUSR1, signal.SIGUSR2, "plain"),
    ("USR1:USR2", signal.SIGUSR1, signal.SIGUSR2, "pid1"),
    ("SIGHUP:SIGQUIT", signal.SIGHUP, signal.SIGQUIT, "plain"),
    ("10:12", signal.SIGUSR1, signal.SIGUSR2, "plain"),
    ("winch:usr1", signal.SIGWINCH, signal.SIGUSR1, "plain"),
    ("RTMIN+1:USR1", RTMIN + 1, signal.SIGUSR1, "plain"),
    ("INT:QUIT", signal.SIGINT, signal.SIGQUIT, "plain"),
    ("INT:QUIT", signal.SIGINT, signal.SIGQUIT, "pid1"),
])
def test_rewrite(echo_app, mode, rule, sent, expected):
    ld, echo = echo_app(["--rewrite", rule], mode=mode)
    ld.signal(sent)
    got = echo.wait_signal(expected)
    assert got.sender == ld.ns_pid
    # An unrelated signal is untouched, and the original never arrives.
    ld.signal(signal.SIGALRM)
    echo.wait_signal(signal.SIGALRM)
    assert echo.read().signal_numbers() == [expected, signal.SIGALRM]


@pytest.mark.parametrize("mode", MODES)
def test_rewrite_to_zero_drops(echo_app, mode):
    ld, echo = echo_app(["--rewrite", "HUP:0", "--rewrite", "WINCH:0"], mode=mode)
    ld.signal(signal.SIGHUP)
    ld.signal(signal.SIGWINCH)
    ld.signal(signal.SIGUSR1)
    echo.wait_signal(signal.SIGUSR1)
    time.sleep(QUIET)
    assert echo.read().signal_numbers() == [signal.SIGUSR1]


def test_rewrite_list_from_env(echo_app):
    ld, echo = echo_app([], env={"LAMEDUCK_REWRITE": "USR1:USR2,HUP:0"})
    ld.signal(signal.SIGHUP)
    ld.signal(signal.SIGUSR1)
    echo.wait_signal(signal.SIGUSR2)
    time.sleep(QUIET)
    assert echo.read().signal_numbers() == [signal.SIGUSR2]


@pytest.mark.parametrize("mode", MODES)
def test_rewrite_term_applies_to_the_stop_signal(echo_app, mode):
    # dumb-init's --rewrite 15:3 (and the example in --help): the app gets SIGQUIT.
    ld, echo = echo_app(["--rewrite", "TERM:QUIT"], "--exit-on", "QUIT:0", "--exit-on",
                        "TERM:9", mode=mode)
    ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert echo.read().signal_numbers() == [signal.SIGQUIT]
    assert result.code == 0


def test_signal_option_wins_over_rewrite_term(echo_app):
    ld, echo = echo_app(["--rewrite", "TERM:QUIT", "--signal", "USR2"], "--exit-on", "USR2:0")
    ld.signal(signal.SIGTERM)
    assert ld.wait().code == 0
    assert echo.read().signal_numbers() == [signal.SIGUSR2]


@pytest.mark.parametrize("mode", MODES)
def test_signals_to_child_after_stop_are_still_forwarded(echo_app, mode):
    # After the stop signal was sent, the app may take a while: keep forwarding.
    ld, echo = echo_app([], mode=mode)
    ld.signal(signal.SIGTERM)
    echo.wait_signal(signal.SIGTERM)
    ld.signal(signal.SIGUSR2)
    echo.wait_signal(signal.SIGUSR2)
    ld.signal(signal.SIGTERM)  # a further SIGTERM is forwarded as is
    wait_for(lambda: echo.read().signal_numbers().count(signal.SIGTERM) == 2)


@pytest.mark.parametrize("mode", MODES)
def test_closed_stderr_does_not_hurt(lameduck, sigecho, mode):
    # The log reader went away: lameduck's writes to stderr raise SIGPIPE for itself. It
    # must neither die of it (once: at exit, when it restored its signal mask, the pending
    # SIGPIPE replaced the app's status with 141) nor forward it to the app.
    read_end, write_end = os.pipe()
    echo = sigecho()
    ld = lameduck(["--delay", "0.2s", "--log-level", "debug"], echo.command("--exit-on", "TERM:6"),
                  mode=mode, stderr_fd=write_end)
    os.close(write_end)
    echo.lameduck = ld
    echo.wait_ready()
    os.close(read_end)
    for sig in (signal.SIGUSR1, signal.SIGHUP):  # each one logs a debug line
        t = ld.signal(sig)
        echo.wait_signal(sig, after=t)
    ld.signal(signal.SIGTERM)
    assert ld.wait().code == 6
    assert echo.read().signal_numbers() == [signal.SIGUSR1, signal.SIGHUP, signal.SIGTERM]


def test_app_gets_the_terminal(tmp_path, sigecho):
    # docker run -it: lameduck's stdin is the controlling terminal and lameduck is in its
    # foreground; the app (in its own process group) must become the foreground group, so
    # ^C reaches it from the terminal driver.
    require_binaries()
    echo = sigecho()
    marker = uuid.uuid4().hex
    env = base_env(**{MARKER_VAR: marker})
    pid, master = pty.fork()
    if pid == 0:  # the child: session leader with the pty as its controlling terminal
        try:
            argv = lameduck_argv("--", *echo.command())
            os.execve(shutil.which(argv[0]) or argv[0], argv, env)
        finally:
            os._exit(127)
    try:
        ready = echo.wait_ready()
        assert ready.pgid == ready.pid != pid
        assert proc_stat(ready.pid).sid == pid, "in lameduck's session, where the terminal is"
        wait_for(lambda: os.tcgetpgrp(master) == ready.pgid,
                 message="the app's process group to be the terminal's foreground")
        os.write(master, b"\x03")  # ^C
        got = echo.wait_signal(signal.SIGINT)
        assert got.sender == 0, "from the terminal driver, not forwarded"
    finally:
        kill_marked(marker)
        os.waitpid(pid, 0)
        os.close(master)


def test_stdin_not_a_terminal_but_a_controlling_one_keeps_the_session(tmp_path, sigecho):
    # `lameduck -- app </dev/null` typed in a shell: stdin is no terminal, but lameduck
    # has a controlling terminal, so the app stays in lameduck's session (its own process
    # group, no tcsetpgrp) and can still open /dev/tty; no setsid.
    require_binaries()
    echo = sigecho()
    marker = uuid.uuid4().hex
    env = base_env(**{MARKER_VAR: marker})
    pid, master = pty.fork()
    if pid == 0:  # session leader with the pty as controlling terminal, stdin /dev/null
        try:
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
            argv = lameduck_argv("--", *echo.command())
            os.execve(shutil.which(argv[0]) or argv[0], argv, env)
        finally:
            os._exit(127)
    try:
        ready = echo.wait_ready()
        assert ready.pgid == ready.pid != pid
        app = proc_stat(ready.pid)
        assert app.sid == pid, "in lameduck's session, where the terminal is"
        stat = open(f"/proc/{ready.pid}/stat").read()
        tty_nr = int(stat[stat.rindex(")") + 2:].split()[4])
        assert tty_nr != 0, "the app still has the controlling terminal"
        assert os.tcgetpgrp(master) == pid, "the foreground stays lameduck's"
    finally:
        kill_marked(marker)
        os.waitpid(pid, 0)
        os.close(master)


# --------------------------------------------------------------------------------------
# fault signals (issue 15.1)
# --------------------------------------------------------------------------------------

FAULTS = {"ABRT": signal.SIGABRT, "SEGV": signal.SIGSEGV, "BUS": signal.SIGBUS,
          "FPE": signal.SIGFPE, "ILL": signal.SIGILL, "TRAP": signal.SIGTRAP,
          "SYS": signal.SIGSYS}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_signal_sent_with_kill_is_forwarded(shared_echo, mode, name):
    """`kill -ABRT` (for a thread dump or a core) is for the app; before, it ended lameduck
    (not PID 1) or was dropped (PID 1), and the app lost its init or the signal."""
    sig = FAULTS[name]
    ld, echo = shared_echo(mode)
    t0 = ld.signal(sig)
    got = echo.wait_signal(sig, after=t0)
    assert got.sender == ld.ns_pid
    time.sleep(0.05)
    assert ld.running(), f"lameduck died of {name}"


@pytest.mark.parametrize("mode", MODES)
def test_fault_signal_can_be_rewritten(echo_app, mode):
    ld, echo = echo_app(["--rewrite", "ABRT:QUIT", "--rewrite", "SEGV:0"], mode=mode)
    ld.signal(signal.SIGSEGV)
    t0 = ld.signal(signal.SIGABRT)
    echo.wait_signal(signal.SIGQUIT, after=t0)
    time.sleep(QUIET)
    assert signal.SIGSEGV not in echo.read().signal_numbers()
    assert signal.SIGABRT not in echo.read().signal_numbers()
    assert ld.running()


# Runs argv under a seccomp filter that turns the kill(2) system call into a real SIGSYS
# fault (SECCOMP_RET_TRAP): lameduck faults as soon as it forwards a signal.
SECCOMP_KILL_TRAPS = r"""
import ctypes, os, resource, struct, sys
NR_KILL = {"x86_64": 62, "aarch64": 129}[os.uname().machine]
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
insns = [(0x20, 0, 0, 0),               # ld [nr]
         (0x15, 0, 1, NR_KILL),         # jeq #kill
         (0x06, 0, 0, 0x00030000),      # ret TRAP
         (0x06, 0, 0, 0x7fff0000)]      # ret ALLOW
code = b"".join(struct.pack("HBBI", *i) for i in insns)
buf = ctypes.create_string_buffer(code)
prog = struct.pack("HxxxxxxP", len(insns), ctypes.addressof(buf))
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.c_char_p(prog), 0, 0) != 0:
    sys.exit(124)   # PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP(SECCOMP_MODE_FILTER)
os.execv(sys.argv[1], sys.argv[1:])
"""


class SeccompLameduck(Lameduck):
    def argv(self):
        return [sys.executable, "-c", SECCOMP_KILL_TRAPS, *super().argv()]


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="syscall numbers")
def test_a_real_fault_still_kills_lameduck_at_once(tmp_path):
    """The fault signals are blocked (so the signalfd reads a kill), but a synchronous fault
    is not a kill: the kernel unblocks it and lameduck dies of it, with no handler or loop
    in between (dumb-init's behaviour too)."""
    echo = Sigecho(tmp_path / "sigecho.log")
    ld = SeccompLameduck([], echo.command(), workdir=tmp_path)
    try:
        ld.start()
        if ld.proc.poll() == 124:
            pytest.skip("seccomp filters not permitted here")
        echo.lameduck = ld
        echo.wait_ready()
        sent = ld.signal(signal.SIGUSR1)   # lameduck forwards it with kill(2): SIGSYS
        result = ld.wait()
        assert result.code == -signal.SIGSYS, result.stderr
        assert result.ended_at - sent < SLACK
        assert signal.SIGUSR1 not in echo.read().signal_numbers()
    finally:
        ld.kill()


# --------------------------------------------------------------------------------------
# issue 15 items 2, 3: the batch with the app's SIGCHLD; a stopped app
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_signals_read_with_the_apps_sigchld_are_handled(echo_app, mode):
    """lameduck is stopped while the app dies and a SIGWINCH comes; it then reads SIGCHLD
    and SIGWINCH in one batch. The SIGWINCH still reaches the app's group (--group).
    The leftover stop signal is USR2, not TERM: it follows the SIGWINCH within a
    millisecond, and sigecho takes pending signals lowest number first, so a SIGTERM
    (15) would end the member before it logged the SIGWINCH (28), in either mode."""
    ld, echo = echo_app(["--group", "--orphan-grace", "0.5s", "--signal", "USR2"], "--member",
                        mode=mode, ready=("main", "member"))
    app = echo.host_pid(echo.read().ready().pid)
    os.kill(ld.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: ld.state() == "T")
        os.kill(app, signal.SIGKILL)
        wait_for(lambda: proc_stat(app) is None or proc_stat(app).state == "Z")
        t0 = ld.signal(signal.SIGWINCH)
    finally:
        os.kill(ld.pid, signal.SIGCONT)
    echo.wait_signal(signal.SIGWINCH, who="member", after=t0)
    assert ld.wait().code == 128 + signal.SIGKILL


@pytest.mark.parametrize("mode", MODES)
def test_a_stopped_app_gets_sigcont_after_the_stop_signal(echo_app, mode):
    """As systemd does: without SIGCONT a stopped app never acts on its stop signal."""
    ld, echo = echo_app([], "--exit-on", "TERM:0", mode=mode)
    app = echo.host_pid(echo.read().ready().pid)
    os.kill(app, signal.SIGSTOP)
    wait_for(lambda: proc_stat(app).state == "T")
    ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 0, result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_a_running_app_gets_no_sigcont(echo_app, mode):
    ld, echo = echo_app([], "--exit-on", "TERM:0", mode=mode)
    ld.signal(signal.SIGTERM)
    assert ld.wait().code == 0
    assert signal.SIGCONT not in echo.read().signal_numbers()
