# SPDX-License-Identifier: Apache-2.0
"""PID-1 duties in a real PID namespace (unshare --pid --fork --mount-proc), and the
child-subreaper equivalent when lameduck is not PID 1."""

import os
import re
import signal
import time

import pytest

from support.env import MODES
from support.lameduck_proc import Lameduck, run_lameduck
from support.procfs import alive, children_of, proc_stat, proc_status
from support.wait import SLACK, wait_for

# An app that leaves orphans behind, then reports (from its own /proc, which as PID 1 is
# the namespace's) which processes have lameduck as their parent: "EARLY" right after
# the orphans were made, then it ends them, and "LATE" once none is a sleep or a zombie
# (or after 10 s). Lines: "<tag> <pid> <state> <comm>".
ORPHAN_SCRIPT = r"""
me=$PPID
snap() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v me="$me" '
    NF { p = index($0, "("); q = 0
         for (i = length($0); i > 0; i--) if (substr($0, i, 1) == ")") { q = i; break }
         split(substr($0, q + 2), a, " ")
         if (a[2] == me) print substr($0, 1, p - 2), a[1], substr($0, p + 1, q - p - 1) }'
}
orphans=
for i in 1 2 3 4 5; do orphans="$orphans $( (sleep 60 >/dev/null 2>&1 & echo $!) )"; done
snap | sed 's/^/EARLY /'
kill $orphans
i=0
while [ $i -lt 100 ] && snap | awk '$2 == "Z" || $3 == "sleep"' | grep -q .; do
  sleep 0.1; i=$((i + 1))
done
snap | sed 's/^/LATE /'
echo "ME $me"
exit 3
"""


def parse_snapshots(stdout):
    early, late, me = [], [], None
    for line in stdout.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "ME":
            me = int(rest)
        elif tag in ("EARLY", "LATE"):
            pid, state, comm = rest.split(" ", 2)
            (early if tag == "EARLY" else late).append((int(pid), state, comm))
    return early, late, me


def test_lameduck_is_pid1_in_its_namespace(echo_app):
    ld, echo = echo_app([], "--exit-on", "TERM:0", mode="pid1")
    ready = echo.read().ready()
    assert ready.ppid == 1
    assert ready.pid != 1
    assert proc_stat(ld.pid).ppid == ld.launcher_pid
    ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 0
    assert re.search(rf"lameduck\[1\] info: t=\+\d+ms app \(pid {ready.pid}\) exited with 0",
                     result.stderr), result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_orphaned_grandchildren_are_reaped(lameduck, mode):
    # As PID 1 the orphans are re-parented to lameduck by the kernel; otherwise lameduck
    # is a child subreaper. Either way it must reap them: no zombie left.
    ld = lameduck(["--log-level", "debug"], ["sh", "-c", ORPHAN_SCRIPT], mode=mode)
    result = ld.wait(timeout=30)
    assert result.code == 3, result.stderr
    early, late, me = parse_snapshots(result.stdout)
    assert me == ld.ns_pid
    sleeps = [p for p in early if p[2] == "sleep"]
    assert len(sleeps) == 5, f"the orphans were not re-parented to lameduck: {early}"
    assert [p for p in late if p[1] == "Z"] == [], f"zombies left: {late}"
    assert [p for p in late if p[2] == "sleep"] == [], late
    reaped = {int(m) for m in re.findall(r"reaped pid (\d+)", result.stderr)}
    assert {p[0] for p in sleeps} <= reaped, result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_sigecho_orphans_are_reaped(echo_app, mode):
    ld, echo = echo_app(["--log-level", "debug"], "--orphans", "5", "--exit-on", "TERM:0",
                        mode=mode)
    # Each grandchild exits 50 ms after it was orphaned; lameduck reaps all five.
    wait_for(lambda: len(re.findall(r"reaped pid \d+ \(exited with 0\)", ld.stderr())) >= 5,
             message=lambda: f"5 reaped orphans in:\n{ld.stderr()}")
    wait_for(lambda: not [p for p in ld.namespace_processes() if p.state == "Z"],
             message=lambda: f"no zombie below lameduck: {ld.namespace_processes()}")
    ld.signal(signal.SIGTERM)
    assert ld.wait().code == 0


def test_no_zombie_in_the_namespace_seen_from_outside(lameduck):
    # Orphans that outlive their parent by a while, checked from the host side.
    script = "for i in 1 2 3; do (sleep 0.2 &); done; sleep 0.1; exec sleep 30"
    ld = lameduck([], ["sh", "-c", script], mode="pid1")
    wait_for(lambda: any(p.comm == "sleep" for p in ld.namespace_processes()))
    wait_for(lambda: len(ld.namespace_processes()) == 1,
             message=lambda: f"only the app left in the namespace: {ld.namespace_processes()}")
    (app,) = ld.namespace_processes()
    assert app.state != "Z" and app.ppid == ld.pid


@pytest.mark.parametrize("mode", MODES)
def test_signals_reach_the_child_from_lameduck(echo_app, mode):
    ld, echo = echo_app([], "--exit-on", "TERM:0", mode=mode)
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM):
        t = ld.signal(sig)
        got = echo.wait_signal(sig)
        assert got.sender == ld.ns_pid
        assert got.t - t < SLACK
    assert ld.wait().code == 0


def test_signals_from_inside_the_namespace_reach_pid1(lameduck, tmp_path):
    # kubectl exec ... kill 1: the kernel gives PID 1 only signals it handles; lameduck
    # must get them (blocked + signalfd counts), forward USR1 and drain on TERM.
    log = tmp_path / "app.log"
    script = f"""
trap 'echo USR1 >> {log}' USR1
trap 'echo TERM >> {log}; exit 7' TERM
kill -USR1 1
kill -TERM 1
i=0; while [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
exit 1
"""
    ld = lameduck([], ["sh", "-c", script], mode="pid1")
    result = ld.wait(timeout=30)
    assert result.code == 7, result.stderr
    assert log.read_text().split() == ["USR1", "TERM"]
    assert re.search(r"t=\+\d+ms SIGTERM received from .*app keeps serving", result.stderr)


@pytest.mark.parametrize("mode", MODES)
def test_no_file_descriptor_leaks_into_the_app(echo_app, mode):
    # The test starts lameduck with only 0, 1, 2 open; sigecho adds its log. Anything else
    # in the app came from lameduck (signalfd, pipes, sockets without O_CLOEXEC).
    ld, echo = echo_app([], mode=mode)
    app = echo.host_pid(echo.read().ready().pid)
    fds = {}
    for fd in os.listdir(f"/proc/{app}/fd"):
        try:
            fds[int(fd)] = os.readlink(f"/proc/{app}/fd/{fd}")
        except FileNotFoundError:
            pass
    extra = {fd: target for fd, target in fds.items()
             if fd > 2 and target != str(echo.log_path)}
    assert extra == {}, f"file descriptors leaked into the app: {extra}"


@pytest.mark.parametrize("mode", MODES)
def test_idle_lameduck_never_wakes_up(echo_app, mode):
    # A PID 1 lives as long as the container: no polling loop, it blocks until an event.
    ld, echo = echo_app([], mode=mode)
    time.sleep(0.3)
    before = proc_status(ld.pid, "voluntary_ctxt_switches")
    time.sleep(1.2)
    after = proc_status(ld.pid, "voluntary_ctxt_switches")
    assert before == after, f"lameduck woke up while idle ({before} -> {after} switches)"
    assert ld.running()


@pytest.mark.parametrize("code", [0, 1, 42])
def test_status_passes_through_as_pid1(code):
    assert run_lameduck(["--", "sh", "-c", f"exit {code}"], mode="pid1").code == code


def test_signal_status_passes_through_as_pid1():
    assert run_lameduck(["--", "sh", "-c", "ulimit -c 0; kill -SEGV $$"], mode="pid1").code == 139


# --------------------------------------------------------------------------------------
# not PID 1: child subreaper
# --------------------------------------------------------------------------------------

def test_subreaper_adopts_daemons(echo_app):
    # mode="reaper": lameduck's parent is a subreaper too, so the test can tell who adopts.
    ld, echo = echo_app([], "--daemon", "-1", "--exit-on", "TERM:0", mode="reaper",
                        ready=("daemon", "main"))
    daemon = echo.read().ready("daemon").pid
    assert proc_stat(daemon).ppid == ld.pid, "the daemon must be re-parented to lameduck"


@pytest.mark.parametrize("how", ["--no-subreaper", "LAMEDUCK_SUBREAPER=false"])
def test_no_subreaper_leaves_orphans_to_the_real_reaper(echo_app, how):
    args, env = ([how], {}) if how.startswith("--") else ([], dict([how.split("=")]))
    ld, echo = echo_app(args, "--daemon", "-1", "--exit-on", "TERM:5", mode="reaper",
                        env=env, ready=("daemon", "main"))
    daemon = echo.read().ready("daemon").pid
    assert proc_stat(daemon).ppid == ld.launcher_pid, "the daemon went to lameduck"
    ld.signal(signal.SIGTERM)
    assert ld.wait().code == 5
    # Not lameduck's: it was neither signalled nor killed.
    assert alive(daemon)
    assert echo.read().signals(who="daemon") == []


def test_no_subreaper_orphans_are_not_reaped_by_lameduck(lameduck):
    ld = lameduck(["--no-subreaper", "--log-level", "debug"], ["sh", "-c", ORPHAN_SCRIPT],
                  mode="reaper")
    result = ld.wait(timeout=30)
    assert result.code == 3
    early, late, me = parse_snapshots(result.stdout)
    assert me == ld.pid
    assert [p for p in early if p[2] == "sleep"] == []
    assert "reaped pid" not in result.stderr
    # The wrapper reaped them (5 sleeps), and lameduck last.
    reaped = ld.reaped_by_launcher()
    assert reaped[-1] == ld.pid
    assert len(reaped) >= 6


def test_subreaper_flag_is_accepted_as_pid1(echo_app):
    ld, echo = echo_app(["--subreaper"], "--exit-on", "TERM:0", mode="pid1")
    ld.signal(signal.SIGTERM)
    assert ld.wait().code == 0


# --------------------------------------------------------------------------------------
# issue 15: the working directory and the standard descriptors
# --------------------------------------------------------------------------------------

class ShellWrapped(Lameduck):
    """lameduck started through ``sh -c SCRIPT sh ARGV...`` (SCRIPT ends in exec "$@")."""

    def __init__(self, script: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.script = script

    def argv(self):
        return ["sh", "-c", self.script, "sh", *super().argv()]


@pytest.fixture
def wrapped(tmp_path):
    started = []

    def start(script, args, command, mode):
        ld = ShellWrapped(script, args, command, workdir=tmp_path, mode=mode)
        started.append(ld)
        return ld.start()

    yield start
    for ld in started:
        ld.kill()


@pytest.mark.parametrize("mode", MODES)
def test_lameduck_leaves_its_working_directory_the_app_keeps_it(wrapped, tmp_path, mode):
    """An init must not pin the mount it was started in (dumb-init, catatonit chdir "/")."""
    workdir = tmp_path / "i15-cwd"
    workdir.mkdir()
    log = tmp_path / "pwd.log"
    ld = wrapped(f'cd {workdir} && exec "$@"', [], ["sh", "-c", f"pwd > {log}; exec sleep 60"],
                 mode)
    wait_for(lambda: log.exists() and log.read_text().strip())
    assert log.read_text().strip() == str(workdir)
    wait_for(lambda: os.readlink(f"/proc/{ld.pid}/cwd") == "/",
             message=lambda: f"lameduck's cwd {os.readlink(f'/proc/{ld.pid}/cwd')}")


@pytest.mark.parametrize("mode", MODES)
def test_closed_stdio_becomes_dev_null(wrapped, mode):
    """With <&- >&- 2>&- the first descriptors lameduck opens would become 0, 1 and 2 (the
    signalfd, curl's wake-up socketpair), and log lines would go into them."""
    ld = wrapped('exec "$@" <&- >&- 2>&-', [], ["sleep", "60"], mode)
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{ld.pid}/fd/{fd}") == "/dev/null", fd
    app = wait_for(lambda: next(iter(children_of(ld.pid)), 0))
    wait_for(lambda: os.readlink(f"/proc/{app}/exe").endswith("sleep"))
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{app}/fd/{fd}") == "/dev/null", fd
