#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Steady HTTP load with keep-alive, recording every request.

A dispatcher thread releases one request every 1/rate seconds (open loop: a slow or
failing backend does not slow the offered load down); a pool of worker threads, each
with its own persistent HTTP/1.1 connection, sends them. Every request is written to
``--out`` as a CSV line::

    t_send,latency_ms,status,error

``t_send`` is ``time.monotonic()`` (one clock for all processes of the demo), ``status``
is the HTTP status or 0 when no response arrived (``error`` then says why: refused,
reset, timeout, ...). A request counts as failed when its status is not 2xx.

Runs until ``--duration`` is over or it receives SIGTERM/SIGINT, then waits for the
requests in flight (at most ``--timeout``) and exits. Standard library only.

Other clients of the demo are the same program:

* ``--new-conn``: a new connection per request (``Connection: close``), e.g. the
  loopback "sidecar" inside a Pod;
* ``--endpoints-file F --source IP --retry-reused``: an in-cluster client with its own
  keep-alive pool, routed the way kube-proxy routes it. A new connection goes to a random
  endpoint of F (the load balancer's lagged rules); an open connection stays with its Pod
  (conntrack) until the Pod closes it. A request that fails on a reused connection before
  any answer is retried once on a new connection, as Go's ``http.Transport`` does for
  idempotent requests.
"""

import argparse
import http.client
import json
import os
import queue
import random
import signal
import sys
import threading
import time
import urllib.parse


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url")
    p.add_argument("--rate", type=float, default=200.0, help="requests per second")
    p.add_argument("--poisson", action="store_true",
                   help="Poisson arrivals at --rate (random gaps, as real low-rate traffic "
                        "has) instead of one request every 1/rate seconds")
    p.add_argument("--seed", type=int, default=None, help="seed of the --poisson gaps")
    p.add_argument("--duration", type=float, default=600.0, help="upper bound in seconds")
    p.add_argument("--workers", type=int, default=0, help="connections (default: rate/8, 8..64)")
    p.add_argument("--timeout", type=float, default=5.0, help="per-request timeout in seconds")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument("--new-conn", action="store_true",
                   help="a new connection per request (Connection: close)")
    p.add_argument("--endpoints-file",
                   help="route each new connection to a random 'ip:port' of this JSON list "
                        "(re-read when it changes) instead of --url")
    p.add_argument("--source", help="local address to connect from")
    p.add_argument("--retry-reused", action="store_true",
                   help="retry once, on a new connection, a request that failed on a reused "
                        "connection before any answer")
    a = p.parse_args()
    if not a.url and not a.endpoints_file:
        p.error("--url or --endpoints-file is required")

    u = urllib.parse.urlsplit(a.url or "http://endpoints/")
    path = u.path or "/"
    source = (a.source, 0) if a.source else None
    targets = {"mtime": None, "list": []}
    targets_lock = threading.Lock()

    def pick_target():
        """(host, port) for a new connection, or None when there is no endpoint."""
        if not a.endpoints_file:
            return u.hostname, u.port
        with targets_lock:
            try:
                m = os.stat(a.endpoints_file).st_mtime_ns
                if m != targets["mtime"]:
                    with open(a.endpoints_file) as f:
                        targets["list"] = json.load(f)
                    targets["mtime"] = m
            except (OSError, ValueError):
                pass
            if not targets["list"]:
                return None
            host, port = random.choice(targets["list"]).rsplit(":", 1)
            return host, int(port)
    workers = a.workers or max(8, min(64, int(a.rate / 8)))
    stop = threading.Event()
    ticks = queue.Queue()
    out_lock = threading.Lock()
    out = open(a.out, "w", buffering=1 << 16)

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    headers = {"Host": "web"}
    if a.new_conn:
        headers["Connection"] = "close"

    def worker():
        conn = None
        used = 0                # requests answered on conn
        while True:
            item = ticks.get()
            if item is None:
                break
            t0 = time.monotonic()
            status, err = 0, ""
            for attempt in range(2):
                if conn is None:
                    target = pick_target()
                    if target is None:
                        err = "NoEndpoint"
                        break
                    conn = http.client.HTTPConnection(*target, timeout=a.timeout,
                                                      source_address=source)
                    used = 0
                reused = used > 0
                try:
                    conn.request("GET", path, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    status, err = resp.status, ""
                    used += 1
                    if resp.will_close or a.new_conn:
                        conn.close()
                        conn = None
                    break
                except Exception as e:  # refused, reset, timeout, bad status line, ...
                    err = type(e).__name__
                    try:
                        conn.close()
                    except Exception:
                        pass
                    conn = None
                    if not (a.retry_reused and reused and
                            isinstance(e, (ConnectionError, http.client.RemoteDisconnected,
                                           http.client.BadStatusLine))):
                        break
            t1 = time.monotonic()
            with out_lock:
                out.write(f"{t0:.6f},{(t1 - t0) * 1000:.3f},{status},{err}\n")
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()

    interval = 1.0 / a.rate
    gaps = random.Random(a.seed)
    start = time.monotonic()
    end = start + a.duration
    n = 0
    due = start
    sys.stderr.write(f"loadgen: {a.rate:g} req/s to {a.url or a.endpoints_file} with "
                     f"{workers} connections\n")
    sys.stderr.flush()
    while not stop.is_set():
        if not a.poisson:
            due = start + n * interval
        now = time.monotonic()
        if due > end:
            break
        if due > now:
            stop.wait(due - now)
            continue
        ticks.put(n)
        n += 1
        if a.poisson:
            due += gaps.expovariate(a.rate)
    for _ in threads:
        ticks.put(None)
    for t in threads:
        t.join(a.timeout + 2)
    with out_lock:
        out.close()
    sys.stderr.write(f"loadgen: sent {n} requests\n")


if __name__ == "__main__":
    main()
