# SPDX-License-Identifier: Apache-2.0
"""Peak memory (VmHWM) of one drain against a hostile or just big API (issue 14, item 4).

    PYTHONPATH=tests /usr/bin/python3 bench/drain_memory.py build/lameduck

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

import json
import os
import signal
import subprocess
import sys
import time

from fakeapi.harness import FakeApi
from fakeapi.slices import endpoint, slice as make_slice

POD_IP = "10.1.2.3"


def vmhwm_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def nested(n):
    return "[" * n + "]" * n


def run_case(binary, name, setup):
    with FakeApi(quiet=True) as api:
        api.set_slices([make_slice("web-abc12", "web", [endpoint(POD_IP, pod="web-1")])])
        setup(api)
        args = [binary, "--api-server", api.url, "--token-file", api.token_file,
                "--ca-file", api.ca_file, "--namespace", "default", "--pod-ip", POD_IP,
                "--delay", "3s", "--max-delay", "6s", "--settle", "0s", "--log-level", "info",
                "--", "sleep", "60"]
        proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
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
        why = [l for l in err.splitlines() if "unusable" in l or "still routable" in l]
        print(f"{name:28s} idle {idle / 1024:6.1f} MiB  peak {peak / 1024:6.1f} MiB   "
              f"{why[0].split('ms ', 1)[-1][:90] if why else ''}", flush=True)


def main():
    binary = os.path.abspath(sys.argv[1])
    big = [make_slice(f"svc{i:03d}-aaaaa", f"svc{i:03d}",
                      [endpoint(f"10.{i // 250}.{i % 250}.{e}", pod=f"p{i}-{e}")
                       for e in range(100)]) for i in range(500)]
    cases = [
        ("16 MB nested list", lambda api: api.fault(kind="garbage", on="list",
                                                     body=nested(8 << 20))),
        ("8 MiB nested watch line", lambda api: api.fault(kind="garbage", on="watch",
                                                           body=nested(4 << 20))),
        ("500 x 100 endpoint list", lambda api: api.set_slices(
            big + [make_slice("web-abc12", "web", [endpoint(POD_IP, pod="web-1")])])),
    ]
    for name, setup in cases:
        run_case(binary, name, setup)


if __name__ == "__main__":
    main()
