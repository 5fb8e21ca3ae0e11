# SPDX-License-Identifier: Apache-2.0
"""The demo's output: the table, results.md, rollout.png (gnuplot) and summary.json."""

import json
import os
import shutil
import subprocess

from procs import log


def table(results):
    incluster = any(r.get("incluster_rate") for r in results)
    head = ["configuration", "requests", "failed"]
    if incluster:
        head += ["in-cluster requests", "in-cluster failed"]
    head += ["rollout", "per pod (SIGTERM to exit)"]
    lines = []
    for r in results:
        pct = 100.0 * r["failed"] / r["requests"] if r["requests"] else 0.0
        line = [r["label"], str(r["requests"]), f"{r['failed']} ({pct:.1f}%)"]
        if incluster:
            n, f = r.get("incluster_requests", 0), r.get("incluster_failed", 0)
            line += [str(n), f"{f} ({100.0 * f / n if n else 0.0:.1f}%)"]
        line += [f"{r['rollout_s']:.1f} s",
                 f"{r['mean_per_pod_s']:.1f} s (max {r['max_per_pod_s']:.1f} s)"]
        lines.append(line)
    widths = [max(len(head[i]), *(len(l[i]) for l in lines)) for i in range(len(head))]

    def row(cells):
        return "| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                 for i, c in enumerate(cells)) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ("-" if i == 0 else ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([row(head), sep] + [row(l) for l in lines])


def find_gnuplot():
    """gnuplot's path, or None (said once in the log: the plots are optional)."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        log("gnuplot not found: no plot (apt-get install gnuplot-nox)")
    return gnuplot


def render(gnuplot, gp, script, png):
    """Runs gnuplot's ``script`` (kept in ``gp``); ``png`` if it drew it, else None."""
    with open(gp, "w") as f:
        f.write(script)
    r = subprocess.run([gnuplot, gp], capture_output=True, text=True)
    if r.returncode != 0:
        log(f"gnuplot failed: {r.stderr.strip()}")
        return None
    return png


def write_plot(results, out_dir, bin_s, data_dir, rate):
    """rollout.png: one panel per configuration, requests per second over time."""
    gnuplot = find_gnuplot()
    if not gnuplot:
        return None
    n = len(results)
    key_h = 0.06                  # screen fraction kept free at the bottom for the key
    parts = []
    for i, r in enumerate(results):
        rows = r["_rows"]
        t_end = rows[-1][0] if rows else r["load_s"]
        nb = max(1, int(t_end / bin_s))          # whole bins only
        ok, bad = [0] * nb, [0] * nb
        for t, status in rows:
            b = int(t / bin_s)
            if 0 <= b < nb:
                if 200 <= status < 300:
                    ok[b] += 1
                else:
                    bad[b] += 1
        dat = os.path.join(data_dir, f"bins-{r['config']}.dat")
        with open(dat, "w") as f:
            f.write("# bin_start bin_middle ok_per_s failed_per_s\n")
            for b in range(nb + 1):
                k = min(b, nb - 1)   # the last line closes the last step
                f.write(f"{b * bin_s:.3f} {(b + 0.5) * bin_s:.3f} "
                        f"{ok[k] / bin_s:.1f} {bad[k] / bin_s:.1f}\n")
        marks = [f"set object 1 rect from {r['roll_start']},graph 0 to {r['roll_end']},graph 1 "
                 "fc rgb '#fff3c4' fs solid 1.0 noborder behind"]
        for p in r["pods"]:
            marks.append(f"set arrow from {p['sigterm']},graph 0 to {p['sigterm']},graph 1 "
                         "nohead dt 2 lw 1.5 lc rgb '#555555' front")
            if p["lb_removed"] is not None:
                marks.append(f"set arrow from {p['lb_removed']},graph 0 to {p['lb_removed']},graph 1 "
                             "nohead dt 3 lw 2.5 lc rgb '#1f5fbf' front")
            marks.append(f"set arrow from {p['exited']},graph 0 to {p['exited']},graph 1 "
                         "nohead lw 1.5 lc rgb '#e08000' front")
        title = (f"{r['label']}: {r['requests']} requests, {r['failed']} failed, "
                 f"rollout {r['rollout_s']:.1f} s")
        top = 1.0 - i * (1.0 - key_h) / n
        bottom = 1.0 - (i + 1) * (1.0 - key_h) / n
        last = i == n - 1
        parts.append("\n".join([
            "unset arrow", "unset object",
            *marks,
            f"set tmargin at screen {top - 0.045:.4f}",
            f"set bmargin at screen {bottom + 0.05:.4f}",
            f"set xrange [0:{t_end:.2f}]",
            f"set title \"{title}\" font ',11'",
            "set xlabel 'seconds since traffic started' offset 0,0.5" if last else "unset xlabel",
            ("set key at screen 0.5,screen 0.012 center bottom horizontal maxcols 6 "
             "samplen 2.5 width 1 font ',10'") if last else "unset key",
            f"plot '{dat}' using 1:3 with steps lw 2 lc rgb '#2a9d3a' title 'succeeded /s', "
            f"'' every ::0::{nb - 1} using 2:4 with boxes fs solid 0.85 noborder lc rgb '#d62728' title 'failed /s', "
            "NaN with filledcurves y1=0 fc rgb '#fff3c4' title 'rollout', "
            "NaN with lines dt 2 lw 1.5 lc rgb '#555555' title 'SIGTERM (kubelet)', "
            "NaN with lines dt 3 lw 2.5 lc rgb '#1f5fbf' title 'HAProxy stops routing to the Pod', "
            "NaN with lines lw 1.5 lc rgb '#e08000' title 'Pod exited'",
        ]))
    png = os.path.join(out_dir, "rollout.png")
    script = "\n".join([
        f"set terminal pngcairo size 1200,{280 * n + 60} font 'sans,10'",
        f"set output '{png}'",
        "set multiplot",
        "set lmargin at screen 0.07", "set rmargin at screen 0.98",
        f"set yrange [0:{rate * 1.4:.0f}]",
        "set ylabel 'requests per second'",
        f"set boxwidth {bin_s} absolute",
        "set grid ytics lc rgb '#dddddd'",
        *parts,
        "unset multiplot",
    ]) + "\n"
    return render(gnuplot, os.path.join(data_dir, "rollout.gp"), script, png)


def write_markdown(args, results, out_dir, png, cmdline):
    mode = {"newconn": "a new connection per request",
            "pool": "a warm keep-alive pool"}.get(getattr(args, "lb_mode", None), "")
    setup = [f"{args.pods} Pods rolled one by one",
             f"{args.rate:g} requests/s through HAProxy" + (f" ({mode} to the Pods)" if mode else ""),
             f"load balancer lag {args.lag:g} s"]
    if getattr(args, "incluster_rate", 0):
        setup.append(f"in-cluster clients {args.incluster_rate:g} requests/s over "
                     f"{args.incluster_conns} keep-alive connections, bypassing HAProxy")
    if getattr(args, "probe_period", None):
        setup.append(f"kubelet probes every {args.probe_period:g} s from the node's IP")
    if getattr(args, "sidecar_rate", 0):
        setup.append(f"a loopback sidecar in every Pod ({args.sidecar_rate:g} requests/s)")
    if getattr(args, "endpoint_delay", 0):
        setup.append(f"EndpointSlice updated {args.endpoint_delay:g} s after the Pod's deletion")
    setup += [f"{args.work_ms:g} ms per request", f"grace period {args.grace:g} s"]
    if not args.pidns:
        setup.append("no PID namespaces")
    md = ["# lameduck demo: a rolling update behind HAProxy", "",
          f"`{cmdline}` — " + ", ".join(setup) + ".", ""]
    if getattr(args, "versions", None):
        md += ["Versions: " + "; ".join(args.versions) + ".", ""]
    md += [table(results), ""]
    if png:
        md += [f"![requests over time]({os.path.basename(png)})", "",
               "Green: successful requests per second; red: failed requests per second; "
               "yellow: the rollout. Grey dashed: the kubelet marks a Pod terminating and "
               "sends SIGTERM; blue dotted: HAProxy stops routing to that Pod; orange: the "
               "Pod has exited.", ""]
    md += ["## Per configuration", ""]
    for r in results:
        md += [f"### {r['label']}", ""]
        kinds = ", ".join(f"{v} × {k}" for k, v in sorted(r["failures_by_kind"].items())) or "none"
        md += [f"- requests {r['requests']}, failed {r['failed']} ({kinds})"]
        if r["failed"]:
            md += [f"- failures between t={r['first_failure']:.2f} s and t={r['last_failure']:.2f} s"]
        md += [f"- rollout {r['rollout_s']:.1f} s (t={r['roll_start']:.1f} to {r['roll_end']:.1f} s)"]
        if r.get("incluster_rate"):
            md += [f"- in-cluster clients: requests {r['incluster_requests']}, failed "
                   f"{r['incluster_failed']}"]
        if r["config"] in ("endpoints", "defaults", "no-pooled"):
            md += [f"- API requests made by lameduck: {r['lameduck_api_requests']}"
                   + ("" if r["lameduck_api_requests"] else " — **this lameduck does not wait "
                      "on EndpointSlices** (it ignored --wait-endpoints)")]
        md += ["", "| pod | SIGTERM | slice says terminating | HAProxy stops routing | exited | "
                   "exit status | wait ended by | kubelet probes / sidecar requests answered "
                   "during the drain |", "|---|---:|---:|---:|---:|---|---|---:|"]
        for p in r["pods"]:
            def at(t):
                return f"{t:.2f} s" if t is not None else "-"
            md += [f"| {p['name']} ({p['ip']}) | {at(p['sigterm'])} | {at(p['slice_terminating'])} | "
                   f"{at(p['lb_removed'])} | {at(p['exited'])} | "
                   f"{p['exit_code']}{' (SIGKILL)' if p['sigkilled'] else ''} | "
                   f"{p.get('drain_end') or '-'} | {p.get('probes_in_drain', '-')} / "
                   f"{p.get('sidecar_in_drain', '-')} |"]
        md += [""]
        if r["config"] != "none" and r["pods"] and r["pods"][0]["log"].strip():
            md += [f"Log of {r['pods'][0]['name']} (lameduck on stderr, then the app):", "", "```",
                   r["pods"][0]["log"].rstrip(), "```", ""]
    path = os.path.join(out_dir, "results.md")
    with open(path, "w") as f:
        f.write("\n".join(md))
    return path



def write_outputs(a, results, workdir, cmdline):
    os.makedirs(a.out, exist_ok=True)
    data_dir = os.path.join(workdir, "plot")
    os.makedirs(data_dir, exist_ok=True)
    png = write_plot(results, a.out, a.bin, data_dir, a.rate) if a.plot else None
    md = write_markdown(a, results, a.out, png, cmdline)
    summary = {"params": {"pods": a.pods, "rate": a.rate, "lag": a.lag, "settle": a.settle,
                          "delay": a.delay, "pidns": a.pidns},
               "results": [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]}
    for path in filter(None, [os.path.join(a.out, "summary.json"), a.json]):
        with open(path, "w") as f:
            json.dump(summary, f, indent=2)
    return md, png


