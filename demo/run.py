#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""lameduck's zero-downtime demo: a rolling update behind a real load balancer.

On loopback only, for each configuration in turn, it builds a small "cluster":

* Pods: ``demo/app.py`` (a naive HTTP app that exits at once on SIGTERM), each in its own
  PID namespace (``unshare --pid --fork --mount-proc``) and on its own 127.x.y.z address,
  which is its Pod IP; PID 1 is the app itself (configuration ``none``) or lameduck;
* a fake Kubernetes API (``tests/fakeapi``) holding the EndpointSlice of Service ``web``;
* HAProxy playing kube-proxy, reconfigured through its runtime API by
  ``demo/lbcontroller.py``, which watches the EndpointSlices and applies every change
  ``--lag`` seconds late (no retries, no redispatch, no health checks: a request routed
  to a stopped Pod fails, as with kube-proxy);
* ``demo/loadgen.py``: steady keep-alive traffic through HAProxy, every request recorded;
* a "kubelet" (here) that rolls the Pods one by one: marks the Pod terminating in the
  EndpointSlice and at the same moment sends SIGTERM to its PID 1, waits for it to exit
  (``--grace``, then SIGKILL), starts a replacement on a fresh IP and adds it to the slice
  once it answers.

Then it prints a table (requests, failed requests, rollout duration, time per Pod),
writes ``results.md``, ``rollout.png`` (gnuplot) and ``summary.json`` into ``--out``.

Configurations: ``none`` (the app alone), ``delay`` (lameduck --delay 15s) and
``endpoints`` (lameduck --wait-endpoints, --settle). Run ``run.py --help``.

This file is the command line only. The parts: ``procs.py`` (process and timing helpers),
``cluster.py`` (one configuration's cluster, the kubelet, the measurement), ``report.py``
(table, results.md, the gnuplot plot, summary.json); the processes it starts are
``app.py``, ``lbcontroller.py`` and ``loadgen.py``.
"""


import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import _repo  # noqa: F401 -- tests/ on sys.path
import netns
import sweep
from cluster import CONFIGS, LB_MODES, make_api_certs, run_config
from procs import Procs, log, pidns_available
from report import table, write_outputs
from support.durations import parse_duration

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

DEFAULT_CONFIGS = ["none", "delay", "endpoints", "defaults"]
TRAFFIC_CONFIGS = ("defaults", "no-pooled", "pooled-peer")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Roll the Pods of a naive app behind HAProxy -- without lameduck, with a "
                    "fixed delay, waiting on the EndpointSlices, with lameduck's defaults "
                    "(EndpointSlices + traffic wait) -- and count failed requests. With "
                    "--sweep: the same over several load balancer lags and traffic modes. "
                    "Durations: 500ms, 2s, 1m or seconds.")
    p.add_argument("--pods", type=int, default=None,
                   help="Pods of the Service, each rolled once (3; 2 with --sweep)")
    p.add_argument("--rate", type=float, default=None,
                   help="requests per second through HAProxy (200; 100 with --sweep)")
    p.add_argument("--lag", type=parse_duration, default=8.0,
                   help="load balancer propagation lag: how late HAProxy (and the in-cluster "
                        "clients' kube-proxy) follow the EndpointSlices (8s)")
    p.add_argument("--lb-mode", choices=LB_MODES, default="pool",
                   help="HAProxy to the Pods: 'newconn' (a new connection per request) or "
                        "'pool' (a warm keep-alive pool, http-reuse always) (pool)")
    p.add_argument("--incluster-rate", type=float, default=0,
                   help="requests per second of in-cluster clients with their own keep-alive "
                        "pools that bypass HAProxy, routed like kube-proxy (0: none)")
    p.add_argument("--incluster-conns", type=int, default=4,
                   help="connections of the in-cluster clients' pool (4)")
    p.add_argument("--settle", type=parse_duration, default=5.0,
                   help="lameduck --settle in configuration 'endpoints' (5s, the product's "
                        "default)")
    p.add_argument("--delay", type=parse_duration, default=15.0,
                   help="lameduck --delay in configuration 'delay' (15s)")
    p.add_argument("--max-delay", type=parse_duration, default=25.0,
                   help="lameduck --max-delay in 'delay' and 'endpoints' (25s, the default)")
    p.add_argument("--endpoint-delay", type=parse_duration, default=0.0,
                   help="how late the EndpointSlice follows the Pod's deletion (a busy "
                        "endpoint controller; 0s). The kubelet's SIGTERM does not wait for it")
    p.add_argument("--grace", type=parse_duration, default=30.0,
                   help="terminationGracePeriodSeconds: SIGKILL after this (30s)")
    p.add_argument("--probe-period", type=parse_duration, default=1.0,
                   help="the kubelet's probe period, from the node's IP, also while a Pod "
                        "terminates (1s)")
    p.add_argument("--sidecar-rate", type=float, default=5.0,
                   help="loopback requests per second of a sidecar inside each Pod (5; 0: none)")
    p.add_argument("--work-ms", type=float, default=5.0, help="app time per request in ms (5)")
    p.add_argument("--warmup", type=parse_duration, default=3.0, help="traffic before the rollout (3s)")
    p.add_argument("--cooldown", type=parse_duration, default=None,
                   help="traffic after the rollout (lag + 2s)")
    p.add_argument("--configs", default=None,
                   help="configurations to run, comma-separated, from " + ",".join(CONFIGS) +
                        " (" + ",".join(DEFAULT_CONFIGS) + ")")
    p.add_argument("--sweep", action="store_true",
                   help="run every configuration for every lag of --lags and every mode of "
                        "--modes; writes sweep.md, sweep.png and sweep.json")
    p.add_argument("--lags", default="1s,5s,12s,20s", help="lags of the sweep (1s,5s,12s,20s)")
    p.add_argument("--jobs", type=int, default=1,
                   help="runs of the sweep at the same time (1): each in its own network "
                        "namespaces; more is faster but the runs share the CPUs")
    p.add_argument("--modes", default=",".join(sweep.MODES),
                   help="traffic modes of the sweep (" + ",".join(sweep.MODES) + ")")
    p.add_argument("--out", default=os.path.join(HERE, "results"),
                   help="directory for results.md, rollout.png, summary.json (demo/results)")
    p.add_argument("--json", help="also write the summary JSON here")
    p.add_argument("--lameduck", default=os.environ.get("LAMEDUCK_BIN") or
                   os.path.join(ROOT, "build", "lameduck"),
                   help="lameduck binary ($LAMEDUCK_BIN, else build/lameduck)")
    p.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy",
                   help="haproxy binary")
    p.add_argument("--slots", type=int, default=0, help="HAProxy server slots (2 * pods + 4)")
    p.add_argument("--netns-prefix", default=None,
                   help="prefix of the network namespaces made (demo-RANDOM: unique per run)")
    p.add_argument("--bin", type=parse_duration, default=0.5, help="plot bin width (500ms)")
    p.add_argument("--no-pidns", dest="pidns", action="store_false",
                   help="do not give each Pod its own PID namespace (for where unshare is not "
                        "permitted; lameduck then is a subreaper, not PID 1)")
    p.add_argument("--no-plot", dest="plot", action="store_false", help="skip the PNG")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, raw data)")
    a = p.parse_args(argv)
    if a.configs is None:
        a.configs = ",".join(sweep.SWEEP_CONFIGS if a.sweep else DEFAULT_CONFIGS)
    a.configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    bad = [c for c in a.configs if c not in CONFIGS]
    if bad:
        p.error(f"unknown configuration(s) {bad}; choose from {CONFIGS}")
    a.lags = [parse_duration(x) for x in a.lags.split(",") if x.strip()]
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    bad = [m for m in a.modes if m not in sweep.MODES]
    if bad:
        p.error(f"unknown mode(s) {bad}; choose from {sweep.MODES}")
    a.pods = a.pods or (2 if a.sweep else 3)
    a.rate = a.rate or (100 if a.sweep else 200)
    if a.pods < 1 or a.rate <= 0:
        p.error("--pods and --rate must be positive")
    a.netns_prefix = a.netns_prefix or f"demo-{secrets.token_hex(3)}"
    a.slots = a.slots or 2 * a.pods + 4
    a.cooldown_arg = a.cooldown
    finish_args(a)
    return a


def finish_args(a):
    """The values that follow from the lag (again for each lag of a sweep)."""
    a.cooldown = a.cooldown_arg if a.cooldown_arg is not None else a.lag + 2.0
    a.max_run = a.warmup + a.cooldown + a.pods * (a.grace + 2 * a.endpoint_delay + 30) + 60


def lameduck_options(path):
    """The options this lameduck binary knows (from its --help)."""
    try:
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return r.stdout + r.stderr


def main(argv=None):
    a = parse_args(argv)
    uses_lameduck = any(c != "none" for c in a.configs)
    if uses_lameduck and not os.access(a.lameduck, os.X_OK):
        sys.exit(f"demo: lameduck binary {a.lameduck} not found; build it "
                 "(cmake -S . -B build -G Ninja && ninja -C build lameduck) or pass --lameduck")
    if not os.access(a.haproxy, os.X_OK):
        sys.exit("demo: haproxy not found (apt-get install haproxy)")
    if not netns.available():
        sys.exit("demo: cannot create network namespaces (ip netns add): run as root")
    if a.pidns and not pidns_available():
        log("unshare --pid --fork --mount-proc is not permitted here: running the Pods "
            "without PID namespaces (lameduck then is a subreaper, not PID 1)")
        a.pidns = False
    help_text = lameduck_options(a.lameduck) if uses_lameduck else ""
    a.has_traffic = "--wait-traffic" in help_text
    missing = [c for c in a.configs if c in TRAFFIC_CONFIGS and (
        not a.has_traffic or (c == "no-pooled" and "--wait-pooled" not in help_text)
        or (c == "pooled-peer" and "--pooled-peer" not in help_text))]
    if missing:
        log(f"this lameduck has no traffic wait{' option' if a.has_traffic else ''} for "
            f"{', '.join(missing)}: skipping {', '.join(missing)}")
        a.configs = [c for c in a.configs if c not in missing]

    workdir = tempfile.mkdtemp(prefix="lameduck-demo-")
    if uses_lameduck:
        # Run a snapshot, so that a rebuild during the demo cannot pull the binary away.
        shutil.copy2(a.lameduck, os.path.join(workdir, "lameduck"))
        a.lameduck = os.path.join(workdir, "lameduck")
    a.api_certs = make_api_certs(os.path.join(workdir, "certs"))
    procs = Procs()
    results = []
    a.versions = versions(a)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    t_begin = time.monotonic()
    ok = False
    try:
        if a.sweep:
            results = sweep.run(a, workdir, procs, finish_args)
        else:
            for i, config in enumerate(a.configs):
                results.append(run_config(a, config, i, workdir, procs))
                r = results[-1]
                log(f"[{config}] {r['requests']} requests, {r['failed']} failed, "
                    f"rollout {r['rollout_s']:.1f}s")
                if config == "endpoints" and r["lameduck_api_requests"] == 0:
                    log("[endpoints] WARNING: lameduck made no API request: this binary does "
                        "not watch EndpointSlices (yet?)")
        ok = True
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        procs.stop_all()
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        ok = True   # nothing to debug
        return 130
    finally:
        procs.stop_all()
        if (a.keep or not ok) and os.path.isdir(workdir):
            log(f"work directory kept: {workdir} (logs of every process)")

    full = {"args": {k: v for k, v in vars(a).items()},
            "cmdline": os.environ.get("DEMO_CMDLINE") or
            "demo/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "results": results}
    with open(os.path.join(workdir, "results-full.json"), "w") as f:
        json.dump(full, f)
    if a.sweep:
        outputs = sweep.write_outputs(a, results, workdir, full["cmdline"].strip())
        text = sweep.table(a, results)
    else:
        outputs = write_outputs(a, results, workdir, full["cmdline"].strip())
        text = table(results)
    if not a.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(text)
    print()
    md, png = outputs
    print(f"results: {md}" + (f", plot: {png}" if png else "") +
          f"  ({time.monotonic() - t_begin:.0f} s)")
    return 0


def versions(a):
    out = []
    for name, cmd in (("lameduck", [a.lameduck, "version"]), ("haproxy", [a.haproxy, "-v"])):
        if name == "lameduck" and not any(c != "none" for c in a.configs):
            continue
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            line = (r.stdout or r.stderr).strip().splitlines()[0]
            out.append(" ".join(line.split()[:3]) if name == "haproxy" else line)
        except (OSError, IndexError, subprocess.TimeoutExpired):
            pass
    out.append(f"Linux {os.uname().release}, {os.cpu_count()} CPUs")
    return out


def replot(workdir, out=None, bin_s=None):
    """Redraw results.md and rollout.png from a work directory kept with --keep."""
    with open(os.path.join(workdir, "results-full.json")) as f:
        full = json.load(f)
    a = argparse.Namespace(**full["args"])
    if out:
        a.out = out
    if bin_s:
        a.bin = bin_s
    a.json = None
    if getattr(a, "sweep", False):
        md, png = sweep.write_outputs(a, full["results"], workdir, full["cmdline"])
        print(sweep.table(a, full["results"]))
    else:
        md, png = write_outputs(a, full["results"], workdir, full["cmdline"])
        print(table(full["results"]))
    print(f"results: {md}" + (f", plot: {png}" if png else ""))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--replot":
        # run.py --replot WORKDIR [OUT] [BIN]: redraw from a run kept with --keep.
        replot(sys.argv[2], *(sys.argv[3:4] or [None]),
               *([parse_duration(sys.argv[4])] if len(sys.argv) > 4 else []))
        sys.exit(0)
    sys.exit(main())
