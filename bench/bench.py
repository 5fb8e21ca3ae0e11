#!/usr/bin/python3
"""lameduck benchmarks: the measurements behind bench/RESULTS.md.

Run through bench/run.sh, which builds lameduck and the native helper and installs the
peers; this script only measures and writes the report. Standard library only.

    bench.py --ldbench PATH --init NAME=PATH ... [--missing NAME=REASON ...]
             [--out bench/RESULTS.md] [--raw-dir bench/results/raw]
    bench.py --report-from bench/results/raw/STAMP.json [--out FILE]   (report only)

Every figure is the median over several rounds; every ratio is taken against tini-static
*in the same round* (then the median of those ratios), because the machine is noisy.
Counts are set by environment variables (see bench/README.md); BENCH_QUICK=1 is a smoke run.
"""

import argparse
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
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))  # tests/support, shared with the tests and demo/

from support.procfs import children_of  # noqa: E402

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
    "signals": knob("BENCH_SIGNALS", 2000, 500),
    "reap_rounds": knob("BENCH_REAP_ROUNDS", 5, 1),
    "orphans": knob("BENCH_ORPHANS", 10000, 2000),
    "drains": knob("BENCH_DRAINS", 15, 4),
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
    """VmRSS/RssAnon/RssFile (KiB) of the process; context switches summed over threads."""
    res = {"voluntary": 0, "nonvoluntary": 0, "threads": 0}
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
                "rss_file_kib": a.get("RssFile"), "threads": a["threads"],
                "child_layout": a.get("child_layout"),
                "state": b.get("state"), "child_alive": b["child_alive"],
                "switches": switches, "window_s": dt, "wakeups_per_min": switches * 60.0 / dt,
            }
    finally:
        for p, _ in started.values():
            stop(p)
    return results


def measure_idle(inits, ldbench, work):
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


def run_json(argv, timeout, logpath):
    with open(logpath, "ab") as lf:
        lf.write(("$ " + " ".join(argv) + "\n").encode())
        lf.flush()
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=lf, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
    lines = [l for l in p.stdout.decode(errors="replace").splitlines() if l.startswith("{")]
    if not lines:
        return {"error": f"no result (exit {p.returncode})"}
    return json.loads(lines[-1])


def measure_signals(inits, ldbench, work):
    rounds = []
    for r in range(CFG["signal_rounds"]):
        log(f"signals: round {r + 1}/{CFG['signal_rounds']} ({CFG['signals']} acknowledged SIGUSR1 each)")
        order = list(inits)
        random.shuffle(order)
        res = {}
        for init in order:
            res[init.name] = run_json(
                [ldbench, "signals", str(CFG["signals"]), "100", "1000", "--",
                 *init.cmd(ldbench, "sigack")], 120, os.path.join(work, f"signals-{init.slug}.log"))
        rounds.append(res)
    return rounds


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
            st = subprocess.Popen([strace, "-o", trace, "-p", str(p.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # strace prints "attached" on stderr once it is attached
            deadline = time.monotonic() + 10
            buf = b""
            while b"attached" not in buf and time.monotonic() < deadline:
                chunk = st.stderr.read1(256)
                if not chunk:
                    break
                buf += chunk
            time.sleep(0.2)
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


def measure_reap(inits, ldbench, work):
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
                300, os.path.join(work, f"reap-{init.slug}.log"))
        rounds.append(res)
    return rounds


# --------------------------------------------------------------------------------------
# drain precision (lameduck only, against tests/fakeapi)
# --------------------------------------------------------------------------------------

def drain_flags(api):
    return ["--wait-endpoints", "--api-server", api.url, "--token-file", api.token_file,
            "--ca-file", api.ca_file, "--pod-ip", POD_IP, "--namespace", "default",
            "--settle", "0", "--delay", "10s", "--max-delay", "20s"]


def is_slice_request(r):
    return "/endpointslices" in r["path"]


def one_drain(init, api, ldbench, slices, logf, probe=False):
    """One SIGTERM -> watch -> mark not ready -> child signalled cycle. Returns a dict."""
    ready, gone = slices
    api.set_slices(ready)
    api.clear_requests()
    rfd, wfd = os.pipe()
    p = subprocess.Popen([init.path, *drain_flags(api), "--", ldbench, "termstamp"],
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
                chk = subprocess.run([init.path, *drain_flags(api), "--check", "--", ldbench, "termstamp"],
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


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------

def fmt_int(x):
    return "—" if x is None else f"{x:,.0f}"


def fmt_ratio(x):
    return "" if x is None else f" ({x:.2f}×)"


def per_round(rounds, name, key):
    return [r[name][key] for r in rounds
            if isinstance(r, dict) and isinstance(r.get(name), dict) and r[name].get(key) is not None]


def ratio_rounds(rounds, name, key, ref=REFERENCE):
    out = []
    for r in rounds:
        a, b = (r.get(name) or {}).get(key), (r.get(ref) or {}).get(key)
        if a is not None and b:
            out.append(a / b)
    return out


def vs_best(rounds, name, key, peers):
    """(ratio, peer): `name` against each peer -- per-round ratio, median over rounds --
    and the lowest of those, i.e. the comparison with the strongest peer (higher is
    better). Taking the best peer *per round* instead would compare one noisy sample with
    the maximum of four and favour the peers."""
    meds = {p: median(ratio_rounds(rounds, name, key, ref=p)) for p in peers}
    meds = {p: v for p, v in meds.items() if v is not None}
    if not meds:
        return None, None
    p = min(meds, key=meds.get)
    return meds[p], p


def summarize(inits, res):
    """Per init: the medians and ratios the tables show."""
    peers = [i.name for i in inits if not i.lameduck]
    s = {}
    for init in inits:
        n = init.name
        d = {}
        if "sizes" in res:
            d["size"] = res["sizes"][n]["bytes"]
            d["size_ratio"] = res["sizes"][n]["bytes"] / res["sizes"][REFERENCE]["bytes"]
        if "idle" in res:
            d["rss"] = median(per_round(res["idle"], n, "rss_kib"))
            d["rss_anon"] = median(per_round(res["idle"], n, "rss_anon_kib"))
            d["rss_file"] = median(per_round(res["idle"], n, "rss_file_kib"))
            d["rss_ratio"] = median(ratio_rounds(res["idle"], n, "rss_kib"))
            d["wakeups"] = median(per_round(res["idle"], n, "wakeups_per_min"))
            d["wakeups_max"] = max(per_round(res["idle"], n, "wakeups_per_min") or [0])
            d["idle_errors"] = [r[n]["error"] for r in res["idle"] if "error" in r.get(n, {})]
            d["layout"] = next((r[n]["child_layout"] for r in res["idle"]
                                if r.get(n, {}).get("child_layout")), None)
        if "startup" in res:
            ok = [r for r in res["startup"] if "error" not in r]
            d["start"] = median(per_round(ok, n, "median_s"))
            d["start_ratio"] = median(ratio_rounds(ok, n, "median_s"))
            d["start_over_true"] = median([r[n]["median_s"] - r["(no init)"]["median_s"] for r in ok])
            d["true"] = median(per_round(ok, "(no init)", "median_s"))
            d["start_cpu"] = median(per_round(ok, n, "cpu_s"))
            d["start_cpu_ratio"] = median(ratio_rounds(ok, n, "cpu_s"))
        if "signals" in res:
            d["sig_lat"] = median(per_round(res["signals"], n, "median_us"))
            d["sig_p99"] = median(per_round(res["signals"], n, "p99_us"))
            d["sig_rate"] = median(per_round(res["signals"], n, "per_s"))
            d["sig_ratio"] = median(ratio_rounds(res["signals"], n, "per_s"))
            d["sig_vs_best"], d["sig_best"] = vs_best(res["signals"], n, "per_s", peers)
            d["sig_lost"] = sum(per_round(res["signals"], n, "lost"))
            d["sig_cpu"] = median([x for x in per_round(res["signals"], n, "init_cpu_us_per_signal") if x >= 0])
        sc = res.get("syscalls", {}).get(n, {})
        if "per_signal" in sc:
            d["sig_syscalls"] = sc["per_signal"]
            d["sig_syscall_list"] = sc["calls"]
            d["sig_late"] = sum(per_round(res["signals"], n, "late_acks"))
            d["sig_errors"] = [r[n]["error"] for r in res["signals"] if "error" in r.get(n, {})]
            d["sig_status"] = sorted({r[n].get("init_status", "?") for r in res["signals"] if n in r})
        if "reap" in res:
            d["reap_ms"] = median(per_round(res["reap"], n, "time_ms"))
            d["reap_rate"] = median(per_round(res["reap"], n, "per_s"))
            d["reap_ratio"] = median(ratio_rounds(res["reap"], n, "per_s"))
            d["reap_vs_best"], d["reap_best"] = vs_best(res["reap"], n, "per_s", peers)
            d["zombies"] = max(per_round(res["reap"], n, "zombies_left") or [0])
            d["reap_cpu"] = median([x * 1000.0 / r[n]["n"] for r in res["reap"] if n in r
                                    for x in [r[n].get("init_cpu_ms")] if x is not None and x >= 0])
            d["reap_incomplete"] = sum(1 for r in res["reap"] if r.get(n, {}).get("all_reaped") is False)
            d["reap_errors"] = [r[n]["error"] for r in res["reap"] if "error" in r.get(n, {})]
            d["reap_status"] = sorted({r[n].get("init_status", "?") for r in res["reap"] if n in r})
        s[n] = d
    return s


def verdict(ok):
    return "**met**" if ok else "**missed**"


def explain_misses(inits, s, res):
    """Facts behind every missed target, from this run's numbers."""
    out = []
    ref = s[REFERENCE]
    peers = [i.name for i in inits if not i.lameduck]
    sizes = res.get("sizes", {})
    for i in (x for x in inits if x.lameduck):
        n, d = i.name, s[i.name]
        libs = sizes.get(n, {}).get("shared_libs", [])
        dyn = (f" It is dynamically linked to {len(libs)} shared libraries (libcurl with its "
               f"TLS/auth stack, spdlog, fmt, libstdc++, ...)" if libs else "")
        if d.get("rss_ratio") is not None and d["rss_ratio"] > 1.1:
            out.append(
                f"{n}, idle RSS {d['rss_ratio']:.2f}× tini-static: VmRSS {fmt_int(d['rss'])} KiB vs "
                f"{fmt_int(ref['rss'])} KiB, of which private (RssAnon) {fmt_int(d['rss_anon'])} vs "
                f"{fmt_int(ref['rss_anon'])} KiB and file-backed (RssFile: page-cache pages of the "
                f"executable and its libraries, shared, not private memory) {fmt_int(d['rss_file'])} vs "
                f"{fmt_int(ref['rss_file'])} KiB."
                + (dyn + "; their mapped pages count in VmRSS." if libs else
                   f" RssFile follows the executable's size ({sizes[n]['bytes'] / 1024:,.0f} KiB "
                   f"stripped vs {sizes[REFERENCE]['bytes'] / 1024:,.0f} KiB): the kernel maps "
                   f"the page-cache pages around each page fault, so most of a static binary "
                   f"ends up resident." if n in sizes and REFERENCE in sizes else ""))
        if d.get("wakeups_max"):
            out.append(f"{n} woke up while idle: {d['wakeups_max']:.1f} context switches per "
                       "minute at worst (target 0) — a bug: see the raw idle data.")
        if d.get("start_ratio") is not None and d["start_ratio"] > 1.1:
            out.append(
                f"{n}, start-up {d['start_ratio']:.2f}× tini-static: {d['start_over_true'] * 1e6:,.0f} µs "
                f"above a bare `/bin/true` vs {ref['start_over_true'] * 1e6:,.0f} µs; CPU per run "
                f"{d['start_cpu'] * 1e3:.2f} ms vs {ref['start_cpu'] * 1e3:.2f} ms "
                f"({d['start_cpu_ratio']:.2f}×)."
                + (dyn + "; the dynamic loader maps and relocates them on every start." if libs else ""))
        for key, what, cpu, unit in (("sig", "signal", "sig_cpu", "signal"),
                                     ("reap", "reaping", "reap_cpu", "reaped orphan")):
            vs = d.get(f"{key}_vs_best")
            if vs is None or vs >= 1.0:
                continue
            rate = d.get("sig_rate" if key == "sig" else "reap_rate")
            best = d[f"{key}_best"]
            brate = s[best].get("sig_rate" if key == "sig" else "reap_rate")
            cpus = {p: s[p].get(cpu) for p in peers if s[p].get(cpu)}
            cpu_txt = ""
            if d.get(cpu) and cpus:
                lo = min(cpus, key=cpus.get)
                cpu_txt = (f" Its own CPU time per {unit} is {d[cpu]:.1f} µs vs {cpus[lo]:.1f} µs "
                           f"for {lo} (the cheapest peer)"
                           + (f" and {cpus[best]:.1f} µs for {best}." if best != lo and best in cpus else "."))
            if key == "sig" and d.get("sig_syscalls") is not None:
                sys_peers = {p: s[p]["sig_syscalls"] for p in peers if s[p].get("sig_syscalls")}
                if sys_peers:
                    def calls(x):
                        return ", ".join(f"{k}" + (f"×{v:g}" if v != 1 else "")
                                         for k, v in s[x]["sig_syscall_list"].items())
                    lo = min(sys_peers, key=sys_peers.get)
                    cpu_txt += (f" Per forwarded signal it makes {d['sig_syscalls']:.1f} system calls "
                                f"({calls(n)}) vs {sys_peers[lo]:.1f} for {lo} ({calls(lo)}).")
            if key == "reap" and d.get("layout") and s[best].get("layout"):
                cpu_txt += (f" The child runs in: {d['layout']} (lameduck); {s[best]['layout']} "
                            f"({best}). Orphans left in the init's session pay, as they exit, a "
                            f"kernel walk over the unreaped zombies of their process group (the "
                            f"orphaned-process-group check), which a child in its own session "
                            f"skips; that accounts for part of the wall-clock gap (see "
                            f"bench/README.md, \"Reading the reaping figure\").")
            spread = per_round(res.get("signals" if key == "sig" else "reap", []), n, "per_s")
            spread_txt = (f" Per-round rates ranged {min(spread):,.0f}–{max(spread):,.0f}/s."
                          if spread else "")
            out.append(f"{n}, {what} throughput {vs:.2f}× {best} in the same rounds "
                       f"(median {fmt_int(rate)}/s vs {fmt_int(brate)}/s).{cpu_txt}{spread_txt}")
        if d.get("sig_lost"):
            out.append(f"{n} lost {d['sig_lost']} signals (no acknowledgement within 1 s) — a bug.")
        if d.get("zombies") or d.get("reap_incomplete"):
            out.append(f"{n} left zombies ({d.get('zombies')}) or did not reap every orphan within "
                       f"30 s ({d.get('reap_incomplete')} rounds) — a bug.")
        if "drain_median" in d and d["drain_median"] > 50:
            out.append(f"{n}: drain median {d['drain_median']:.1f} ms > 50 ms.")
        if "drain_reqs" in d and d["drain_reqs"] != ([1], [1]):
            out.append(f"{n}: API requests per drain: lists {d['drain_reqs'][0]}, watches "
                       f"{d['drain_reqs'][1]} (target 1 + 1).")
    return out



def report(inits, missing, res, env, wall_s):
    s = summarize(inits, res)
    names = [i.name for i in inits]
    L = []
    w = L.append
    w("# lameduck benchmarks")
    w("")
    w("<!-- generated by bench/run.sh (bench/bench.py); do not edit by hand -->")
    w("")
    w(f"* date: {env['date']}; the measurements took {wall_s / 60:.1f} min (builds not counted)"
      + (" (**BENCH_QUICK smoke run: fewer rounds, not for publishing**)" if CFG.get("quick") else ""))
    w(f"* machine: {env['cpu']}, {env['cores']} cores, {env['memory']}; kernel {env['kernel']}; "
      f"{env['os']}; load average at start {' '.join(env['loadavg_start'])}, "
      f"at end {' '.join(env.get('loadavg_end') or ['?'])}")
    w("* inits: " + "; ".join(f"{n}: {env['versions'].get(n, '?')}" for n in names)
      + (f"; lameduck built from {env['source']}" if env.get("source") else ""))
    for n, why in missing.items():
        w(f"* {n}: **not built** — {why}")
    w(f"* tools: {env['hyperfine']}, gcc {env['gcc']}; the bench and every init ran at nice "
      f"{env['nice']}")
    if env.get("orphans_setsid"):
        w("* **LDBENCH_ORPHANS_SETSID=1: the orphans ran in a session of their own** "
          "(a comparison run, not the standard measurement)")
    w(f"* rounds: idle {CFG['idle_rounds']}×{CFG['idle_seconds']:g} s; start-up "
      f"{CFG['start_rounds']}×{CFG['start_runs']} runs; signals {CFG['signal_rounds']}×"
      f"{CFG['signals']}; reaping {CFG['reap_rounds']}×{CFG['orphans']:,} orphans; "
      f"drain {CFG['drains']} drains")
    w("")
    w("Each figure is the median over the rounds; the ratio in parentheses is against "
      "tini-static, computed per round (same round, same machine state) and then the median. "
      "For size, RSS and time lower is better; for rates higher is better.")
    w("")
    w("## Results")
    w("")
    ref_orph = f"{CFG['orphans']:,}"
    w(f"| init | stripped size | idle RSS | idle wake-ups/min | `INIT -- /bin/true` | "
      f"signal latency (median) | signals/s | reap {ref_orph} orphans | reaps/s | zombies left |")
    w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for n in names:
        d = s[n]
        size = f"{d['size'] / 1024:,.1f} KiB{fmt_ratio(d['size_ratio'])}" if "size" in d else "—"
        rss = f"{fmt_int(d.get('rss'))} KiB{fmt_ratio(d.get('rss_ratio'))}" if d.get("rss") else "—"
        wk = f"{d['wakeups']:.1f}" if d.get("wakeups") is not None else "—"
        st = f"{d['start'] * 1e6:,.0f} µs{fmt_ratio(d.get('start_ratio'))}" if d.get("start") else "—"
        sl = f"{d['sig_lat']:.1f} µs" if d.get("sig_lat") else "—"
        sr = f"{fmt_int(d.get('sig_rate'))}{fmt_ratio(d.get('sig_ratio'))}" if d.get("sig_rate") else "—"
        if d.get("sig_lost"):
            sr += f" **{d['sig_lost']} lost**"
        rm = f"{d['reap_ms']:,.0f} ms" if d.get("reap_ms") else "—"
        rr = f"{fmt_int(d.get('reap_rate'))}{fmt_ratio(d.get('reap_ratio'))}" if d.get("reap_rate") else "—"
        if d.get("reap_incomplete"):
            rr += f" **{d['reap_incomplete']} round(s) incomplete**"
        z = str(d["zombies"]) if "zombies" in d else "—"
        w(f"| {n} | {size} | {rss} | {wk} | {st} | {sl} | {sr} | {rm} | {rr} | {z} |")
    for n, why in missing.items():
        w(f"| {n} | not built | | | | | | | | |")
    w("")

    # drain
    w("## Drain precision (lameduck only)")
    w("")
    w("Time from the fake API marking the Pod's endpoint not ready (`ready: false, "
      "terminating: true`, measured from just *before* the control call that changes the "
      "slice) to the child receiving SIGTERM, with `--settle 0`; lameduck already watching "
      "(SIGTERM sent first, the change made 200 ms after its watch request arrived). "
      "Requests are the EndpointSlice requests the fake API saw per drain.")
    w("")
    w("| build | median | p90 | max | API requests per drain | drains | exit status |")
    w("|---|--:|--:|--:|---|--:|---|")
    drain = res.get("drain", {})
    for i in inits:
        if not i.lameduck:
            continue
        d = drain.get(i.name)
        if not d:
            w(f"| {i.name} | n/a (not measured) | | | | | |")
        elif d["status"] != "ok":
            w(f"| {i.name} | n/a ({d['reason']}) | | | | | |")
        else:
            good = [x for x in d["drains"] if "error" not in x]
            bad = len(d["drains"]) - len(good)
            lat = sorted(x["latency_ms"] for x in good)
            if not lat:
                w(f"| {i.name} | every drain failed: {d['drains'][0].get('error')} | | | | | |")
                continue
            p90 = lat[min(len(lat) - 1, int(0.9 * (len(lat) - 1) + 0.5))]
            lists = sorted({x["lists"] for x in good})
            watches = sorted({x["watches"] for x in good})
            exits = sorted({x["lameduck_exit"] for x in good})
            req = f"{'/'.join(map(str, lists))} list + {'/'.join(map(str, watches))} watch"
            w(f"| {i.name} | {statistics.median(lat):.1f} ms | {p90:.1f} ms | {lat[-1]:.1f} ms | "
              f"{req} | {len(good)}" + (f" (+{bad} failed)" if bad else "") + f" | {exits} |")
            s[i.name]["drain_median"] = statistics.median(lat)
            s[i.name]["drain_reqs"] = (lists, watches)
    for n in missing:
        w(f"| {n} | not built | | | | | |")
    w("")

    # targets
    w("## Targets")
    w("")
    lds = [i.name for i in inits if i.lameduck]
    w("| target | " + " | ".join(lds) + " |")
    w("|---|" + "---|" * len(lds))

    def row(title, fn):
        cells = []
        for n in lds:
            try:
                cells.append(fn(s[n]))
            except (KeyError, TypeError):
                cells.append("not measured")
        w(f"| {title} | " + " | ".join(cells) + " |")

    row("idle RSS ≤ 1.1× tini-static",
        lambda d: f"{d['rss_ratio']:.2f}× — {verdict(d['rss_ratio'] <= 1.1)}")
    row("zero idle wake-ups",
        lambda d: f"{d['wakeups']:.1f}/min (max {d['wakeups_max']:.1f}) — {verdict(d['wakeups_max'] == 0)}")
    row("start-up ≤ 1.1× tini-static",
        lambda d: f"{d['start_ratio']:.2f}× — {verdict(d['start_ratio'] <= 1.1)}")
    peers = [i.name for i in inits if not i.lameduck]

    def cheapest(key):
        vals = {p: s[p].get(key) for p in peers if s[p].get(key)}
        return min(vals.values()) if vals else None

    def cpu_note(d, key, unit):
        c = cheapest(key)
        if not d.get(key) or not c:
            return ""
        return f" (own CPU per {unit} {d[key] / c:.2f}× the cheapest peer's)"

    row("signal throughput ≥ best other",
        lambda d: f"{d['sig_vs_best']:.2f}× {d['sig_best']} — {verdict(d['sig_vs_best'] >= 1.0)}"
        + cpu_note(d, "sig_cpu", "signal")
        + (f"; **{d['sig_lost']} signals lost**" if d["sig_lost"] else ""))
    row("reaping throughput ≥ best other",
        lambda d: f"{d['reap_vs_best']:.2f}× {d['reap_best']} — {verdict(d['reap_vs_best'] >= 1.0)}"
        + cpu_note(d, "reap_cpu", "reap")
        + (f"; **zombies left: {d['zombies']}**" if d["zombies"] else ""))

    def drain_cell(d):
        if "drain" not in res:
            return "not measured"
        if "drain_median" not in d:
            return "n/a (not built yet)"
        lists, watches = d["drain_reqs"]
        one_each = lists == [1] and watches == [1]
        return (f"{d['drain_median']:.1f} ms — {verdict(d['drain_median'] <= 50)}; "
                f"requests: {'1 list + 1 watch' if one_each else f'lists {lists}, watches {watches}'} "
                f"— {verdict(one_each)}")

    row("drain median ≤ 50 ms, 1 list + 1 watch", drain_cell)
    w("")
    misses = explain_misses(inits, s, res)
    w("### Where lameduck misses a target, and the measured reasons")
    w("")
    for m in misses or ["Nowhere in this run."]:
        w(f"* {m}")
    w("")
    w("Throughput against the best other: lameduck's rate divided by each peer's rate in the "
      "same round, median over the rounds, and the lowest of those (the strongest peer is "
      "named). Wall-clock rates of a two-process ping-pong swing widely with the machine's "
      "load (per-round rates in the details); the init's own CPU time per operation does "
      "not, so it is given alongside.")
    w("")

    # details
    w("## Details")
    w("")
    w("CPU columns are the init's own CPU time (hyperfine user+sys of the whole `INIT -- "
      "/bin/true` run; for signals and reaping the init's scheduler run time from "
      "`/proc/PID/task/*/schedstat` over the timed loop): unlike wall time they barely "
      "depend on what else the machine is doing.")
    w("")
    w("| init | linking | child runs in | stripped bytes | idle RssAnon / RssFile | `/bin/true` above bare `/bin/true` | "
      "start-up CPU | signal p99 | init CPU per signal | syscalls per signal | init CPU per reap | "
      "signals/s per round | reaps/s per round |")
    w("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|")
    for i in inits:
        n, d = i.name, s[i.name]
        sz = res.get("sizes", {}).get(n, {})
        link = sz.get("linking", "—")
        if sz.get("shared_libs"):
            link += f" ({len(sz['shared_libs'])} shared libs)"
        rr = (f"{fmt_int(d.get('rss_anon'))} / {fmt_int(d.get('rss_file'))} KiB"
              if d.get("rss_anon") is not None else "—")
        ov = f"{d['start_over_true'] * 1e6:,.0f} µs" if d.get("start_over_true") is not None else "—"
        p99 = f"{d['sig_p99']:.0f} µs" if d.get("sig_p99") else "—"
        scpu = (f"{d['start_cpu'] * 1e3:.2f} ms{fmt_ratio(d.get('start_cpu_ratio'))}"
                if d.get("start_cpu") else "—")
        sigcpu = f"{d['sig_cpu']:.1f} µs" if d.get("sig_cpu") else "—"
        reapcpu = f"{d['reap_cpu']:.1f} µs" if d.get("reap_cpu") else "—"
        sigr = ", ".join(fmt_int(x) for x in per_round(res.get("signals", []), n, "per_s")) or "—"
        reapr = ", ".join(fmt_int(x) for x in per_round(res.get("reap", []), n, "per_s")) or "—"
        nsys = (f"{d['sig_syscalls']:.1f} (" + ", ".join(
                    k + (f"×{v:g}" if v != 1 else "") for k, v in d["sig_syscall_list"].items()) + ")"
                if d.get("sig_syscalls") is not None else "—")
        w(f"| {n} | {link} | {d.get('layout') or '—'} | {fmt_int(sz.get('bytes'))} | {rr} | {ov} | {scpu} | {p99} | {sigcpu} | "
          f"{nsys} | {reapcpu} | {sigr} | {reapr} |")
    w("")
    problems = []
    for i in inits:
        d = s[i.name]
        if not i.lameduck and d.get("wakeups_max"):
            problems.append(f"{i.name}: wakes up while idle ({d['wakeups_max']:.1f}/min) — by "
                            "design: it waits for signals with a 1 s timeout")
            d = dict(d, wakeups_max=0)
        for key in ("idle_errors", "sig_errors", "reap_errors"):
            for e in d.get(key, []):
                problems.append(f"{i.name}: {key.split('_')[0]}: {e}")
        if d.get("sig_lost"):
            problems.append(f"{i.name}: {d['sig_lost']} SIGUSR1 never acknowledged within 1 s")
        if d.get("sig_late"):
            problems.append(f"{i.name}: {d['sig_late']} late acknowledgements")
        if d.get("zombies"):
            problems.append(f"{i.name}: {d['zombies']} zombies left after reaping")
        if d.get("reap_incomplete"):
            problems.append(f"{i.name}: not every orphan reaped within 30 s in {d['reap_incomplete']} round(s)")
        if d.get("wakeups_max"):
            problems.append(f"{i.name}: woke up while idle ({d['wakeups_max']:.1f}/min at worst)")
        for key in ("sig_status", "reap_status"):
            odd = [x for x in d.get(key, []) if x != "exit 0"]
            if odd:
                problems.append(f"{i.name}: {key.split('_')[0]} run ended with {', '.join(odd)}")
    for n, d in drain.items():
        if d.get("status") == "ok":
            for x in d["drains"]:
                if "error" in x:
                    problems.append(f"{n}: drain failed: {x['error']}")
    w("Observations (failures, lost signals, zombies, idle wake-ups): " + ("none." if not problems else ""))
    for p in problems:
        w(f"* {p}")
    w("")
    w("How each figure is measured: see [bench/README.md](README.md). Raw per-round data: "
      "`bench/results/raw/` (not committed).")
    w("")
    return "\n".join(L), s


# --------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ldbench", help="the helper built from helpers/ldbench.c (required to measure)")
    ap.add_argument("--source", default=REPO, help="the lameduck tree measured (for tests/fakeapi)")
    ap.add_argument("--source-desc", default="", help="what was built, for the report")
    ap.add_argument("--init", action="append", default=[], help="NAME=PATH (table order)")
    ap.add_argument("--missing", action="append", default=[], help="NAME=REASON")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--raw-dir", default=os.path.join(HERE, "results", "raw"))
    ap.add_argument("--report-from", metavar="RAW_JSON",
                    help="only rewrite the report from a raw file of an earlier run")
    args = ap.parse_args()

    if not args.report_from and not args.ldbench:
        ap.error("--ldbench is required (or --report-from)")
    if args.report_from:
        raw = json.load(open(args.report_from))
        CFG.update(raw["config"])
        names = raw.get("inits") or [[n, ""] for n in raw["summary"]]
        inits = [Init(n, p) for n, p in names]
        raw["env"].setdefault("loadavg_end", None)
        text, _ = report(inits, raw["missing"], raw["results"], raw["env"], raw["wall_s"])
        with open(args.out, "w") as f:
            f.write(text)
        print(text)
        return

    inits = [Init(*spec.split("=", 1)) for spec in args.init]
    missing = dict(spec.split("=", 1) for spec in args.missing)
    if REFERENCE not in [i.name for i in inits]:
        sys.exit(f"bench.py: {REFERENCE} is the reference and must be among the inits")
    if os.geteuid() != 0:
        sys.exit("bench.py: needs root (PID namespaces, /proc of other processes)")
    os.makedirs(args.raw_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="lameduck-bench-")
    t0 = time.monotonic()
    env = environment(inits)
    env["source"] = args.source_desc
    env["orphans_setsid"] = os.environ.get("LDBENCH_ORPHANS_SETSID") == "1"
    log(f"config: {json.dumps(CFG)}; work dir {work}")
    res = {}
    if wanted("size"):
        res["sizes"] = measure_sizes(inits, work)
    if wanted("idle"):
        res["idle"] = measure_idle(inits, args.ldbench, work)
    if wanted("startup"):
        res["startup"] = measure_startup(inits, work)
    if wanted("signals"):
        res["signals"] = measure_signals(inits, args.ldbench, work)
    if wanted("signals"):
        log("signals: counting system calls per forwarded signal (strace)")
        res["syscalls"] = measure_syscalls(inits, args.ldbench, work)
    if wanted("reap"):
        res["reap"] = measure_reap(inits, args.ldbench, work)
    if wanted("drain"):
        res["drain"] = measure_drain([i for i in inits if i.lameduck], args.ldbench, work, args.source)
    wall = time.monotonic() - t0
    env["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    text, summary = report(inits, missing, res, env, wall)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    with open(os.path.join(args.raw_dir, f"{stamp}.json"), "w") as f:
        json.dump({"env": env, "config": CFG, "results": res, "summary": summary,
                   "inits": [[i.name, i.path] for i in inits],
                   "missing": missing, "wall_s": wall}, f, indent=1)
    for name in os.listdir(work):
        if name.endswith(".log"):
            shutil.copyfile(os.path.join(work, name), os.path.join(args.raw_dir, f"{stamp}-{name}"))
    shutil.rmtree(work, ignore_errors=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    log(f"done in {wall:.0f} s; wrote {args.out} and {args.raw_dir}/{stamp}.json")


if __name__ == "__main__":
    main()
