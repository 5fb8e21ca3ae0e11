#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What a rollout's drains cost the API server (issue 12), measured against the fake API.

    cd bench && nice python3 scale.py [--lameduck ../build-static/lameduck]
                                      [--sigecho ../build-static/tests/sigecho]

One fake API server (tests/fakeapi) holds a namespace of N Services: every fifth one has
200 Pods in two EndpointSlices of 100, the others 10 Pods in one slice (N = 50: 60 slices,
2,400 endpoints). For each scale (N, then 2N: the added Services have the same shape) and
each watch mode (the narrow watch, then --debug-watch-namespace, the watch of the whole
namespace), one round:

1. the namespace is reset; --drains lameduck processes start (plain mode, not PID 1, each
   with sigecho as its child and its own bearer token, so the fake API counts per drain),
   each with the --pod-ip of its own Pod; the Pods are spread over the big Services of the
   first N (10 per slice): the same Pods, slices and Services at N and 2N;
2. all get SIGTERM at once; the round waits until every drain's watch is open;
3. churn: every slice of every Service that holds no draining Pod is updated once (one
   endpoint flips ready), and the round waits until the fake API has sent what it had to;
4. the draining Pods' endpoints are marked terminating, --batch Pods of one slice per
   update (the endpoint controller writes a slice once for the Pods that changed since its
   last sync; 1 = one update per Pod), slices interleaved;
5. every drain must end correctly: its child got exactly one SIGTERM, from lameduck, at
   least --settle after the update that marked its Pod terminating (never before); the
   child exits 7 and lameduck exits 7; no fallback to --delay (300s) on the way.

The per-drain figures come from the fake API's own accounting (GET /stats: requests,
bytes it wrote for lists and for watches, watch events, per bearer token) and its peak of
open TLS connections. The table goes to stdout (markdown) and --json FILE. --smoke is a
tiny variant (20 drains, 10 Services) for a quick check.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _repo
from fakeapi.harness import FakeApi
from fakeapi.slices import endpoint, terminating
from fakeapi.slices import slice as make_slice
from support.wait import wait_for

ROOT = _repo.ROOT

BIG_EVERY = 5        # every fifth Service is big
BIG_PODS = 200       # in slices of SLICE_SIZE
SMALL_PODS = 10
SLICE_SIZE = 100
CHILD_EXIT = 7
FALLBACK = "falling back to --delay"


# ---- the namespace ------------------------------------------------------------------

def service_name(i):
    return f"svc{i:03d}"


def pod_ip(i, j):
    return f"10.{100 + i // 200}.{i % 200}.{j + 1}" if j < 250 else None


def pod_name(i, j):
    return f"{service_name(i)}-7d9f8c6b5-{j:05d}"


def namespace_plan(services):
    """{slice name: (service index, [pod indexes])}: big Services in slices of 100."""
    plan = {}
    for i in range(services):
        pods = BIG_PODS if i % BIG_EVERY == 0 else SMALL_PODS
        for s in range(0, pods, SLICE_SIZE):
            plan[f"{service_name(i)}-{s // SLICE_SIZE:x}x9k2"] = \
                (i, list(range(s, min(pods, s + SLICE_SIZE))))
    return plan


def build_slice(name, i, pods, terminated=frozenset(), flipped=frozenset()):
    eps = []
    for j in pods:
        kw = {"pod": pod_name(i, j), "node": f"node-{(i * 7 + j) % 40}",
              "zone": f"zone-{'abc'[j % 3]}"}
        if j in terminated:
            eps.append(terminating(pod_ip(i, j), **kw))
        else:
            eps.append(endpoint(pod_ip(i, j), ready=j not in flipped, **kw))
    return make_slice(name, service_name(i), eps)


def draining_pods(base_services, drains):
    """[(slice name, service, pod)]: ``drains`` Pods spread evenly over the big Services'
    slices of the base namespace."""
    big = [(n, i, pods) for n, (i, pods) in namespace_plan(base_services).items()
           if i % BIG_EVERY == 0]
    per_slice = -(-drains // len(big))
    if per_slice > SLICE_SIZE:
        raise SystemExit(f"{drains} drains do not fit in {len(big)} slices")
    out = []
    for k in range(per_slice):
        for n, i, pods in big:
            if len(out) < drains and k < len(pods):
                out.append((n, i, pods[k]))
    return out


# ---- one round ----------------------------------------------------------------------

def read_sigecho(path):
    """(ready?, [(t, signal name, sender)], exit code or None) from a sigecho log."""
    ready, sigs, code = False, [], None
    try:
        text = Path(path).read_text()
    except OSError:
        return ready, sigs, code
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        if parts[1] == "ready":
            ready = True
        elif parts[1] == "signal":
            sender = next((int(p[5:]) for p in parts if p.startswith("from=")), None)
            sigs.append((float(parts[0]), parts[2], sender))
        elif parts[1] == "exit" and parts[2].lstrip("-").isdigit():
            code = int(parts[2])
    return ready, sigs, code


MODES = {"narrow": "narrow watch", "wide": "--debug-watch-namespace",
         "service": "narrow, --service"}


def run_round(api, args, work, services, mode):
    tag = f"{mode}-{services}"
    rdir = work / tag
    rdir.mkdir()
    plan = namespace_plan(services)
    drained = draining_pods(args.services, args.drains)
    by_slice = {}
    for n, i, j in drained:
        by_slice.setdefault(n, []).append(j)
    holding = {plan[n][0] for n in by_slice}

    api.set_slices([build_slice(n, i, pods) for n, (i, pods) in plan.items()])
    tokens = [f"scale-{tag}-{k:04d}" for k in range(len(drained))]
    api.set_tokens(tokens)
    api.clear_requests()
    api.reset_stats()

    # Nothing that changes lameduck's defaults (ASAN_OPTIONS and the like pass through).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAMEDUCK_", "KUBERNETES_", "POD_"))}
    procs = []
    for k, (n, i, j) in enumerate(drained):
        tok = rdir / f"token-{k}"
        tok.write_text(tokens[k])
        echo_log = rdir / f"child-{k}.log"
        argv = [args.lameduck, "--api-server", api.url, "--token-file", str(tok),
                "--ca-file", api.ca_file, "--namespace", "default",
                "--pod-ip", pod_ip(i, j), "--pod-name", pod_name(i, j),
                "--no-wait-traffic", "--settle", f"{int(args.settle * 1000)}ms",
                "--delay", "300s", "--max-delay", "600s"]
        if mode == "wide":
            argv.append("--debug-watch-namespace")
        elif mode == "service":
            argv += ["--service", service_name(i)]  # the list is narrowed by label too
        argv += ["--", args.sigecho, "--log", str(echo_log), "--exit-on", f"TERM:{CHILD_EXIT}"]
        with open(rdir / f"lameduck-{k}.log", "wb") as err:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                 env=env)
        procs.append((p, echo_log))
    wait_for(lambda: all(read_sigecho(e)[0] for _, e in procs), 60, 0.2,
             message="every child ready")

    t_term = time.monotonic()
    for p, _ in procs:
        p.send_signal(signal.SIGTERM)

    def watching():
        reqs = api.requests()
        return len({r["token"] for r in reqs if r["watch"] and r["status"] == 200
                    and r["token"] in tokens}) == len(tokens)
    wait_for(watching, 120, 0.2, message="every drain's watch")
    t_watching = time.monotonic()

    def settled_events():
        """Wait until the fake API stops sending (the watchers took what it had)."""
        last, since = -1, time.monotonic()
        while time.monotonic() - since < 1.0:
            n = sum(r["events"] for r in api.requests())
            if n != last:
                last, since = n, time.monotonic()
            time.sleep(0.2)

    # Churn in the Services that hold no draining Pod.
    churned = 0
    for n, (i, pods) in plan.items():
        if i not in holding:
            api.upsert(build_slice(n, i, pods, flipped={pods[churned % len(pods)]}))
            churned += 1
    settled_events()

    # Terminate the draining Pods' endpoints, --batch Pods of a slice per update.
    gone_at = {}   # (slice, pod) -> monotonic time just before the update
    done = {n: set() for n in by_slice}
    updates = 0
    rounds = -(-max(len(v) for v in by_slice.values()) // args.batch)
    for r in range(rounds):
        for n, js in by_slice.items():
            batch = js[r * args.batch:(r + 1) * args.batch]
            if not batch:
                continue
            done[n].update(batch)
            i, pods = plan[n]
            t = time.monotonic()
            api.upsert(build_slice(n, i, pods, terminated=done[n]))
            updates += 1
            for j in batch:
                gone_at[(n, j)] = t
            if args.pause:
                time.sleep(args.pause)

    results = []
    deadline = time.monotonic() + 180
    for p, _ in procs:
        try:
            results.append(p.wait(timeout=max(1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            results.append(None)
    t_end = time.monotonic()
    for p, _ in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    stats = api.stats()

    # Every drain ended correctly?
    failures, lags = [], []
    for k, ((p, echo_log), (n, i, j)) in enumerate(zip(procs, drained)):
        _, sigs, code = read_sigecho(echo_log)
        stderr = (rdir / f"lameduck-{k}.log").read_text(errors="replace")
        terms = [s for s in sigs if s[1] in ("SIGTERM", "TERM")]
        why = None
        if results[k] != CHILD_EXIT:
            why = f"lameduck exit {results[k]}"
        elif code != CHILD_EXIT:
            why = f"child exit {code}"
        elif len(sigs) != 1 or len(terms) != 1:
            why = f"child signals {sigs}"
        elif terms[0][2] != p.pid:
            why = f"SIGTERM from {terms[0][2]}, not lameduck {p.pid}"
        elif terms[0][0] < gone_at[(n, j)] + args.settle - 0.005:
            why = f"stop {terms[0][0] - gone_at[(n, j)]:.3f}s after its Pod left (too early)"
        elif FALLBACK in stderr:
            why = "fell back to --delay"
        if why:
            failures.append(f"drain {k} ({pod_ip(i, j)}): {why}\n{stderr[-1500:]}")
        else:
            lags.append(terms[0][0] - gone_at[(n, j)])

    clients = [stats["clients"].get(t) for t in tokens]
    clients = [c for c in clients if c]

    def per_drain(key):
        vals = [c[key] for c in clients]
        return {"median": statistics.median(vals), "max": max(vals), "mean": statistics.mean(vals)}

    endpoints = sum(len(pods) for _, pods in plan.values())
    return {
        "mode": mode, "services": services, "slices": len(plan), "endpoints": endpoints,
        "drains": len(drained), "churn_updates": churned, "termination_updates": updates,
        "ok": len(drained) - len(failures), "failures": failures,
        "requests": per_drain("requests"), "lists": per_drain("lists"),
        "watches": per_drain("watches"), "list_bytes": per_drain("list_bytes"),
        "watch_bytes": per_drain("watch_bytes"), "events": per_drain("events"),
        "peak_connections": stats["connections"]["peak"],
        "client_peak_connections": max(c["connections"]["peak"] for c in clients),
        "stop_after_gone_s": {"median": statistics.median(lags) if lags else None,
                              "max": max(lags) if lags else None},
        "seconds": {"to_watching": round(t_watching - t_term, 2),
                    "total": round(t_end - t_term, 2)},
    }


# ---- report -------------------------------------------------------------------------

def kib(n):
    return f"{n / 1024:,.1f} KiB"


def report(rounds):
    def fmt_growth(key, mode, fmt):
        by = {r["services"]: r for r in rounds if r["mode"] == mode}
        n1, n2 = sorted(by)[:2] if len(by) >= 2 else (sorted(by)[0], None)
        a = by[n1][key]["median"] if isinstance(by[n1][key], dict) else by[n1][key]
        if n2 is None:
            return fmt(a), "", ""
        b = by[n2][key]["median"] if isinstance(by[n2][key], dict) else by[n2][key]
        return fmt(a), fmt(b), (f"×{b / a:.2f}" if a else ("×1.00" if not b else "∞"))

    rows = [("API requests per drain", "requests", lambda v: f"{v:g}"),
            ("bytes sent per drain, list", "list_bytes", kib),
            ("bytes sent per drain, watch", "watch_bytes", kib),
            ("watch events per drain", "events", lambda v: f"{v:g}"),
            ("peak open connections (server)", "peak_connections", lambda v: f"{v:g}")]
    modes = [m for m in MODES if any(r["mode"] == m for r in rounds)]
    sizes = sorted({r["services"] for r in rounds})
    out = []
    head = "| per drain (median) |"
    sep = "|---|"
    for m in modes:
        label = MODES[m]
        head += f" {label}, N | {label}, 2N | growth |"
        sep += "--:|--:|--:|"
    ratio = "narrow" in modes and "wide" in modes
    if ratio:
        head += " wide / narrow at 2N |"
        sep += "--:|"
    out += [head, sep]
    for label, key, fmt in rows:
        line = f"| {label} |"
        for m in modes:
            a, b, g = fmt_growth(key, m, fmt)
            line += f" {a} | {b} | {g} |"
        if ratio:
            def val(mode):
                r = [x for x in rounds if x["mode"] == mode and x["services"] == sizes[-1]][0]
                return r[key]["median"] if isinstance(r[key], dict) else r[key]
            n, w = val("narrow"), val("wide")
            line += f" {'×%.1f' % (w / n) if n else ('—' if not w else '∞')} |"
        out.append(line)
    out.append("")
    out.append("| round | Services / slices / endpoints | drains ok | churn + termination "
               "updates | requests max | watch bytes max | events max | stop after Pod left "
               "(median / max) | time to all watching / total |")
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for r in rounds:
        lag = r["stop_after_gone_s"]
        lag_s = (f"{lag['median']:.2f} s / {lag['max']:.2f} s" if lag["median"] is not None
                 else "—")
        out.append(f"| {r['mode']} | {r['services']} / {r['slices']} / {r['endpoints']:,} | "
                   f"{r['ok']}/{r['drains']} | {r['churn_updates']} + "
                   f"{r['termination_updates']} | {r['requests']['max']} | "
                   f"{kib(r['watch_bytes']['max'])} | {r['events']['max']} | {lag_s} | "
                   f"{r['seconds']['to_watching']} s / {r['seconds']['total']} s |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lameduck", default=str(ROOT / "build-static" / "lameduck"))
    p.add_argument("--sigecho", default=None,
                   help="default: build-static/sigecho_static, else build/tests/sigecho")
    p.add_argument("--drains", type=int, default=200)
    p.add_argument("--services", type=int, default=50, help="N (the second scale is 2N)")
    p.add_argument("--batch", type=int, default=5, help="draining Pods per slice update")
    p.add_argument("--pause", type=float, default=0.05, help="seconds between termination updates")
    p.add_argument("--settle", type=float, default=0.2)
    p.add_argument("--modes", default="narrow,wide",
                   help="of narrow, wide (--debug-watch-namespace), service (narrow + --service)")
    p.add_argument("--json", help="write the raw results here")
    p.add_argument("--smoke", action="store_true", help="20 drains, 10 Services")
    args = p.parse_args()
    if args.smoke:
        args.drains, args.services = 20, 10
    if args.sigecho is None:
        for c in (ROOT / "build-static" / "sigecho_static", ROOT / "build" / "tests" / "sigecho"):
            if c.exists():
                args.sigecho = str(c)
                break
    for b in (args.lameduck, args.sigecho):
        if not b or not os.access(b, os.X_OK):
            raise SystemExit(f"not executable: {b}")

    rounds = []
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp, \
            FakeApi(dir=os.path.join(tmp, "api"), quiet=True) as api:
        for services in (args.services, 2 * args.services):
            for mode in args.modes.split(","):
                t0 = time.monotonic()
                if mode not in MODES:
                    raise SystemExit(f"unknown mode {mode}")
                r = run_round(api, args, Path(tmp), services, mode)
                rounds.append(r)
                print(f"# {mode} N={services}: {r['ok']}/{r['drains']} ok in "
                      f"{time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
                for f in r["failures"][:5]:
                    print(f, file=sys.stderr)
    print(f"lameduck: {args.lameduck}; {args.drains} drains; N = {args.services} Services; "
          f"batch {args.batch}\n")
    print(report(rounds))
    if args.json:
        Path(args.json).write_text(json.dumps(rounds, indent=2) + "\n")
    return 0 if all(not r["failures"] for r in rounds) else 1


if __name__ == "__main__":
    sys.exit(main())
