# SPDX-License-Identifier: Apache-2.0
"""The lag sweep: every configuration, for every load balancer lag and traffic mode.

Modes (how the traffic reaches the Pods):

* ``newconn``   – through HAProxy, a new connection per request;
* ``pool``      – through HAProxy, a warm keep-alive pool (``http-reuse always``);
* ``incluster`` – ``pool`` plus in-cluster clients with their own keep-alive pools that
  bypass HAProxy the way kube-proxy does (conntrack keeps an open connection on its Pod
  until the app closes it): issue 11, case 4;
* ``poisson1``, ``poisson0.3`` – ``pool`` at about 1 and 0.3 requests/s per Pod with
  Poisson arrivals (random gaps; uniform pacing would hide them): issue 20.

Outputs ``sweep.md`` (a table: failed requests and per-Pod drain time against the lag),
``sweep.png`` (the same as a plot, gnuplot) and ``sweep.json`` in ``--out``.
"""

import concurrent.futures
import copy
import json
import os
import re
import subprocess

from cluster import describe, run_config
from procs import fmt_s, log
from report import find_gnuplot, render

MODES = ["newconn", "pool", "incluster", "poisson1", "poisson0.3"]
SHORT_MODES = {"newconn": "new connection per request", "pool": "warm pool",
               "incluster": "pool + in-cluster clients", "poisson1": "1 req/s per Pod",
               "poisson0.3": "0.3 req/s per Pod"}
POISSON_RATE = {"poisson1": 1.0, "poisson0.3": 0.3}   # requests/s per Pod
MODE_LABELS = {
    "newconn": "HAProxy, a new connection per request",
    "pool": "HAProxy, warm keep-alive pool",
    "incluster": "HAProxy pool + in-cluster keep-alive clients (kube-proxy)",
    "poisson1": "HAProxy pool, Poisson arrivals, 1 request/s per Pod",
    "poisson0.3": "HAProxy pool, Poisson arrivals, 0.3 requests/s per Pod",
}
SWEEP_CONFIGS = ["none", "delay", "endpoints", "defaults", "no-pooled", "pooled-peer"]
# Configurations that only matter in some modes.
ONLY_IN = {"no-pooled": ("incluster",), "pooled-peer": ("incluster",)}
GOAL_CONFIGS = ("defaults", "pooled-peer")   # the goal: lameduck as users run it
INCLUSTER_RATE = 40.0
COLORS = {"none": "#d62728", "delay": "#7f7f7f", "endpoints": "#ff7f0e",
          "defaults": "#2a9d3a", "no-pooled": "#1f5fbf", "pooled-peer": "#8e44ad"}


def mode_args(a, mode, lag, finish_args):
    m = copy.copy(a)
    m.lag = lag
    m.lb_mode = "newconn" if mode == "newconn" else "pool"
    m.incluster_rate = (a.incluster_rate or INCLUSTER_RATE) if mode == "incluster" else 0
    m.poisson = mode in POISSON_RATE
    if m.poisson:
        m.rate = POISSON_RATE[mode] * a.pods
    finish_args(m)
    return m


def quiet_default(a):
    """lameduck's default --quiet, from its --help (for the goal lag + quiet + 1 s); with
    --quiet auto, its shortest (2 s): each Pod's goal then uses the quiet it chose."""
    try:
        r = subprocess.run([a.lameduck, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if re.search(r"--quiet auto", r.stdout + r.stderr):
        return 2.0
    m = re.search(r"--quiet\b[^\n]*\n?[^\n]*?\((\d+(?:\.\d+)?)(ms|s)\)", r.stdout + r.stderr)
    if not m:
        return None
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def quiet_from_logs(a, results):
    """The --quiet lameduck really used, from its log ("waiting for traffic to stop: 2s
    quiet"), in preference to its --help."""
    for r in results:
        if r["config"] == "defaults":
            for p in r["pods"]:
                m = re.search(r"waiting for traffic to stop: (\d+(?:\.\d+)?)(ms|s) quiet", p["log"])
                if m:
                    a.quiet_default = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
                    return results
    return results


def run(a, workdir, procs, finish_args):
    a.quiet_default = quiet_default(a) if a.has_traffic else None
    plan = [(lag, mode, config) for lag in a.lags for mode in a.modes for config in a.configs
            if mode in ONLY_IN.get(config, (mode,))]
    log(f"sweep: {len(plan)} runs (lags {', '.join(fmt_s(x) for x in a.lags)}; modes "
        f"{', '.join(a.modes)}; configurations {', '.join(a.configs)})")
    done = []

    def one(i):
        lag, mode, config = plan[i]
        m = mode_args(a, mode, lag, finish_args)
        tag = f"{fmt_s(lag)}-{mode}-{config}"
        r = run_config(m, config, i, workdir, procs, tag=tag)
        r["mode"] = mode
        r.pop("_rows", None)
        for p in r["pods"]:
            p["log"] = p["log"][-4000:]
        done.append(i)
        log(f"sweep {len(done)}/{len(plan)} [{tag}] {r['requests']} requests, {r['failed']} failed"
            + (f", in-cluster {r['incluster_requests']} requests, {r['incluster_failed']} failed"
               if r["incluster_rate"] else "")
            + f"; per Pod {r['mean_per_pod_s']:.1f} s (max {r['max_per_pod_s']:.1f} s)")
        return r

    if a.jobs <= 1:
        return quiet_from_logs(a, [one(i) for i in range(len(plan))])
    # Runs in parallel threads: each thread enters its own node network namespace (setns
    # is per thread), so the clusters never meet. They do share the CPUs.
    ex = concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs)
    try:
        return quiet_from_logs(a, list(ex.map(one, range(len(plan)))))
    except BaseException:
        procs.stop_all()    # Ctrl-C: end every run's processes, so its thread returns
        raise
    finally:
        ex.shutdown(wait=False, cancel_futures=True)


def _cell(r):
    failed = r["failed"] + r["incluster_failed"]
    req = r["requests"] + r["incluster_requests"]
    pct = 100.0 * failed / req if req else 0.0
    # How each Pod's wait ended; with the quiet it chose when that was not the shortest.
    ends = sorted({p["drain_end"] + (f" {p['quiet_s']:g}s"
                                     if p["drain_end"] == "quiet" and (p.get("quiet_s") or 0) > 2
                                     else "")
                   for p in r["pods"] if p.get("drain_end")})
    end = f" ({'/'.join(ends)})" if ends and r["config"] in ("defaults", "no-pooled",
                                                              "pooled-peer") else ""
    text = f"**{failed}** ({pct:.1f} %)" if failed else "0"
    return f"{text} · {r['max_per_pod_s']:.1f} s{end}"


def pod_within(a, r, p):
    """A Pod's drain within lag + the quiet it chose + 1 s, or within --max-delay + 1 s
    where it chose the cap (a rate too low to learn)."""
    took = p["exited"] - p["sigterm"]
    q = p.get("quiet_s") or getattr(a, "quiet_default", None)
    if q is None:
        return None
    if q >= a.max_delay:
        return took <= a.max_delay + 1
    return took <= r["lag"] + q + 1


def goal(a, r):
    """The issues' goal for lameduck's defaults: no failed request and every Pod's drain
    within lag + its quiet + 1 s (or --max-delay + 1 s, see pod_within)."""
    within = [pod_within(a, r, p) for p in r["pods"]]
    if not within or any(w is None for w in within):
        return None
    return r["failed"] + r["incluster_failed"] == 0 and all(within)


def table(a, results):
    lags = sorted({r["lag"] for r in results})
    head = ["mode", "configuration"] + [f"lag {fmt_s(x)}" for x in lags]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    seen = []
    for r in results:
        key = (r["mode"], r["config"])
        if key not in seen:
            seen.append(key)
    for mode, config in seen:
        cells = []
        for lag in lags:
            r = next((x for x in results if (x["mode"], x["config"], x["lag"]) == (mode, config, lag)),
                     None)
            if r is None:
                cells.append("-")
                continue
            c = _cell(r)
            g = goal(a, r) if config in GOAL_CONFIGS else None
            cells.append(c if g is None else f"{c} {'✓' if g else '✗'}")
        label = next(x["label"] for x in results if (x["mode"], x["config"]) == (mode, config))
        lines.append(f"| {SHORT_MODES[mode]} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_plot(a, results, out_dir, data_dir):
    gnuplot = find_gnuplot()
    if not gnuplot:
        return None
    modes = [m for m in MODES if any(r["mode"] == m for r in results)]
    configs = [c for c in SWEEP_CONFIGS if any(r["config"] == c for r in results)]
    lags = sorted({r["lag"] for r in results})
    parts = []
    n = len(modes)
    q = getattr(a, "quiet_default", None)
    for i, mode in enumerate(modes):
        plots_fail, plots_time = [], []
        for c in configs:
            rs = sorted((r for r in results if r["mode"] == mode and r["config"] == c),
                        key=lambda r: r["lag"])
            if not rs:
                continue
            dat = os.path.join(data_dir, f"sweep-{mode}-{c}.dat")
            with open(dat, "w") as f:
                f.write("# lag failed_pct per_pod_max per_pod_mean\n")
                for r in rs:
                    req = r["requests"] + r["incluster_requests"]
                    failed = r["failed"] + r["incluster_failed"]
                    f.write(f"{r['lag']} {100.0 * failed / req if req else 0:.3f} "
                            f"{r['max_per_pod_s']} {r['mean_per_pod_s']}\n")
            label = describe(c, a).replace("_", "\\\\_")
            style = f"with linespoints lw 2 pt 7 ps 1.2 lc rgb '{COLORS[c]}'"
            plots_fail.append(f"'{dat}' using 1:2 {style} title '{label}'")
            plots_time.append(f"'{dat}' using 1:3 {style} notitle")
        if q is not None:
            plots_time.append(f"x + {q + 1:g} with lines dt 2 lw 1.5 lc rgb '#000000' "
                              f"title 'goal: lag + quiet ({fmt_s(q)}) + 1 s'")
        top = 0.975 - i * 0.86 / n
        bottom = 0.975 - (i + 1) * 0.86 / n
        common = [f"set tmargin at screen {top - 0.04:.4f}",
                  f"set bmargin at screen {bottom + 0.035:.4f}",
                  f"set xrange [0:{max(lags) + 1:g}]", "set xtics (" +
                  ", ".join(f"'{fmt_s(x)}' {x:g}" for x in lags) + ")"]
        last = i == n - 1
        parts.append("\n".join([
            *common, "set lmargin at screen 0.07", "set rmargin at screen 0.48",
            f"set title \"{MODE_LABELS[mode]}: failed requests\" font ',11'",
            "set ylabel 'failed requests (%)'", "set yrange [0:*]",
            "set xlabel 'load balancer lag' offset 0,0.5" if last else "unset xlabel",
            ("set key at screen 0.42,screen 0.01 center bottom vertical maxrows 3 "
             "samplen 2.5 font ',10'") if last else "unset key",
            "plot " + ", ".join(plots_fail)]))
        parts.append("\n".join([
            *common, "set lmargin at screen 0.56", "set rmargin at screen 0.98",
            f"set title \"{MODE_LABELS[mode]}: per-Pod drain (max)\" font ',11'",
            "set ylabel 'SIGTERM to exit (s)'", "set yrange [0:*]",
            "set xlabel 'load balancer lag' offset 0,0.5" if last else "unset xlabel",
            ("set key at screen 0.88,screen 0.01 center bottom samplen 2.5 "
             "font ',10'") if last and q is not None else "unset key",
            "plot " + ", ".join(plots_time)]))
    png = os.path.join(out_dir, "sweep.png")
    script = "\n".join([
        f"set terminal pngcairo size 1300,{300 * n + 120} font 'sans,10'",
        f"set output '{png}'", "set multiplot", "set grid lc rgb '#dddddd'",
        *parts, "unset multiplot"]) + "\n"
    return render(gnuplot, os.path.join(data_dir, "sweep.gp"), script, png)


def write_outputs(a, results, workdir, cmdline):
    os.makedirs(a.out, exist_ok=True)
    data_dir = os.path.join(workdir, "plot")
    os.makedirs(data_dir, exist_ok=True)
    png = write_plot(a, results, a.out, data_dir) if a.plot else None
    q = getattr(a, "quiet_default", None)
    md = ["# lameduck demo: the lag sweep", "",
          f"`{cmdline}` — {a.pods} Pods rolled one by one per run, {a.rate:g} requests/s "
          f"through HAProxy, in-cluster clients {a.incluster_rate or INCLUSTER_RATE:g} "
          f"requests/s over {a.incluster_conns} keep-alive connections (mode incluster), "
          f"kubelet probes every {a.probe_period:g} s from the node's IP, a loopback sidecar "
          f"({a.sidecar_rate:g} requests/s) in every Pod, grace period {a.grace:g} s.", ""]
    if getattr(a, "versions", None):
        md += ["Versions: " + "; ".join(a.versions) + ".", ""]
    md += ["Modes: " + "; ".join(f"*{SHORT_MODES[m]}* – {MODE_LABELS[m]}" for m in MODES) + ".",
           "",
           "Each cell: failed requests (all clients) · the longest per-Pod drain (SIGTERM "
           "to exit); for lameduck's defaults also how the wait ended"
           + (" and ✓/✗ for the goal: 0 failed and every Pod within lag + the quiet it chose "
              f"(at least {fmt_s(q)}) + 1 s, or within --max-delay + 1 s where it chose that "
              "cap (a rate too low to learn)" if q is not None else "") + ".", "",
           table(a, results), ""]
    if png:
        md += [f"![failed requests and per-Pod drain time against the lag]"
               f"({os.path.basename(png)})", ""]
    md += ["## Every run", "",
           "| lag | mode | configuration | requests | failed | in-cluster requests | "
           "in-cluster failed | per Pod mean | max | wait ended by | probes / sidecar "
           "requests answered during the drains |", "|" + "---|" * 11]
    for r in results:
        ends = ", ".join(str(p.get("drain_end")) for p in r["pods"])
        md.append(f"| {fmt_s(r['lag'])} | {r['mode']} | {r['label']} | {r['requests']} | "
                  f"{r['failed']} | {r['incluster_requests']} | {r['incluster_failed']} | "
                  f"{r['mean_per_pod_s']:.1f} s | {r['max_per_pod_s']:.1f} s | "
                  f"{ends if r['config'] != 'none' else '-'} | "
                  f"{sum(p['probes_in_drain'] for p in r['pods'])} / "
                  f"{sum(p['sidecar_in_drain'] for p in r['pods'])} |")
    md.append("")
    logs = [r for r in results if r["config"] == "defaults"]
    for r in logs[:1] + [x for x in logs if x["mode"] == "incluster"][:1]:
        p = r["pods"][0]
        md += [f"Log of {p['name']} ({fmt_s(r['lag'])}, {r['mode']}):", "", "```",
               p["log"].rstrip(), "```", ""]
    path = os.path.join(a.out, "sweep.md")
    with open(path, "w") as f:
        f.write("\n".join(md))
    summary = {"params": {"pods": a.pods, "rate": a.rate, "lags": a.lags, "modes": a.modes,
                          "settle": a.settle, "delay": a.delay, "quiet_default": q},
               "results": [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]}
    for p in filter(None, [os.path.join(a.out, "sweep.json"), a.json]):
        with open(p, "w") as f:
            json.dump(summary, f, indent=2)
    return path, png
