#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""lameduck benchmarks: the measurements behind bench/RESULTS.md.

Run through bench/run.sh, which builds lameduck and the native helper and installs the
peers; this script only measures (measure.py) and writes the report (report.py).
Standard library only.

    bench.py --ldbench PATH --init NAME=PATH ... [--missing NAME=REASON ...]
             [--out bench/RESULTS.md] [--raw-dir bench/results/raw]
    bench.py --report-from bench/results/raw/STAMP.json [--out FILE]   (report only)

Every figure is the median over several rounds; every ratio is taken against tini-static
*in the same round* (then the median of those ratios), because the machine is noisy.
Counts are set by environment variables (see bench/README.md); BENCH_QUICK=1 is a smoke run.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

from measure import (CFG, HERE, REFERENCE, REPO, ContainerCgroups, Init, environment, log,
                     measure_drain, measure_idle, measure_reap, measure_signals, measure_sizes,
                     measure_startup, measure_syscalls, measure_traffic, wanted)
from report import readme_block, replace_readme_block, report, summarize


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ldbench", help="the helper built from helpers/ldbench.c (required to measure)")
    ap.add_argument("--source", default=REPO, help="the lameduck tree measured (for tests/fakeapi)")
    ap.add_argument("--source-desc", default="", help="what was built, for the report")
    ap.add_argument("--init", action="append", default=[], help="NAME=PATH (table order)")
    ap.add_argument("--missing", action="append", default=[], help="NAME=REASON")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--readme", default=os.path.join(REPO, "README.md"),
                    help="README whose bench table is replaced (only when --out is the default)")
    ap.add_argument("--raw-dir", default=os.path.join(HERE, "results", "raw"))
    ap.add_argument("--report-from", metavar="RAW_JSON",
                    help="only rewrite the report from a raw file of an earlier run")
    args = ap.parse_args()
    if not args.report_from and not args.ldbench:
        ap.error("--ldbench is required (or --report-from)")
    return args


def write_report(path, text):
    with open(path, "w") as f:
        f.write(text)
    print(text)


def write_readme_table(args, inits, missing, res, env):
    """The README's table, from the same run as RESULTS.md -- only for the committed report
    (a BENCH_OUT run elsewhere leaves the README alone)."""
    if (os.path.abspath(args.out) != os.path.abspath(os.path.join(HERE, "RESULTS.md"))
            or not os.path.exists(args.readme)):
        return
    text = open(args.readme).read()
    block = readme_block(inits, missing, summarize(inits, res), res, env, CFG)
    try:
        new = replace_readme_block(text, block)
    except ValueError:
        log(f"{args.readme} has no bench table markers; not updated")
        return
    with open(args.readme, "w") as f:
        f.write(new)
    log(f"updated the bench table in {args.readme}")


def report_from(args):
    """--report-from: the report of an earlier run, from its raw file."""
    raw = json.load(open(args.report_from))
    CFG.update(raw["config"])
    names = raw.get("inits") or [[n, ""] for n in raw["summary"]]
    inits = [Init(n, p) for n, p in names]
    raw["env"].setdefault("loadavg_end", None)
    text, _ = report(inits, raw["missing"], raw["results"], raw["env"], raw["wall_s"], CFG)
    write_report(args.out, text)
    write_readme_table(args, inits, raw["missing"], raw["results"], raw["env"])


def measure_all(inits, ldbench, work, source, cgroups):
    """Every section BENCH_ONLY asks for (default: all), in the report's order. Signals and
    reaping run each init in its cgroup (`cgroups`), and signals once more without."""
    res = {}
    if wanted("size"):
        res["sizes"] = measure_sizes(inits, work)
    if wanted("idle"):
        res["idle"] = measure_idle(inits, ldbench, work)
    if wanted("startup"):
        res["startup"] = measure_startup(inits, work)
    if wanted("signals"):
        res["signals"] = measure_signals(inits, ldbench, work, cgroups)
        if not cgroups.error:
            res["signals_root"] = measure_signals(inits, ldbench, work, None,
                                                  CFG["signal_root_rounds"], " (root cgroup)")
    if wanted("signals"):
        log("signals: counting system calls per forwarded signal (strace)")
        res["syscalls"] = measure_syscalls(inits, ldbench, work)
    if wanted("reap"):
        res["reap"] = measure_reap(inits, ldbench, work, cgroups)
    if wanted("drain"):
        res["drain"] = measure_drain([i for i in inits if i.lameduck], ldbench, work, source)
    if wanted("traffic"):
        res["traffic"] = measure_traffic([i for i in inits if i.lameduck], work)
    if wanted("drain_memory"):
        import drain_memory
        log("drain_memory: VmHWM of one drain against a hostile or big API, per build")
        res["drain_memory"] = {i.name: drain_memory.measure(i.path)
                               for i in inits if i.lameduck}
    return res


def save_raw(raw_dir, work, stamp, raw):
    """The raw data (JSON) and every log of the work dir, as raw_dir/STAMP*."""
    with open(os.path.join(raw_dir, f"{stamp}.json"), "w") as f:
        json.dump(raw, f, indent=1)
    for name in os.listdir(work):
        if name.endswith(".log"):
            shutil.copyfile(os.path.join(work, name), os.path.join(raw_dir, f"{stamp}-{name}"))


def main():
    args = parse_args()
    if args.report_from:
        report_from(args)
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
    cgroups = ContainerCgroups()
    env["cgroup"] = cgroups.describe()
    log(f"config: {json.dumps(CFG)}; work dir {work}; inits in {env['cgroup']}")
    try:
        res = measure_all(inits, args.ldbench, work, args.source, cgroups)
    finally:
        cgroups.remove()
    wall = time.monotonic() - t0
    env["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    text, summary = report(inits, missing, res, env, wall, CFG)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    save_raw(args.raw_dir, work, stamp, {
        "env": env, "config": CFG, "results": res, "summary": summary,
        "inits": [[i.name, i.path] for i in inits], "missing": missing, "wall_s": wall})
    shutil.rmtree(work, ignore_errors=True)
    write_report(args.out, text)
    write_readme_table(args, inits, missing, res, env)
    log(f"done in {wall:.0f} s; wrote {args.out} and {args.raw_dir}/{stamp}.json")


if __name__ == "__main__":
    main()
