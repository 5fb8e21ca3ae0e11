# SPDX-License-Identifier: Apache-2.0
"""A fault soak (issue 14): hundreds of drains in a row, each against a randomly drawn fault
of the fake API or of the ServiceAccount volume. In every drain:

* the stop signal reaches the child no earlier than the scenario allows (not before the Pod
  left its slices; not before --delay when the API is unusable; not before --max-delay when
  the Pod stays routable) and no later than --max-delay + SLACK;
* a SIGHUP sent during the drain is forwarded at once (the loop never blocks);
* lameduck exits with the child's status (a random one per drain);
* lameduck's peak memory (VmHWM) stays within idle + 48 MiB (bench/drain_memory.py);
* no file descriptor leaks: lameduck's /proc/PID/fd count is back to its idle count once
  the stop signal is out, and never far above it during the drain;
* no forged log line, no control character in its stderr.

Drains run in parallel (LAMEDUCK_SOAK_JOBS workers, each with its own fake API server and
its own lameduck processes) with short --delay/--max-delay. The totals are printed at the
end (run pytest with -s to see them).

    LAMEDUCK_BIN=build/lameduck SIGECHO_BIN=build/tests/sigecho \\
        /usr/bin/python3 -m pytest -q -s tests/integration/test_fault_soak.py

Environment:
* ``LAMEDUCK_SOAK_DRAINS``: how many drains (default 200, about a minute, also with ASan);
  e.g. 2000 for a long run;
* ``LAMEDUCK_SOAK_SEED``: the seed of the plan (printed; a failure names it, set it to
  replay the same faults in the same order);
* ``LAMEDUCK_SOAK_JOBS``: drains at once (default 6);
* ``LAMEDUCK_SOAK_FAULTS``: a comma-separated subset of the fault names below.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import queue
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
from typing import Callable, Optional

import pytest

from fakeapi.certs import ensure_certs
from fakeapi.harness import FakeApi
from fakeapi.slices import endpoint, pod_slice
from fakeapi.slices import slice as make_slice
from support import env
from support.env import LAMEDUCK_BIN, pid1_prefix
from support.lameduck_proc import Lameduck
from support.sigecho import Sigecho
from support.wait import EPSILON, SLACK, wait_for

POD_IP = "10.1.2.3"
POD_NAME = "web-1"
DELAY = 1.0
MAX_DELAY = 2.5
HUP_LATE = 0.5 + SLACK       # a forwarded SIGHUP may not be later than this
FD_SPREAD = 16               # fds above idle while a drain runs
BUDGET_KIB = 48 << 10        # idle + 48 MiB (bench/drain_memory.py)
# AddressSanitizer's shadow memory and quarantine hold freed blocks: only gross growth shows.
ASAN_BUDGET_KIB = 256 << 10
DNS_ADDR = "127.53.0.14"     # a loopback address of this test's own
FORGED = "2026-12-01T00:00:00.000Z lameduck[1] info: t=+5ms Pod left every EndpointSlice"

ASAN = env._is_asan(LAMEDUCK_BIN)
DRAINS = int(os.environ.get("LAMEDUCK_SOAK_DRAINS") or 200)
JOBS = int(os.environ.get("LAMEDUCK_SOAK_JOBS") or 6)
SEED = int(os.environ.get("LAMEDUCK_SOAK_SEED") or random.SystemRandom().randrange(1 << 32))


def nested(n):
    return "[" * n + "]" * n


# --------------------------------------------------------------------------------------
# one drain
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class Drain:
    """What one drain needs and what it found."""
    index: int
    fault: str
    rng: random.Random
    api: FakeApi
    dir: pathlib.Path
    wrong_ca: str
    token: str = ""
    ca: str = ""
    server: str = ""
    t0: float = 0.0
    t_left: float = float("inf")     # the Pod left its slices
    ld: Optional[Lameduck] = None
    mode: str = "plain"
    # results
    took: float = 0.0
    idle_kib: int = 0
    peak_kib: int = 0
    idle_fds: int = 0
    peak_fds: int = 0
    after_fds: int = 0
    hup_late: Optional[float] = None  # None: the stop signal came first


@dataclasses.dataclass(frozen=True)
class Scenario:
    """expect: "left" (the Pod leaves; the stop signal comes after that), "fallback" (the
    API is unusable: at --delay at the earliest), "either" (the Pod leaves, and the fault
    may make the API unusable: after the first of the two), "max" (the Pod stays
    routable: at --max-delay), "app-exits" (the app exits by itself during the drain:
    lameduck follows at once with its status)."""
    name: str
    expect: str
    before: Callable[[Drain], None] = lambda d: None   # before lameduck starts
    started: Callable[[Drain], None] = lambda d: None  # lameduck runs, before SIGTERM
    after_sigterm: Callable[[Drain], None] = lambda d: None
    during: Callable[[Drain], None] = lambda d: None   # the watch runs, before the change
    check: Callable[[Drain, str], None] = lambda d, err: None
    needs_dns: bool = False
    plain_only: bool = False


def faults(*specs):
    def queue_them(d):
        for spec in specs:
            d.api.fault(**(spec(d) if callable(spec) else spec))
    return queue_them


def rotate_token(d):
    new = "soak-" + secrets.token_urlsafe(24)
    d.api.set_tokens([new])
    pathlib.Path(d.token).write_text(new)


def rotate_token_now(d):
    """Like the kubelet: both tokens valid while the file is swapped, then only the new."""
    new = "soak-" + secrets.token_urlsafe(24)
    d.api.set_tokens([d.api.token, new])
    tmp = pathlib.Path(d.token + ".new")
    tmp.write_text(new)
    tmp.replace(d.token)
    d.api.set_tokens([new])


def assert_watched_with(d, token):
    tokens = [r["token"] for r in d.api.requests() if r["watch"] and r["status"] == 200
              and r["fault"] is None and r["t"] >= d.t0]
    assert token in tokens, f"the watch after the rotation used {tokens}, not the new token"


def close_watches(d):
    d.api.close_watches(abrupt=d.rng.random() < 0.5)


def compact_and_close(d):
    d.api.upsert(make_slice("other-xyz12", "other", [endpoint("10.1.9.9", pod="other-1")]))
    d.api.compact()
    d.api.close_watches(abrupt=d.rng.random() < 0.5)


def stale_token(d):
    d.api.set_tokens(["soak-" + secrets.token_urlsafe(24)])


def fifo(which):
    def make(d):
        path = pathlib.Path(d.token if which == "token" else d.ca)
        path.unlink()
        os.mkfifo(path)
    return make


def huge_token(d):
    with open(d.token, "r+b") as f:
        f.truncate(200 << 20)  # sparse: costs the machine nothing


def directory_ca(d):
    path = pathlib.Path(d.ca)
    path.unlink()
    path.mkdir()


def use_wrong_ca(d):
    shutil.copy(d.wrong_ca, d.ca)


def use_host_name(d):
    d.server = f"https://kubernetes.default.svc:{d.api.port}"


def no_forged_line(d, err):
    assert not any(line.startswith(FORGED[:24]) for line in err.splitlines()), err
    assert "forbidden " + FORGED in err, err


def no_requests(d, err):
    assert not [r for r in d.api.requests() if r["t"] >= d.t0], "the name was never resolved"


SCENARIOS = [
    Scenario("no-fault", "left"),
    Scenario("stays-routable", "max"),
    Scenario("401-list", "fallback", faults(dict(kind="status", code=401, on="list"))),
    Scenario("401-watch", "fallback", faults(dict(kind="status", code=401, on="watch"))),
    Scenario("403-list", "fallback", faults(dict(kind="status", code=403, on="list"))),
    Scenario("403-watch", "fallback", faults(dict(kind="status", code=403, on="watch"))),
    Scenario("410-watch-once", "either", faults(dict(kind="expired", on="watch"))),
    Scenario("410-watch-forever", "fallback", faults(dict(kind="expired", on="watch",
                                                          count=-1))),
    Scenario("410-list", "either", faults(dict(kind="status", code=410, on="list"))),
    Scenario("429-retry-after", "either", faults(
        lambda d: dict(kind="status", code=429, on="list", retry_after=d.rng.choice([0, 1, 3])))),
    Scenario("429-forever", "fallback", faults(dict(kind="status", code=429, on="any",
                                                    count=-1, retry_after=0))),
    Scenario("5xx-once", "either", faults(
        lambda d: dict(kind="status", code=d.rng.choice([500, 502, 503, 504]),
                       on=d.rng.choice(["list", "watch"])))),
    Scenario("5xx-forever", "fallback", faults(
        lambda d: dict(kind="status", code=d.rng.choice([500, 503]), on="any", count=-1))),
    Scenario("garbage-list", "fallback", faults(dict(kind="garbage", on="list"))),
    Scenario("garbage-watch", "fallback", faults(dict(kind="garbage", on="watch"))),
    Scenario("bad-watch-event", "fallback", faults(
        lambda d: dict(kind="garbage", on="watch", body=d.rng.choice(
            ['{"type":1,"object":{}}', '{"type":null}', '{"type":[1,2]}',
             '{"type":"ERROR","object":{"code":"410"}}'])))),
    Scenario("hang-list", "fallback", faults(dict(kind="hang", on="list"))),
    Scenario("hang-watch", "either", faults(dict(kind="hang", on="watch"))),
    Scenario("slow-list", "either", faults(
        lambda d: dict(kind="delay", on="list", ms=d.rng.randrange(100, 800)))),
    Scenario("dropped-watch-once", "either", faults(
        lambda d: dict(kind="drop", on="watch", after=d.rng.choice([0, 1])))),
    Scenario("dropped-watch-forever", "fallback", faults(dict(kind="drop", on="watch",
                                                              count=-1))),
    Scenario("dropped-list", "fallback", faults(dict(kind="drop", on="list", count=-1))),
    Scenario("rotated-token", "left", started=rotate_token),
    # The first watch is cut; the token rotates before lameduck watches again.
    Scenario("token-rotated-during-drain", "left",
             faults(dict(kind="drop", on="watch", after=0)),
             after_sigterm=lambda d: (d.api.wait_for_request(
                 lambda r: r["watch"] and r["t"] >= d.t0, timeout=DELAY, interval=0.01),
                 rotate_token_now(d)),
             check=lambda d, err: assert_watched_with(d, pathlib.Path(d.token).read_text())),
    Scenario("watch-closed", "left", during=close_watches),
    Scenario("compacted-watch-closed", "left", during=compact_and_close),
    Scenario("stale-token", "fallback", started=stale_token),
    Scenario("wrong-ca", "fallback", started=use_wrong_ca),
    Scenario("fifo-token", "fallback", started=fifo("token")),
    Scenario("fifo-ca", "fallback", started=fifo("ca")),
    Scenario("huge-token", "fallback", started=huge_token),
    Scenario("directory-ca", "fallback", started=directory_ca),
    Scenario("slow-dns", "fallback", before=use_host_name, check=no_requests, needs_dns=True,
             plain_only=True),
    Scenario("control-chars-in-status", "fallback", faults(
        dict(kind="status", code=403, on="list", message="forbidden\n" + FORGED + "\r\x1b[2J")),
        check=no_forged_line),
    Scenario("flood", "left", faults(lambda d: dict(kind="flood", on="watch",
                                                    events=d.rng.choice([1000, 3000])))),
    Scenario("nested-list", "fallback", faults(  # 4 MiB or 16 MiB (the body cap)
        lambda d: dict(kind="garbage", on="list", body=nested(d.rng.choice([2, 8]) << 20)))),
    Scenario("nested-watch-line", "fallback", faults(dict(kind="garbage", on="watch",
                                                          body=nested(1 << 20)))),
    Scenario("endless-pages", "fallback", faults(dict(kind="endless_pages", on="list",
                                                      count=-1))),
    Scenario("connection-refused", "fallback", before=lambda d: use_refused_port(d)),
    Scenario("tls-never-answers", "fallback", before=lambda d: use_silent_tls(d)),
    Scenario("app-exits-during-hang", "app-exits", faults(
        lambda d: dict(kind="hang", on=d.rng.choice(["list", "watch"])))),
]
BY_NAME = {s.name: s for s in SCENARIOS}


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def vm_hwm_kib(pid):
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


class DnsLameduck(Lameduck):
    """lameduck in a mount namespace of its own, where /etc/resolv.conf names a DNS server
    that never answers (unshare and sh exec into lameduck: the PID stays)."""

    def __init__(self, *args, resolv, hosts, **kw):
        super().__init__(*args, **kw)
        self.files = (str(resolv), str(hosts))

    def argv(self):
        script = ('mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts '
                  '&& shift 2 && exec "$@"')
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                *self.files, *super().argv()]


def run_drain(d: Drain, sc: Scenario) -> None:
    api = d.api
    api.clear_faults()
    api.set_tokens([api.token])
    api.set_slices([pod_slice()])
    api.clear_requests()
    d.dir.mkdir(parents=True)
    d.token, d.ca, d.server = str(d.dir / "token"), str(d.dir / "ca.crt"), api.url
    shutil.copy(api.token_file, d.token)
    shutil.copy(api.ca_file, d.ca)
    sc.before(d)
    code = d.rng.randrange(0, 126)
    d.mode = "pid1" if (not sc.plain_only and pid1_prefix() and d.rng.random() < 0.3) \
        else "plain"
    args = ["--api-server", d.server, "--token-file", d.token, "--ca-file", d.ca,
            "--namespace", "default", "--pod-ip", POD_IP, "--pod-name", POD_NAME,
            "--settle", "0ms", "--delay", f"{int(DELAY * 1000)}ms",
            "--max-delay", f"{int(MAX_DELAY * 1000)}ms", "--log-level", "debug"]
    echo = Sigecho(d.dir / "sigecho.log")
    command = echo.command("--exit-on", f"USR2:{code}")
    if sc.needs_dns:
        (d.dir / "resolv.conf").write_text(f"nameserver {DNS_ADDR}\noptions timeout:30 attempts:1\n")
        (d.dir / "hosts").write_text("127.0.0.1 localhost\n")
        d.ld = DnsLameduck(args, command, workdir=d.dir, resolv=d.dir / "resolv.conf",
                           hosts=d.dir / "hosts")
    else:
        d.ld = Lameduck(args, command, workdir=d.dir, mode=d.mode)
    ld = d.ld
    echo.lameduck = ld
    ld.start()
    ready = echo.wait_ready()
    child = echo.host_pid(ready.pid)
    time.sleep(0.05)
    d.idle_fds = fd_count(ld.pid)
    d.idle_kib = vm_hwm_kib(ld.pid)
    sc.started(d)

    samples = {"kib": d.idle_kib, "fds": d.idle_fds}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples["kib"] = max(samples["kib"], vm_hwm_kib(ld.pid))
            samples["fds"] = max(samples["fds"], fd_count(ld.pid))
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        d.t0 = ld.signal(signal.SIGTERM)
        # SIGHUP at a random moment of the drain: it must be forwarded at once.
        hup_at = d.t0 + d.rng.uniform(0.05, DELAY * 0.9)
        sc.after_sigterm(d)
        if sc.expect in ("left", "either"):
            try:
                api.wait_for_request(lambda r: r["watch"] and r["t"] >= d.t0
                                     and r["status"] == 200
                                     and r["fault"] in (None, "flood", "delay"),
                                     timeout=DELAY * 0.8, interval=0.02)
            except TimeoutError:
                if sc.expect == "left":
                    raise AssertionError(f"no watch\n{ld.stderr()}") from None
            sc.during(d)
            d.t_left = time.monotonic()
            api.upsert(pod_slice(ready=False))
        time.sleep(max(0.0, hup_at - time.monotonic()))
        t_hup = ld.signal(signal.SIGHUP) if not echo.read().first(signal.SIGTERM) else None
        if sc.expect == "app-exits":
            stop.set()
            return app_exits_mid_drain(d, sc, echo, child, code, t_hup, samples)
        got = echo.wait_signal(signal.SIGTERM, timeout=MAX_DELAY + SLACK + 10)
        d.took = got.t - d.t0
        # The drain is over: every connection of it must be closed again.
        wait_for(lambda: fd_count(ld.pid) <= d.idle_fds, timeout=2.0, interval=0.02,
                 message=lambda: f"lameduck's fds back to {d.idle_fds} (now "
                                 f"{fd_count(ld.pid)}: {fd_list(ld.pid)})\n{ld.stderr()}")
        d.after_fds = fd_count(ld.pid)
    finally:
        stop.set()
        sampler.join()
    d.peak_kib = max(samples["kib"], vm_hwm_kib(ld.pid))
    d.peak_fds = samples["fds"]
    os.kill(child, signal.SIGUSR2)
    result = ld.wait()
    err = result.stderr

    where = f"{sc.name} drain #{d.index} ({d.mode}, LAMEDUCK_SOAK_SEED={SEED})"
    assert got.sender == ld.ns_pid, f"{where}: SIGTERM from {got.sender}\n{err}"
    earliest = {"left": d.t_left, "fallback": d.t0 + DELAY,
                "either": min(d.t_left, d.t0 + DELAY), "max": d.t0 + MAX_DELAY}[sc.expect]
    assert got.t >= earliest - EPSILON, \
        f"{where}: stop signal too early: {d.took:.3f}s after SIGTERM\n{err}"
    assert got.t < d.t0 + MAX_DELAY + SLACK, \
        f"{where}: stop signal too late: {d.took:.3f}s after SIGTERM\n{err}"
    if t_hup is not None:
        hup = echo.wait_signal(signal.SIGHUP, after=t_hup, timeout=HUP_LATE + 5)
        d.hup_late = hup.t - t_hup
        assert d.hup_late < HUP_LATE, f"{where}: SIGHUP {d.hup_late:.2f}s late\n{err}"
    assert result.code == code, f"{where}: exit {result.code}, the child's was {code}\n{err}"
    budget = ASAN_BUDGET_KIB if ASAN else BUDGET_KIB
    assert d.peak_kib - d.idle_kib < budget, \
        f"{where}: peak {d.peak_kib} KiB, idle {d.idle_kib} KiB\n{err}"
    assert d.peak_fds <= d.idle_fds + FD_SPREAD, \
        f"{where}: {d.peak_fds} fds during the drain, {d.idle_fds} at idle\n{err}"
    assert "\x1b" not in err and "\r" not in err, f"{where}: control characters\n{err!r}"
    summary = [line for line in err.splitlines() if "drain summary: " in line]
    assert len(summary) == 1 and summary[0].endswith(f"exit status {code}"), f"{where}\n{err}"
    fell_back = "falling back to --delay" in err
    if sc.expect in ("left", "max"):
        assert not fell_back, f"{where}: fell back to --delay\n{err}"
    if sc.expect == "fallback":  # retries may outlast --max-delay
        assert fell_back or "ended by: max-delay" in summary[0], f"{where}: no fallback\n{err}"
    sc.check(d, err)


def app_exits_mid_drain(d, sc, echo, child, code, t_hup, samples):
    """The app exits by itself while the API request hangs: lameduck follows at once with
    the app's status, whatever the request is doing."""
    ld = d.ld
    where = f"{sc.name} drain #{d.index} ({d.mode}, LAMEDUCK_SOAK_SEED={SEED})"
    if t_hup is not None:  # forwarded before the app exits (else it may never see it)
        hup = echo.wait_signal(signal.SIGHUP, after=t_hup, timeout=HUP_LATE + 5)
        d.hup_late = hup.t - t_hup
        assert d.hup_late < HUP_LATE, f"{where}: SIGHUP {d.hup_late:.2f}s late\n{ld.stderr()}"
    time.sleep(max(0.0, d.t0 + d.rng.uniform(0.1, DELAY * 0.8) - time.monotonic()))
    assert not echo.read().first(signal.SIGTERM), f"{where}: stop signal before --delay"
    t_exit = time.monotonic()
    os.kill(child, signal.SIGUSR2)
    result = ld.wait(timeout=MAX_DELAY + SLACK + 10)
    err = result.stderr
    d.took = result.ended_at - d.t0
    d.peak_kib = samples["kib"]
    d.peak_fds = samples["fds"]
    d.after_fds = -1  # lameduck is gone
    assert result.ended_at - t_exit < 0.5 + SLACK, \
        f"{where}: lameduck exited {result.ended_at - t_exit:.2f}s after the app\n{err}"
    assert result.code == code, f"{where}: exit {result.code}, the child's was {code}\n{err}"
    budget = ASAN_BUDGET_KIB if ASAN else BUDGET_KIB
    assert d.peak_kib - d.idle_kib < budget, f"{where}: peak {d.peak_kib} KiB\n{err}"
    assert d.peak_fds <= d.idle_fds + FD_SPREAD, f"{where}: {d.peak_fds} fds\n{err}"
    summary = [line for line in err.splitlines() if "drain summary: " in line]
    assert len(summary) == 1 and summary[0].endswith(f"exit status {code}"), f"{where}\n{err}"


class SilentTls:
    """A TCP port that accepts connections and never says a word (no TLS handshake)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        for s in (self.sock, *self.held):
            s.close()


SILENT_TLS: Optional[SilentTls] = None


def use_silent_tls(d):
    d.server = f"https://127.0.0.1:{SILENT_TLS.port}"


def use_refused_port(d):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    d.server = f"https://127.0.0.1:{port}"


def fd_list(pid):
    out = []
    try:
        for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
            try:
                out.append(f"{fd}->{os.readlink(f'/proc/{pid}/fd/{fd}')}")
            except OSError:
                pass
    except OSError:
        pass
    return ", ".join(out)


# --------------------------------------------------------------------------------------
# the soak
# --------------------------------------------------------------------------------------

class SilentDns:
    """A DNS server that reads every query and never answers (UDP and TCP)."""

    def __init__(self, addr=DNS_ADDR):
        self.socks = []
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((addr, 53))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((addr, 53))
        tcp.listen(64)
        self.socks = [udp, tcp]
        self.stopped = False
        threading.Thread(target=self._udp, args=(udp,), daemon=True).start()
        threading.Thread(target=self._tcp, args=(tcp,), daemon=True).start()

    def _udp(self, s):
        while not self.stopped:
            try:
                s.recvfrom(4096)
            except OSError:
                return

    def _tcp(self, s):
        while not self.stopped:
            try:
                self.socks.append(s.accept()[0])
            except OSError:
                return

    def close(self):
        self.stopped = True
        for s in self.socks:
            s.close()


def dns_unavailable():
    """Why the slow-DNS scenario cannot run here ("" when it can)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare"
    r = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    return "" if r.returncode == 0 else f"unshare -m: {r.stderr.strip()}"


def plan(scenarios):
    rng = random.Random(SEED)
    return [(i, rng.choice(scenarios).name) for i in range(DRAINS)]


def test_fault_soak(tmp_path, capsys):
    env.require_binaries()
    names = os.environ.get("LAMEDUCK_SOAK_FAULTS")
    scenarios = [BY_NAME[n] for n in names.split(",")] if names else list(SCENARIOS)
    dns, skipped = None, ""
    if any(s.needs_dns for s in scenarios):
        why = dns_unavailable()
        if not why:
            try:
                dns = SilentDns()
            except OSError as e:
                why = f"cannot bind a DNS server on {DNS_ADDR}:53: {e}"
        if why:
            skipped = f" (slow-dns skipped: {why})"
            scenarios = [s for s in scenarios if not s.needs_dns]
    assert scenarios, "no scenario can run here"
    with capsys.disabled():  # the seed and the totals show in CI's log too
        print(f"\nfault soak: {DRAINS} drains, {JOBS} at once, LAMEDUCK_SOAK_SEED={SEED}, "
              f"--delay {DELAY}s --max-delay {MAX_DELAY}s{' (ASan)' if ASAN else ''}{skipped}",
              flush=True)
    global SILENT_TLS
    SILENT_TLS = SilentTls()
    wrong = tmp_path / "wrong-ca"
    wrong.mkdir()
    ensure_certs(str(wrong))
    work = queue.Queue()
    for item in plan(scenarios):
        work.put(item)
    done: list[Drain] = []
    failures: list[str] = []
    lock = threading.Lock()
    started = time.monotonic()

    def worker(w):
        with FakeApi(dir=str(tmp_path / f"api-{w}"), quiet=True) as api:
            while not failures:
                try:
                    index, name = work.get_nowait()
                except queue.Empty:
                    return
                d = Drain(index, name, random.Random(f"{SEED}-{index}"), api,
                          tmp_path / f"drain-{index:05d}", str(wrong / "ca.crt"))
                try:
                    run_drain(d, BY_NAME[name])
                except BaseException as e:  # noqa: BLE001 -- reported below, with the seed
                    with lock:
                        failures.append(f"{name} drain #{index} (LAMEDUCK_SOAK_SEED={SEED}): "
                                        f"{e}")
                    return
                finally:
                    if d.ld is not None:
                        d.ld.kill()
                with lock:
                    done.append(d)
                shutil.rmtree(d.dir, ignore_errors=True)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(JOBS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if dns is not None:
        dns.close()
    SILENT_TLS.close()
    with capsys.disabled():
        report(done, time.monotonic() - started)
    if failures:
        pytest.fail(failures[0], pytrace=False)
    assert len(done) == DRAINS


def report(done, wall):
    print(f"fault soak: {len(done)} drains in {wall:.1f}s, LAMEDUCK_SOAK_SEED={SEED}")
    print("  (app-exits-during-hang: the app exits by itself; the time is SIGTERM to lameduck's exit)")
    print(f"  {'fault':26s} {'drains':>6s} {'signal after SIGTERM: min':>26s} "
          f"{'median':>7s} {'max':>7s} {'peak-idle MiB':>14s} {'fds idle/peak/after':>20s}")
    by = {}
    for d in done:
        by.setdefault(d.fault, []).append(d)
    for name in [s.name for s in SCENARIOS if s.name in by] + (["all"] if done else []):
        ds = by[name] if name != "all" else done
        took = [d.took for d in ds]
        print(f"  {name:26s} {len(ds):6d} {min(took):25.3f}s {statistics.median(took):6.3f}s "
              f"{max(took):6.3f}s {max(d.peak_kib - d.idle_kib for d in ds) / 1024:14.1f} "
              f"{max(d.idle_fds for d in ds):>8d}/{max(d.peak_fds for d in ds)}"
              f"/{max(d.after_fds for d in ds) if max(d.after_fds for d in ds) >= 0 else '-'}")
    if done:
        pid1 = sum(d.mode == "pid1" for d in done)
        hups = [d.hup_late for d in done if d.hup_late is not None]
        print(f"  {pid1} drains as PID 1, {len(done) - pid1} not; SIGHUP during the drain "
              f"({len(hups)} drains) forwarded within {max(hups, default=0) * 1000:.0f} ms")
        print(f"  peak VmHWM {max(d.peak_kib for d in done) / 1024:.1f} MiB (idle "
              f"{min(d.idle_kib for d in done) / 1024:.1f}-"
              f"{max(d.idle_kib for d in done) / 1024:.1f} MiB), budget idle + "
              f"{(ASAN_BUDGET_KIB if ASAN else BUDGET_KIB) >> 10} MiB")
