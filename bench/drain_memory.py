# SPDX-License-Identifier: Apache-2.0
"""Peak memory (VmHWM) of one drain against a hostile or just big API (issue 14, item 4).

    /usr/bin/python3 bench/drain_memory.py build/lameduck
    /usr/bin/python3 bench/drain_memory.py --markdown "lameduck (dev)=build/lameduck" ...

bench.py runs it for every lameduck build (section ``drain_memory``) and puts its table in
RESULTS.md (``report_lines``).

Runs lameduck (not as PID 1) with `sleep 60` as the app, points it at the fake API with
one of the cases below, sends SIGTERM, waits until the API work is done (the fallback or
the watch), and reads lameduck's VmHWM from /proc. Prints one line per case.

Measured 2026-12-01 (RelWithDebInfo, dynamic; idle VmHWM 10.8 MiB) against the issue's
figures for 6fe57da:

    case                         before (6fe57da)   after
    16 MB list of nested [[[…]]]   618 MB             46.7 MiB (body held, then refused)
    8 MiB watch line, nested       330 MB             22.6 MiB
    endless `continue` pages       517 MB, growing    bounded: 8 pages, then --delay
    500 slices x 100 endpoints     155 MB             28.6 MiB

Budget: a drain's peak stays under idle + 48 MiB whatever the API sends (a list body is
capped at 16 MiB and collected once; only the Pod's endpoints are kept).
"""

import os
import signal
import subprocess
import sys
import time

import _repo  # noqa: F401 -- tests/ on sys.path
from fakeapi.harness import FakeApi
from fakeapi.slices import endpoint
from fakeapi.slices import slice as make_slice

POD_IP = "10.1.2.3"
BUDGET_KIB = 48 << 10  # a drain's peak may exceed idle by this much (tests use it too)


def vmhwm_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def nested(n):
    return "[" * n + "]" * n


def run_case(binary, setup):
    """One drain against the fake API as ``setup`` left it: (idle KiB, peak KiB, reason)."""
    with FakeApi(quiet=True) as api:
        api.set_slices([make_slice("web-abc12", "web", [endpoint(POD_IP, pod="web-1")])])
        setup(api)
        args = [binary, "--api-server", api.url, "--token-file", api.token_file,
                "--ca-file", api.ca_file, "--namespace", "default", "--pod-ip", POD_IP,
                "--delay", "3s", "--max-delay", "6s", "--settle", "0s", "--log-level", "info",
                "--", "sleep", "60"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMEDUCK_", "KUBERNETES_"))}
        env["LAMEDUCK_WAIT_TRAFFIC"] = "false"
        proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(0.5)
        idle = vmhwm_kib(proc.pid)
        proc.send_signal(signal.SIGTERM)
        peak = idle
        t0 = time.monotonic()
        while proc.poll() is None and time.monotonic() - t0 < 8:
            try:
                peak = max(peak, vmhwm_kib(proc.pid))
            except OSError:
                break
            time.sleep(0.05)
        proc.kill()
        _, err = proc.communicate()
        why = [line for line in err.splitlines() if "unusable" in line or "still routable" in line]
        return idle, peak, why[0].split("ms ", 1)[-1][:90] if why else ""


def cases():
    big = [make_slice(f"svc{i:03d}-aaaaa", f"svc{i:03d}",
                      [endpoint(f"10.{i // 250}.{i % 250}.{e}", pod=f"p{i}-{e}")
                       for e in range(100)]) for i in range(500)]
    return [
        ("16 MB nested list", lambda api: api.fault(kind="garbage", on="list",
                                                     body=nested(8 << 20))),
        ("8 MiB nested watch line", lambda api: api.fault(kind="garbage", on="watch",
                                                           body=nested(4 << 20))),
        ("500 x 100 endpoint list", lambda api: api.set_slices(
            big + [make_slice("web-abc12", "web", [endpoint(POD_IP, pod="web-1")])])),
        ("endless continue pages", lambda api: api.fault(kind="endless_pages", on="list",
                                                          count=-1)),
    ]


def measure(binary, on_row=None):
    """Every case for one binary: [{"case", "idle_kib", "peak_kib", "why"}]."""
    out = []
    for name, setup in cases():
        idle, peak, why = run_case(os.path.abspath(binary), setup)
        out.append({"case": name, "idle_kib": idle, "peak_kib": peak, "why": why})
        if on_row:
            on_row(out[-1])
    return out


def report_lines(results):
    """The bench report's section: {build name: measure() or {"status": "n/a", ...}}."""
    L = ["## Peak memory of one drain (lameduck only)", "",
         "VmHWM of lameduck (not PID 1, `sleep 60` as the app) during one drain against a "
         "hostile or just big API (issue 14, item 4; `bench/drain_memory.py`). Budget: "
         f"idle + {BUDGET_KIB >> 10} MiB whatever the API sends; the fault soak "
         "(`tests/integration/test_fault_soak.py`) checks the same budget in every drain.", "",
         "| build | case | idle | peak | peak − idle | budget |", "|---|---|--:|--:|--:|---|"]
    for build, rows in results.items():
        if isinstance(rows, dict):
            L.append(f"| {build} | n/a ({rows.get('reason', '')}) | | | | |")
            continue
        for r in rows:
            extra = r["peak_kib"] - r["idle_kib"]
            L.append(f"| {build} | {r['case']} | {r['idle_kib'] / 1024:.1f} MiB | "
                     f"{r['peak_kib'] / 1024:.1f} MiB | {extra / 1024:.1f} MiB | "
                     f"{'**met**' if extra < BUDGET_KIB else '**missed**'} |")
    L.append("")
    return L


def main():
    binaries = sys.argv[1:]
    if not binaries:
        sys.exit("usage: drain_memory.py [--markdown] LAMEDUCK [NAME=LAMEDUCK ...]")
    markdown = binaries[0] == "--markdown"
    if markdown:
        binaries = binaries[1:]
    results = {}
    for spec in binaries:
        name, _, path = spec.rpartition("=")

        def show(r):
            print(f"{r['case']:28s} idle {r['idle_kib'] / 1024:6.1f} MiB  peak "
                  f"{r['peak_kib'] / 1024:6.1f} MiB   {r['why']}", flush=True)

        results[name or path] = measure(path, None if markdown else show)
    if markdown:
        print("\n".join(report_lines(results)))


if __name__ == "__main__":
    main()
