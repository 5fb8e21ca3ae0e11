# SPDX-License-Identifier: Apache-2.0
"""lameduck benchmarks, the reporting half: RESULTS.md from what measure.py measured.

``report`` puts together one function per section (header, results, drain precision,
targets, the reasons for every missed one, details, observations); ``summarize``
computes the medians and ratios they show. ``bench.py --report-from RAW.json`` rebuilds
the report from an earlier run's raw file.
"""

import statistics

from measure import REFERENCE, median

# The stripped size budget of the static binary, per architecture (scripts/check-static.sh).
SIZE_BUDGET = 2_000_000  # issue 21: "at most 2.0 MB"

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


def vs_best_lower(rounds, name, key, peers):
    """(ratio, peer) for a figure where lower is better (time, memory): `name` against
    each peer -- per-round ratio, median over rounds -- and the highest of those, i.e.
    the comparison with the strongest peer."""
    meds = {p: median(ratio_rounds(rounds, name, key, ref=p)) for p in peers}
    meds = {p: v for p, v in meds.items() if v is not None}
    if not meds:
        return None, None
    p = max(meds, key=meds.get)
    return meds[p], p


def best_peer_rows(inits, s, res):
    """(figure, lameduck's value, best peer and its value, ratio, verdict) for the first
    lameduck build with figures (the static one when it was built): every figure an
    init is compared on, against the strongest peer of this run."""
    peers = [i.name for i in inits if not i.lameduck]
    lds = [i.name for i in inits if i.lameduck and s.get(i.name)]
    if not lds:
        return None, []
    n = lds[0]
    d = s[n]
    rows = []
    sizes = res.get("sizes", {})
    if n in sizes:
        static = [p for p in peers if not sizes[p].get("shared_libs")]
        if static:
            p = min(static, key=lambda x: sizes[x]["bytes"])
            b = sizes[n]["bytes"]
            rows.append(("stripped size (static peers)", f"{b:,} B",
                         f"{p} {sizes[p]['bytes']:,} B", f"{b / sizes[p]['bytes']:.2f}×",
                         f"budget {SIZE_BUDGET:,} B: " + verdict(b <= SIZE_BUDGET)))
    if "idle" in res and d.get("rss"):
        r, p = vs_best_lower(res["idle"], n, "rss_kib", peers)
        if r is not None:
            rows.append(("idle RSS", f"{fmt_int(d['rss'])} KiB", f"{p} {fmt_int(s[p]['rss'])} KiB",
                         f"{r:.2f}×", "≤ 1.1× tini-static: " + verdict(d["rss_ratio"] <= 1.1)))
    if "startup" in res and d.get("start"):
        ok = [r for r in res["startup"] if "error" not in r]
        r, p = vs_best_lower(ok, n, "median_s", peers)
        if r is not None:
            rows.append(("`INIT -- /bin/true` start-up", f"{d['start'] * 1e6:,.0f} µs",
                         f"{p} {s[p]['start'] * 1e6:,.0f} µs", f"{r:.2f}×",
                         f"≤ 1.0× tini-static ({d['start_ratio']:.2f}×): "
                         + verdict(d["start_ratio"] <= 1.0)))
    if d.get("sig_vs_best") is not None:
        p = d["sig_best"]
        rows.append(("signals forwarded per second", fmt_int(d["sig_rate"]),
                     f"{p} {fmt_int(s[p]['sig_rate'])}", f"{d['sig_vs_best']:.2f}×",
                     "≥ 1.0× best peer: " + verdict(d["sig_vs_best"] >= 1.0)))
    if d.get("reap_vs_best") is not None:
        p = d["reap_best"]
        rows.append(("orphans reaped per second", fmt_int(d["reap_rate"]),
                     f"{p} {fmt_int(s[p]['reap_rate'])}", f"{d['reap_vs_best']:.2f}×",
                     "≥ 1.0× best peer: " + verdict(d["reap_vs_best"] >= 1.0)))
    return n, rows


def best_peer_section(inits, s, res):
    n, rows = best_peer_rows(inits, s, res)
    if not rows:
        return []
    L = ["## Against the best peer", "",
         f"{n} against the strongest peer of this run for each figure. The ratio is taken "
         "per round against each peer (same round, same machine state), the median over "
         "the rounds, and the peer it is worst against is shown; for size it is the bytes "
         "against the smallest statically linked peer (a dynamic peer's size leaves out "
         "its libc). Ratios above 1 are worse for size, RSS and time, better for rates.",
         "", f"| figure | {n} | best peer | ratio | target |", "|---|--:|--:|--:|---|"]
    L += [f"| {a} | {b} | {c} | {r} | {t} |" for a, b, c, r, t in rows]
    L.append("")
    yard = peer_yardstick(inits, res)
    if yard:
        L += ["For scale, the same comparison made for each peer against the other peers: "
              "what an init no faster or slower than the others scores against the strongest "
              "of them, given the noise (the worst of several noisy medians falls below 1 "
              "by chance). "
              + "; ".join(yard) + ".", ""]
    return L


def peer_yardstick(inits, res):
    """Per rate figure, each peer's ratio against the strongest of the other peers."""
    peers = [i.name for i in inits if not i.lameduck]
    out = []
    for key, what in (("signals", "signals/s"), ("reap", "reaps/s")):
        if not res.get(key):
            continue
        cells = []
        for p in peers:
            r, best = vs_best(res[key], p, "per_s", [q for q in peers if q != p])
            if r is not None:
                cells.append(f"{p} {r:.2f}× ({best})")
        if cells:
            out.append(f"{what}: " + ", ".join(cells))
    return out


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
            pss = [x for x in per_round(res["idle"], n, "pss_kib") if x is not None]
            d["pss"] = median(pss) if pss else None
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
        if res.get("signals_root"):
            d["sig_root_rate"] = median(per_round(res["signals_root"], n, "per_s"))
            d["sig_root_vs_best"], d["sig_root_best"] = vs_best(res["signals_root"], n, "per_s", peers)
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
    for init in inits:
        d = res.get("drain", {}).get(init.name)
        st = drain_stats(d) if init.lameduck and d and d["status"] == "ok" else None
        if st:
            s[init.name]["drain_median"] = statistics.median(st["lat"])
            s[init.name]["drain_reqs"] = (st["lists"], st["watches"])
    return s


def drain_stats(d):
    """One build's drains (status ok): the good ones' latencies (sorted), p90, request
    and exit-status sets; None when every drain failed."""
    good = [x for x in d["drains"] if "error" not in x]
    lat = sorted(x["latency_ms"] for x in good)
    if not lat:
        return None
    return {"good": len(good), "bad": len(d["drains"]) - len(good), "lat": lat,
            "p90": lat[min(len(lat) - 1, int(0.9 * (len(lat) - 1) + 0.5))],
            "lists": sorted({x["lists"] for x in good}),
            "watches": sorted({x["watches"] for x in good}),
            "exits": sorted({x["lameduck_exit"] for x in good})}


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
        out += miss_rss(n, d, ref, sizes, libs, dyn)
        if d.get("wakeups_max"):
            out.append(f"{n} woke up while idle: {d['wakeups_max']:.1f} context switches per "
                       "minute at worst (target 0) — a bug: see the raw idle data.")
        out += miss_startup(n, d, ref, libs, dyn)
        for key, what, cpu, unit in (("sig", "signal", "sig_cpu", "signal"),
                                     ("reap", "reaping", "reap_cpu", "reaped orphan")):
            out += miss_throughput(n, d, s, res, peers, key, what, cpu, unit)
        out += bugs(n, d)
    return out


def miss_rss(n, d, ref, sizes, libs, dyn):
    if d.get("rss_ratio") is None or d["rss_ratio"] <= 1.1:
        return []
    return [
        f"{n}, idle RSS {d['rss_ratio']:.2f}× tini-static: VmRSS {fmt_int(d['rss'])} KiB vs "
        f"{fmt_int(ref['rss'])} KiB, of which private (RssAnon) {fmt_int(d['rss_anon'])} vs "
        f"{fmt_int(ref['rss_anon'])} KiB and file-backed (RssFile: page-cache pages of the "
        f"executable and its libraries, shared, not private memory) {fmt_int(d['rss_file'])} vs "
        f"{fmt_int(ref['rss_file'])} KiB."
        + (dyn + "; their mapped pages count in VmRSS." if libs else
           f" RssFile follows the executable's size ({sizes[n]['bytes'] / 1024:,.0f} KiB "
           f"stripped vs {sizes[REFERENCE]['bytes'] / 1024:,.0f} KiB): the kernel maps "
           f"the page-cache pages around each page fault, so most of a static binary "
           f"ends up resident." if n in sizes and REFERENCE in sizes else "")]


def miss_startup(n, d, ref, libs, dyn):
    if d.get("start_ratio") is None or d["start_ratio"] <= 1.0:
        return []
    return [
        f"{n}, start-up {d['start_ratio']:.2f}× tini-static: {d['start_over_true'] * 1e6:,.0f} µs "
        f"above a bare `/bin/true` vs {ref['start_over_true'] * 1e6:,.0f} µs; CPU per run "
        f"{d['start_cpu'] * 1e3:.2f} ms vs {ref['start_cpu'] * 1e3:.2f} ms "
        f"({d['start_cpu_ratio']:.2f}×)."
        + (dyn + "; the dynamic loader maps and relocates them on every start." if libs else "")]


def miss_throughput(n, d, s, res, peers, key, what, cpu, unit):
    """Signal (key "sig") or reaping ("reap") throughput below the strongest peer's."""
    vs = d.get(f"{key}_vs_best")
    if vs is None or vs >= 1.0:
        return []
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
    return [f"{n}, {what} throughput {vs:.2f}× {best} in the same rounds "
            f"(median {fmt_int(rate)}/s vs {fmt_int(brate)}/s).{cpu_txt}{spread_txt}"]


def bugs(n, d):
    """Lost signals, zombies, a slow drain or extra API requests."""
    out = []
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


def report(inits, missing, res, env, wall_s, cfg):
    """RESULTS.md's text and the summary (per init: the medians and ratios shown)."""
    s = summarize(inits, res)
    names = [i.name for i in inits]
    lines = [*header_section(names, missing, env, wall_s, cfg),
             *best_peer_section(inits, s, res),
             *results_section(names, s, missing, cfg),
             *drain_section(inits, missing, res),
             *traffic_section(res),
             *drain_memory_section(res),
             *targets_section(inits, s, res),
             *misses_section(inits, s, res),
             *details_section(inits, s, res),
             *observations_section(inits, s, res),
             "How each figure is measured: see [bench/README.md](README.md). Raw per-round data: "
             "`bench/results/raw/` (not committed).",
             ""]
    return "\n".join(lines), s


def header_section(names, missing, env, wall_s, cfg):
    L = []
    w = L.append
    w("# lameduck benchmarks")
    w("")
    w("<!-- generated by bench/run.sh (bench/bench.py); do not edit by hand -->")
    w("")
    w(f"* date: {env['date']}; the measurements took {wall_s / 60:.1f} min (builds not counted)"
      + (" (**BENCH_QUICK smoke run: fewer rounds, not for publishing**)" if cfg.get("quick") else ""))
    w(f"* machine: {env['cpu']}, {env['cores']} cores, {env['memory']}; kernel {env['kernel']}; "
      f"{env['os']}; load average at start {' '.join(env['loadavg_start'])}, "
      f"at end {' '.join(env.get('loadavg_end') or ['?'])}")
    w("* inits: " + "; ".join(f"{n}: {env['versions'].get(n, '?')}" for n in names)
      + (f"; lameduck built from {env['source']}" if env.get("source") else ""))
    for n, why in missing.items():
        w(f"* {n}: **not built** — {why}")
    w(f"* tools: {env['hyperfine']}, gcc {env['gcc']}; the bench and every init ran at nice "
      f"{env['nice']}")
    if env.get("cgroup"):
        w(f"* signals and reaping: each init ran as PID 1 of a new PID namespace in {env['cgroup']}")
    if env.get("orphans_setsid"):
        w("* **LDBENCH_ORPHANS_SETSID=1: the orphans ran in a session of their own** "
          "(a comparison run, not the standard measurement)")
    w(f"* rounds: idle {cfg['idle_rounds']}×{cfg['idle_seconds']:g} s; start-up "
      f"{cfg['start_rounds']}×{cfg['start_runs']} runs; signals {cfg['signal_rounds']}×"
      f"{cfg['signals']}; reaping {cfg['reap_rounds']}×{cfg['orphans']:,} orphans; "
      f"drain {cfg['drains']} drains")
    w("")
    w("Each figure is the median over the rounds; the ratio in parentheses is against "
      "tini-static, computed per round (same round, same machine state) and then the median. "
      "For size, RSS and time lower is better; for rates higher is better.")
    w("")
    return L


def results_section(names, s, missing, cfg):
    L = []
    w = L.append
    w("## Results")
    w("")
    ref_orph = f"{cfg['orphans']:,}"
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
    return L


def drain_section(inits, missing, res):
    L = []
    w = L.append
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
        st = drain_stats(d) if d and d["status"] == "ok" else None
        if not d:
            w(f"| {i.name} | n/a (not measured) | | | | | |")
        elif d["status"] != "ok":
            w(f"| {i.name} | n/a ({d['reason']}) | | | | | |")
        elif st is None:
            w(f"| {i.name} | every drain failed: {d['drains'][0].get('error')} | | | | | |")
        else:
            lat = st["lat"]
            req = f"{'/'.join(map(str, st['lists']))} list + {'/'.join(map(str, st['watches']))} watch"
            w(f"| {i.name} | {statistics.median(lat):.1f} ms | {st['p90']:.1f} ms | {lat[-1]:.1f} ms | "
              f"{req} | {st['good']}" + (f" (+{st['bad']} failed)" if st["bad"] else "")
              + f" | {st['exits']} |")
    for n in missing:
        w(f"| {n} | not built | | | | | |")
    w("")
    return L


def traffic_section(res):
    if "traffic" not in res:
        return []
    import traffic_drain
    return traffic_drain.report_lines(res["traffic"])


def drain_memory_section(res):
    if "drain_memory" not in res:
        return []
    import drain_memory
    return drain_memory.report_lines(res["drain_memory"])


def target_cells(s, res, peers):
    """The rows of the Targets table: (target, cell from one lameduck's summary)."""
    def cheapest(key):
        vals = {p: s[p].get(key) for p in peers if s[p].get(key)}
        return min(vals.values()) if vals else None

    def cpu_note(d, key, unit):
        c = cheapest(key)
        if not d.get(key) or not c:
            return ""
        return f" (own CPU per {unit} {d[key] / c:.2f}× the cheapest peer's)"

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

    return [
        ("idle RSS ≤ 1.1× tini-static",
         lambda d: f"{d['rss_ratio']:.2f}× — {verdict(d['rss_ratio'] <= 1.1)}"),
        ("zero idle wake-ups",
         lambda d: f"{d['wakeups']:.1f}/min (max {d['wakeups_max']:.1f}) — {verdict(d['wakeups_max'] == 0)}"),
        ("start-up ≤ 1.0× tini-static",
         lambda d: f"{d['start_ratio']:.2f}× — {verdict(d['start_ratio'] <= 1.0)}"),
        ("signal throughput ≥ best other",
         lambda d: f"{d['sig_vs_best']:.2f}× {d['sig_best']} — {verdict(d['sig_vs_best'] >= 1.0)}"
         + cpu_note(d, "sig_cpu", "signal")
         + (f"; **{d['sig_lost']} signals lost**" if d["sig_lost"] else "")),
        ("reaping throughput ≥ best other",
         lambda d: f"{d['reap_vs_best']:.2f}× {d['reap_best']} — {verdict(d['reap_vs_best'] >= 1.0)}"
         + cpu_note(d, "reap_cpu", "reap")
         + (f"; **zombies left: {d['zombies']}**" if d["zombies"] else "")),
        ("drain median ≤ 50 ms, 1 list + 1 watch", drain_cell),
    ]


def targets_section(inits, s, res):
    lds = [i.name for i in inits if i.lameduck]
    peers = [i.name for i in inits if not i.lameduck]
    L = ["## Targets", "", "| target | " + " | ".join(lds) + " |", "|---|" + "---|" * len(lds)]
    for title, cell in target_cells(s, res, peers):
        cells = []
        for n in lds:
            try:
                cells.append(cell(s[n]))
            except (KeyError, TypeError):
                cells.append("not measured")
        L.append(f"| {title} | " + " | ".join(cells) + " |")
    L.append("")
    return L


def misses_section(inits, s, res):
    L = ["### Where lameduck misses a target, and the measured reasons", ""]
    L += [f"* {m}" for m in explain_misses(inits, s, res) or ["Nowhere in this run."]]
    L += ["",
          "Throughput against the best other: lameduck's rate divided by each peer's rate in the "
          "same round, median over the rounds, and the lowest of those (the strongest peer is "
          "named). Wall-clock rates of a two-process ping-pong swing widely with the machine's "
          "load (per-round rates in the details); the init's own CPU time per operation does "
          "not, so it is given alongside.",
          ""]
    return L


def details_section(inits, s, res):
    L = []
    w = L.append
    w("## Details")
    w("")
    w("CPU columns are the init's own CPU time (hyperfine user+sys of the whole `INIT -- "
      "/bin/true` run; for signals and reaping the init's scheduler run time from "
      "`/proc/PID/task/*/schedstat` over the timed loop): unlike wall time they barely "
      "depend on what else the machine is doing.")
    w("")
    w("| init | linking | child runs in | stripped bytes | idle RssAnon / RssFile / Pss | `/bin/true` above bare `/bin/true` | "
      "start-up CPU | signal p99 | init CPU per signal | syscalls per signal | init CPU per reap | "
      "signals/s per round | reaps/s per round |")
    w("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|")
    for i in inits:
        n, d = i.name, s[i.name]
        sz = res.get("sizes", {}).get(n, {})
        link = sz.get("linking", "—")
        if sz.get("shared_libs"):
            link += f" ({len(sz['shared_libs'])} shared libs)"
        rr = (f"{fmt_int(d.get('rss_anon'))} / {fmt_int(d.get('rss_file'))} / {fmt_int(d.get('pss'))} KiB"
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
    if res.get("signals_root"):
        w(f"Signals/s in the host's root cgroup instead ({len(res['signals_root'])} rounds, same "
          "run; median, and the ratio to the strongest peer): "
          + "; ".join(f"{i.name} {fmt_int(s[i.name].get('sig_root_rate'))}"
                      + (f" ({s[i.name]['sig_root_vs_best']:.2f}× {s[i.name]['sig_root_best']})"
                         if s[i.name].get("sig_root_vs_best") is not None else "")
                      for i in inits)
          + ". There the kernel's autogroup gives every session a scheduling group of its own, "
          "so an init that starts its app in a new session (lameduck, dumb-init) adds a "
          "cross-group wake-up to each round trip; no container runs there (see bench/README.md).")
        w("")
    return L


def observations_section(inits, s, res):
    L = []
    w = L.append
    drain = res.get("drain", {})
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
    return L


README_BEGIN = "<!-- bench table: generated by bench/run.sh (bench/bench.py); do not edit by hand -->"
README_END = "<!-- end of bench table -->"


def readme_block(inits, missing, s, res, env, cfg):
    """The README's benchmark table: the same run's figures as RESULTS.md."""
    names = [i.name for i in inits]
    L = [README_BEGIN, "",
         f"Measured {env['date']} ({env.get('source') or 'lameduck'}) on {env['cpu']}, "
         f"{env['cores']} cores, {env['os']}, kernel {env['kernel']}. The machine's load "
         f"average was {' / '.join(env['loadavg_start'])} (1 / 5 / 15 min) at the start and "
         f"{' / '.join(env.get('loadavg_end') or ['?'])} at the end of the run: wall-clock "
         "figures are noisy at that load; the ratios, taken round by round in the same run, "
         "are what to compare.", ""]
    L += best_peer_section(inits, s, res)[2:]  # the sections without their own headings
    L += results_section(names, s, missing, cfg)[2:]
    L += ["Drain precision:", ""] + drain_section(inits, missing, res)[2:]
    L += ["Targets:", ""] + targets_section(inits, s, res)[2:]
    L += [README_END]
    return "\n".join(L)


def replace_readme_block(text, block):
    """text with the block between the markers replaced (ValueError without markers)."""
    a = text.index(README_BEGIN)
    b = text.index(README_END, a) + len(README_END)
    return text[:a] + block + text[b:]
