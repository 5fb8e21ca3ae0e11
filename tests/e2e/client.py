#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The end-to-end tests' HTTP client: steady requests to one URL, every one recorded.

    client.py URL --rate 50 --out FILE [--keepalive --conns 4]

Without --keepalive every request opens a new connection (so kube-proxy picks an endpoint
for each one); with it, --conns connections are kept open and reused (a pool: conntrack
keeps each on the Pod it started on). Runs until SIGTERM or SIGINT, then writes one JSON
line per request to --out: {"t": wall-clock start, "ok": bool, "pod": answer or null,
"err": error or null, "conn": connection number, "new": first request on it}.
Standard library only: it runs in the cluster's network namespaces with the host's python.
"""

import argparse
import http.client
import json
import signal
import threading
import time
import urllib.parse


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--out", required=True)
    p.add_argument("--keepalive", action="store_true")
    p.add_argument("--conns", type=int, default=4)
    p.add_argument("--timeout", type=float, default=3.0)
    a = p.parse_args()
    u = urllib.parse.urlsplit(a.url)
    host, port = u.hostname, u.port or 80
    path = u.path or "/"
    stop = threading.Event()
    records = []
    lock = threading.Lock()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    workers = a.conns if a.keepalive else max(1, min(16, int(a.rate // 10) + 1))
    period = workers / a.rate

    def worker(n):
        conn = None
        next_t = time.monotonic() + n * period / workers
        while not stop.is_set():
            delay = next_t - time.monotonic()
            if delay > 0:
                stop.wait(delay)
                if stop.is_set():
                    break
            next_t += period
            t = time.time()
            new = conn is None
            rec = {"t": t, "ok": False, "pod": None, "err": None, "conn": n, "new": new}
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=a.timeout)
                conn.request("GET", path, headers={} if a.keepalive else {"Connection": "close"})
                r = conn.getresponse()
                body = r.read().decode(errors="replace").strip()
                rec["ok"] = r.status == 200
                rec["pod"] = body
                if not rec["ok"]:
                    rec["err"] = f"HTTP {r.status}"
                if not a.keepalive or r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                rec["err"] = f"{type(e).__name__}: {e}"
                if conn is not None:
                    conn.close()
                conn = None
            rec["ms"] = round((time.time() - t) * 1000, 1)
            with lock:
                records.append(rec)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
    for th in threads:
        th.start()
    while not stop.is_set():
        stop.wait(0.5)
    for th in threads:
        th.join(a.timeout + 2)
    with lock:
        out = sorted(records, key=lambda r: r["t"])
    with open(a.out, "w") as f:
        for r in out:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
