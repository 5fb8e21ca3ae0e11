# SPDX-License-Identifier: Apache-2.0
"""lameduck benchmarks, the measuring half: configuration, the inits under test, one
``measure_*`` function per section (see bench/README.md) and the machine's description.
``bench.py`` runs them; ``report.py`` turns their results into RESULTS.md."""

import datetime
import json
import os
import platform
import random
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time

import _repo  # noqa: F401 -- tests/ on sys.path
from strace import attach_strace
from support.procfs import children_of

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

REFERENCE = "tini-static"
POD_IP = "10.1.2.3"  # only ever a string in EndpointSlice JSON; nothing connects to it

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


def knob(name, full, quick):
    v = os.environ.get(name)
    return type(full)(v) if v not in (None, "") else (quick if QUICK else full)


CFG = {
    "idle_rounds": knob("BENCH_IDLE_ROUNDS", 3, 1),
    "idle_seconds": knob("BENCH_IDLE_SECONDS", 10.0, 3.0),
    "start_rounds": knob("BENCH_START_ROUNDS", 3, 2),
    "start_runs": knob("BENCH_START_RUNS", 100, 40),
    "start_warmup": knob("BENCH_START_WARMUP", 10, 5),
    "signal_rounds": knob("BENCH_SIGNAL_ROUNDS", 21, 3),
    "signals": knob("BENCH_SIGNALS", 10000, 2000),
    "signal_root_rounds": knob("BENCH_SIGNAL_ROOT_ROUNDS", 7, 3),
    "reap_rounds": knob("BENCH_REAP_ROUNDS", 5, 1),
    "orphans": knob("BENCH_ORPHANS", 10000, 2000),
    "drains": knob("BENCH_DRAINS", 15, 4),
    "traffic_drains": knob("BENCH_TRAFFIC_DRAINS", 3, 1),
    "quick": QUICK,
}
ONLY = [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s]


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def wanted(section):
    return not ONLY or section in ONLY


# --------------------------------------------------------------------------------------
# the inits under test
# --------------------------------------------------------------------------------------

class Init:
    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.lameduck = name.startswith("lameduck")
        # As PID 1 every init runs with its defaults. Outside a PID namespace (start-up
        # overhead only) tini gets -s, its documented way to run as a subreaper -- without
        # it tini prints a three-line warning on every start; lameduck and catatonit
        # register as subreaper by default, dumb-init does not reap there at all.
        self.args = ["--"]
        self.args_nonpid1 = ["-s", "--"] if name.startswith("tini") else ["--"]

    @property
    def slug(self):
        return "".join(c if c.isalnum() else "-" for c in self.name).strip("-")

    def cmd(self, *command, pid1=True):
        return [self.path, *(self.args if pid1 else self.args_nonpid1), *command]


def elf_info(path):
    """(is static, has PT_INTERP) from the ELF program headers."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
            return "?"
        phoff, = struct.unpack_from("<Q", hdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    types = [struct.unpack_from("<I", ph, i * phentsize)[0] for i in range(phnum)]
    if 3 in types:  # PT_INTERP
        return "dynamic"
    return "static-pie" if struct.unpack_from("<H", hdr, 16)[0] == 3 else "static"


def shared_libs(path):
    try:
        out = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    libs = []
    for line in out.splitlines():
        name = line.strip().split(" ")[0]
        if name and "linux-vdso" not in name and "ld-linux" not in name and "=>" in line:
            libs.append(name)
    return libs


# --------------------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------------------

def measure_sizes(inits, work):
    out = {}
    for init in inits:
        copy = os.path.join(work, "strip-" + init.slug)
        shutil.copyfile(init.path, copy)
        subprocess.run(["strip", "--strip-all", copy], check=True)
        out[init.name] = {
            "bytes": os.path.getsize(copy),
            "unstripped_bytes": os.path.getsize(init.path),
            "linking": elf_info(init.path),
            "shared_libs": shared_libs(init.path),
        }
        os.unlink(copy)
    return out


def read_task_status(pid):
    """VmRSS/RssAnon/RssFile and Pss (KiB) of the process; context switches summed over
    threads."""
    res = {"voluntary": 0, "nonvoluntary": 0, "threads": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == "Pss":
                    res["Pss"] = int(v.split()[0])
    except OSError:
        pass
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                res[k] = int(v.split()[0])
            elif k == "State":
                res["state"] = v.strip()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k == "voluntary_ctxt_switches":
                        res["voluntary"] += int(v)
                    elif k == "nonvoluntary_ctxt_switches":
                        res["nonvoluntary"] += int(v)
            res["threads"] += 1
        except FileNotFoundError:
            pass
    return res


def sid_pgid(pid):
    """(session id, process group id) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[3]), int(fields[2])


def stop(proc, timeout=5.0):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def idle_round(inits, ldbench, seconds, work):
    """All inits at once, each as PID 1 of its own PID namespace with `sleep` as child."""
    sleep = shutil.which("sleep") or "/bin/sleep"
    started = {}
    for init in inits:
        pidfile = os.path.join(work, f"idle-{init.slug}.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        logf = open(os.path.join(work, f"idle-{init.slug}.log"), "ab")
        p = subprocess.Popen([ldbench, "pid1", pidfile, "--", *init.cmd(sleep, "100000")],
                             stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        logf.close()
        started[init.name] = (p, pidfile)
    results = {}
    try:
        pids = {}
        deadline = time.monotonic() + 15
        for name, (p, pidfile) in started.items():
            while time.monotonic() < deadline:
                if os.path.exists(pidfile):
                    pid = int(open(pidfile).read())
                    if children_of(pid):
                        pids[name] = pid
                        break
                if p.poll() is not None:
                    break
                time.sleep(0.01)
        time.sleep(0.5)
        first = {n: read_task_status(pid) for n, pid in pids.items()}
        for n, pid in pids.items():
            try:
                kid = children_of(pid)[0]
                (isid, ipg), (csid, cpg) = sid_pgid(pid), sid_pgid(kid)
                first[n]["child_layout"] = ("own session" if csid != isid else
                                            "own process group, init's session" if cpg != ipg else
                                            "init's process group")
            except (IndexError, OSError):
                pass
        t0 = time.monotonic()
        time.sleep(seconds)
        second = {}
        for n, pid in pids.items():
            try:
                second[n] = read_task_status(pid)
                second[n]["child_alive"] = bool(children_of(pid))
            except FileNotFoundError:
                second[n] = None
        dt = time.monotonic() - t0
        for init in inits:
            a, b = first.get(init.name), second.get(init.name)
            if not a or not b:
                results[init.name] = {"error": "init did not start or died while idle"}
                continue
            switches = (b["voluntary"] - a["voluntary"]) + (b["nonvoluntary"] - a["nonvoluntary"])
            results[init.name] = {
                "rss_kib": a.get("VmRSS"), "rss_anon_kib": a.get("RssAnon"),
                "rss_file_kib": a.get("RssFile"), "pss_kib": a.get("Pss"), "threads": a["threads"],
                "child_layout": a.get("child_layout"),
                "state": b.get("state"), "child_alive": b["child_alive"],
                "switches": switches, "window_s": dt, "wakeups_per_min": switches * 60.0 / dt,
            }
    finally:
        for p, _ in started.values():
            stop(p)
    return results


def fresh_copies(inits, work):
    """Each init run from its own fresh copy (shutil.copyfile, mode 0755), written the way
    an image layer's file or `lameduck install` writes it. How the executable's file was
    written decides the page-cache folios a page fault maps whole: a file that `strip` or
    the linker wrote in place can sit in 512 KiB folios, a copy in 64 KiB ones. The same
    for every init, so the comparison is fair."""
    out = []
    for init in inits:
        copy = os.path.join(work, "idle-bin-" + init.slug)
        if os.path.exists(copy):
            os.unlink(copy)
        shutil.copyfile(init.path, copy)
        os.chmod(copy, 0o755)
        clone = Init(init.name, copy)
        clone.args, clone.args_nonpid1 = init.args, init.args_nonpid1
        out.append(clone)
    return out


def measure_idle(inits, ldbench, work):
    inits = fresh_copies(inits, work)
    rounds = []
    for r in range(CFG["idle_rounds"]):
        log(f"idle: round {r + 1}/{CFG['idle_rounds']} ({CFG['idle_seconds']:g} s, all inits at once)")
        rounds.append(idle_round(inits, ldbench, CFG["idle_seconds"], work))
    return rounds


def measure_startup(inits, work):
    hyperfine = shutil.which("hyperfine")
    if not hyperfine:
        return {"error": "hyperfine not installed"}
    true = shutil.which("true") or "/bin/true"
    rounds = []
    for r in range(CFG["start_rounds"]):
        order = list(inits)
        random.shuffle(order)
        names = ["(no init)"] + [i.name for i in order]
        cmds = [true] + [" ".join(i.cmd(true, pid1=False)) for i in order]
        jpath = os.path.join(work, f"hyperfine-{r}.json")
        log(f"start-up: round {r + 1}/{CFG['start_rounds']} (hyperfine, {CFG['start_runs']} runs each)")
        argv = [hyperfine, "-N", "--style", "basic", "--warmup", str(CFG["start_warmup"]),
                "--runs", str(CFG["start_runs"]), "--export-json", jpath]
        for n, c in zip(names, cmds):
            argv += ["-n", n, c]
        with open(os.path.join(work, "hyperfine.log"), "ab") as lf:
            rc = subprocess.run(argv, stdout=lf, stderr=lf).returncode
        if rc != 0:
            rounds.append({"error": f"hyperfine failed ({rc}); see hyperfine.log"})
            continue
        data = json.load(open(jpath))["results"]
        rounds.append({n: {"median_s": d["median"], "mean_s": d["mean"], "min_s": d["min"],
                           "stddev_s": d.get("stddev"), "cpu_s": d["user"] + d["system"]}
                       for n, d in zip(names, data)})
    return rounds


def run_json(argv, timeout, logpath, env=None):
    with open(logpath, "ab") as lf:
        lf.write(("$ " + " ".join(argv) + "\n").encode())
        lf.flush()
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=lf, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
    lines = [l for l in p.stdout.decode(errors="replace").splitlines() if l.startswith("{")]
    if not lines:
        return {"error": f"no result (exit {p.returncode})"}
    return json.loads(lines[-1])


class ContainerCgroups:
    """One cpu cgroup per init, which the ldbench drivers start the init in
    (LDBENCH_CGROUP), as a container runtime starts every container's PID 1 in a cgroup of
    its own. Outside one, in the host's root cgroup, the kernel's autogroup
    (kernel.sched_autogroup_enabled) gives every new session a scheduling group of its own:
    an init that puts its app in a session of its own (lameduck and dumb-init do, for the
    reasons in bench/README.md) then pays a cross-group wake-up on every round trip, which
    no container sees. ``error`` says why there are none (the drivers then run in the
    root cgroup and the report says so)."""

    PREFIX = "lameduck-bench-"

    def __init__(self):
        self.dirs = []
        self.error = None
        try:
            self.base = self._cpu_hierarchy()
        except OSError as e:
            self.base, self.error = None, str(e)

    @staticmethod
    def _cpu_hierarchy():
        root = "/sys/fs/cgroup"
        if os.path.exists(os.path.join(root, "cgroup.controllers")):  # cgroup v2
            if "cpu" not in open(os.path.join(root, "cgroup.controllers")).read().split():
                raise OSError("cgroup v2 without the cpu controller")
            with open(os.path.join(root, "cgroup.subtree_control"), "w") as f:
                f.write("+cpu")
            return root
        with open("/proc/mounts") as f:  # cgroup v1: the hierarchy the cpu controller is on
            for line in f:
                fields = line.split()
                if fields[2] == "cgroup" and "cpu" in fields[3].split(","):
                    return fields[1]
        raise OSError("no cgroup hierarchy has the cpu controller")

    def describe(self):
        if self.error:
            return f"the host's root cgroup ({self.error})"
        return f"a cpu cgroup of its own per init ({self.base}/{self.PREFIX}*)"

    def env(self, init):
        """The environment that makes ldbench start `init` in its cgroup (None: as we are)."""
        if self.error:
            return None
        d = os.path.join(self.base, self.PREFIX + init.slug)
        if d not in self.dirs:
            os.makedirs(d, exist_ok=True)
            self.dirs.append(d)
        return dict(os.environ, LDBENCH_CGROUP=d)

    def remove(self):
        for d in self.dirs:
            try:
                os.rmdir(d)
            except OSError as e:
                log(f"cannot remove the cgroup {d}: {e}")
        self.dirs = []


def cgroup_env(cgroups, init):
    """ldbench's environment for `init`: in its cgroup, or (no cgroups) as we are."""
    return cgroups.env(init) if cgroups else None


def measure_signals(inits, ldbench, work, cgroups=None, rounds=None, where=""):
    """ldbench's ping-pong: SIGUSR1 to the init, which forwards it to the child, which acks."""
    out = []
    rounds = rounds or CFG["signal_rounds"]
    for r in range(rounds):
        log(f"signals{where}: round {r + 1}/{rounds} ({CFG['signals']} acknowledged SIGUSR1 each)")
        order = list(inits)
        random.shuffle(order)
        res = {}
        for init in order:
            res[init.name] = run_json(
                [ldbench, "signals", str(CFG["signals"]), "100", "1000", "--",
                 *init.cmd(ldbench, "sigack")], 120, os.path.join(work, f"signals-{init.slug}.log"),
                env=cgroup_env(cgroups, init))
        out.append(res)
    return out


def measure_syscalls(inits, ldbench, work, n=200):
    """System calls the init makes per forwarded signal, counted with strace attached to the
    init (not PID 1 here; the count does not depend on that). Deterministic, unlike times."""
    strace = shutil.which("strace")
    if not strace:
        return {"error": "strace not installed"}
    out = {}
    for init in inits:
        rfd, wfd = os.pipe()
        p = subprocess.Popen(init.cmd(ldbench, "sigack", pid1=False), stdin=subprocess.DEVNULL,
                             stdout=wfd, stderr=subprocess.DEVNULL)
        os.close(wfd)
        trace = os.path.join(work, f"strace-{init.slug}.txt")
        st = None
        try:
            if os.read(rfd, 1) != b"R":
                out[init.name] = {"error": "child did not start"}
                continue
            st = attach_strace(p.pid, ["-o", trace])
            for _ in range(n):
                os.kill(p.pid, signal.SIGUSR1)
                os.read(rfd, 1)
            time.sleep(0.2)
        finally:
            if st is not None:
                st.send_signal(signal.SIGINT)
                try:
                    st.wait(10)
                except subprocess.TimeoutExpired:
                    st.kill()
                    st.wait()
            stop(p)
            os.close(rfd)
        calls = []
        with open(trace) as f:
            for line in f:
                if line.startswith(("---", "+++", "strace:")) or "resumed>" in line:
                    continue
                calls.append(line.split("(", 1)[0].strip())
        # one full cycle per signal: count from the first to the last kill() of the child
        kills = [i for i, c in enumerate(calls) if c == "kill"]
        if len(kills) < 2:
            out[init.name] = {"error": f"no forwarding seen in strace output ({len(calls)} calls)"}
            continue
        cycle = calls[kills[0] + 1:kills[-1] + 1]
        per = len(cycle) / (len(kills) - 1)
        counts = {}
        for c in cycle:
            counts[c] = counts.get(c, 0) + 1
        out[init.name] = {"per_signal": per,
                          "calls": {k: round(v / (len(kills) - 1), 2) for k, v in
                                    sorted(counts.items(), key=lambda kv: -kv[1])}}
    return out


def measure_reap(inits, ldbench, work, cgroups=None):
    rounds = []
    n = CFG["orphans"]
    for r in range(CFG["reap_rounds"]):
        log(f"reaping: round {r + 1}/{CFG['reap_rounds']} ({n} orphans each)")
        order = list(inits)
        random.shuffle(order)
        res = {}
        for init in order:
            res[init.name] = run_json(
                [ldbench, "reap", str(n), "30000", "--", *init.cmd(ldbench, "orphans", str(n))],
                300, os.path.join(work, f"reap-{init.slug}.log"),
                env=cgroup_env(cgroups, init))
        rounds.append(res)
    return rounds


# --------------------------------------------------------------------------------------
# drain precision (lameduck only, against tests/fakeapi)
# --------------------------------------------------------------------------------------

_HELP = {}


def knows(path, option):
    """Whether this binary's --help lists the option."""
    if path not in _HELP:
        try:
            r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
            _HELP[path] = r.stdout + r.stderr
        except (OSError, subprocess.TimeoutExpired):
            _HELP[path] = ""
    return option in _HELP[path]


def drain_flags(api, path=None):
    # The precision of the EndpointSlice wait alone: where the binary has the traffic wait
    # (on by default), it is turned off, or the figure would be --quiet.
    no_traffic = ["--no-wait-traffic"] if path and knows(path, "--wait-traffic") else []
    return ["--wait-endpoints", "--api-server", api.url, "--token-file", api.token_file,
            "--ca-file", api.ca_file, "--pod-ip", POD_IP, "--namespace", "default",
            "--settle", "0", "--delay", "10s", "--max-delay", "20s", *no_traffic]


def is_slice_request(r):
    return "/endpointslices" in r["path"]


def one_drain(init, api, ldbench, slices, logf, probe=False):
    """One SIGTERM -> watch -> mark not ready -> child signalled cycle. Returns a dict."""
    ready, gone = slices
    api.set_slices(ready)
    api.clear_requests()
    rfd, wfd = os.pipe()
    p = subprocess.Popen([init.path, *drain_flags(api, init.path), "--", ldbench, "termstamp"],
                         stdin=subprocess.DEVNULL, stdout=wfd, stderr=logf)
    os.close(wfd)
    rf = os.fdopen(rfd, "rb", buffering=0)
    try:
        if rf.read(1) != b"R":
            return {"error": f"child did not start (lameduck exit {p.wait()})"}
        t_term = time.monotonic()
        p.send_signal(signal.SIGTERM)
        watch = None
        deadline = t_term + (5 if probe else 10)
        while time.monotonic() < deadline and p.poll() is None:
            reqs = api.requests()
            watch = next((r for r in reqs if is_slice_request(r) and r["watch"]), None)
            if watch:
                break
            time.sleep(0.01)
        if not watch:
            reqs = [r for r in api.requests() if is_slice_request(r)]
            p.send_signal(signal.SIGTERM)  # a second SIGTERM skips the rest of the wait
            return {"error": "no watch request after SIGTERM", "slice_requests": len(reqs),
                    "lameduck_exit": p.poll()}
        time.sleep(0.2)  # let the watch stream be established and the list be processed
        t_mark = time.monotonic()
        api.set_slices(gone)
        t_marked = time.monotonic()
        line = b""
        while not line.endswith(b"\n"):
            chunk = rf.read(64)
            if not chunk:
                break
            line += chunk
        try:
            t_child = int(line.split()[1]) / 1e9
        except (IndexError, ValueError):
            return {"error": f"child reported no signal ({line!r})"}
        rc = p.wait(30)
        reqs = [r for r in api.requests() if is_slice_request(r)]
        return {
            "latency_ms": (t_child - t_mark) * 1000.0,
            "control_call_ms": (t_marked - t_mark) * 1000.0,
            "term_to_watch_ms": (watch["t"] - t_term) * 1000.0,
            "lists": sum(1 for r in reqs if not r["watch"]),
            "watches": sum(1 for r in reqs if r["watch"]),
            "other_requests": len(api.requests()) - len(reqs),
            "statuses": sorted({r["status"] for r in reqs}),
            "lameduck_exit": rc,
        }
    finally:
        rf.close()
        if p.poll() is None:
            p.kill()
            p.wait()


def measure_drain(lameducks, ldbench, work, source):
    """Per lameduck build: {"status": "ok"|"n/a", "reason", "drains": [...]}."""
    out = {}
    sys.path.insert(0, os.path.join(source, "tests"))
    try:
        from fakeapi.harness import FakeApi
        from fakeapi.slices import endpoint, slice as mkslice, terminating
    except Exception as e:  # noqa: BLE001 -- any import problem means "not there yet"
        for init in lameducks:
            out[init.name] = {"status": "n/a", "reason": f"fake API (tests/fakeapi) not usable: {e}"}
        return out
    ready = [mkslice("web-abc12", "web", [endpoint(POD_IP, pod="web-1"),
                                          endpoint("10.1.2.4", pod="web-2")])]
    gone = [mkslice("web-abc12", "web", [terminating(POD_IP, pod="web-1"),
                                         endpoint("10.1.2.4", pod="web-2")])]
    try:
        api = FakeApi(quiet=True).start()
    except Exception as e:  # noqa: BLE001
        for init in lameducks:
            out[init.name] = {"status": "n/a", "reason": f"fake API did not start: {e}"}
        return out
    try:
        for init in lameducks:
            logpath = os.path.join(work, f"drain-{init.slug}.log")
            with open(logpath, "ab") as logf:
                # Probe 1: are the flags known?
                chk = subprocess.run([init.path, *drain_flags(api, init.path), "--check", "--", ldbench, "termstamp"],
                                     capture_output=True, text=True, timeout=30)
                if chk.returncode != 0:
                    msg = (chk.stderr.strip().splitlines() or ["?"])[-1]
                    out[init.name] = {"status": "n/a",
                                      "reason": f"not built yet (flags rejected: {msg})"}
                    continue
                # Probe 2: does a drain talk to the API at all?
                first = one_drain(init, api, ldbench, (ready, gone), logf, probe=True)
                if "error" in first:
                    out[init.name] = {"status": "n/a",
                                      "reason": f"not built yet (EndpointSlice wait not wired: {first['error']})",
                                      "probe": first}
                    continue
                log(f"drain: {init.name}: {CFG['drains']} drains")
                drains = [first] + [one_drain(init, api, ldbench, (ready, gone), logf)
                                    for _ in range(CFG["drains"] - 1)]
                out[init.name] = {"status": "ok", "drains": drains}
    finally:
        api.stop()
    return out


def measure_traffic(lameducks, work):
    """The cost of one traffic-aware drain per lameduck build (traffic_drain.py)."""
    import traffic_drain
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nsenter"):
        return {i.name: {"status": "n/a", "reason": "needs root, ip and nsenter"} for i in lameducks}
    log(f"traffic: {CFG['traffic_drains']} traffic-aware drains + as many fixed sleeps per build")
    return traffic_drain.measure([(i.name, i.path) for i in lameducks], work,
                                 drains=CFG["traffic_drains"])


# --------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------

def sh(*argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def dpkg_version(pkg):
    return sh("dpkg-query", "-W", "-f=${Version}", pkg) or "?"


def environment(inits):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    osname = "?"
    if os.path.exists("/etc/os-release"):
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip().strip('"')
    mem = "?"
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    versions = {}
    for init in inits:
        if init.lameduck:
            v = sh(init.path, "version")
            versions[init.name] = v
        else:
            pkg = {"tini-static": "tini", "tini": "tini"}.get(init.name, init.name)
            versions[init.name] = f"{pkg} {dpkg_version(pkg)} (Debian package)"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(), "cpu": cpu, "cores": os.cpu_count(), "memory": mem,
        "os": osname, "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "versions": versions,
        "hyperfine": sh("hyperfine", "--version"), "gcc": sh("gcc", "-dumpfullversion"),
        "nice": os.nice(0),
    }
