#!/usr/bin/python3
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
"""

import argparse
import http.client
import queue
import signal
import sys
import threading
import time
import urllib.parse


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--rate", type=float, default=200.0, help="requests per second")
    p.add_argument("--duration", type=float, default=600.0, help="upper bound in seconds")
    p.add_argument("--workers", type=int, default=0, help="connections (default: rate/8, 8..64)")
    p.add_argument("--timeout", type=float, default=5.0, help="per-request timeout in seconds")
    p.add_argument("--out", required=True, help="CSV file to write")
    a = p.parse_args()

    u = urllib.parse.urlsplit(a.url)
    path = u.path or "/"
    workers = a.workers or max(8, min(64, int(a.rate / 8)))
    stop = threading.Event()
    ticks = queue.Queue()
    out_lock = threading.Lock()
    out = open(a.out, "w", buffering=1 << 16)

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def worker():
        conn = None
        while True:
            item = ticks.get()
            if item is None:
                break
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
            t0 = time.monotonic()
            status, err = 0, ""
            try:
                conn.request("GET", path, headers={"Host": "web"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if resp.will_close:
                    conn.close()
                    conn = None
            except Exception as e:  # refused, reset, timeout, bad status line, ...
                err = type(e).__name__
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
            t1 = time.monotonic()
            with out_lock:
                out.write(f"{t0:.6f},{(t1 - t0) * 1000:.3f},{status},{err}\n")
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()

    interval = 1.0 / a.rate
    start = time.monotonic()
    end = start + a.duration
    n = 0
    sys.stderr.write(f"loadgen: {a.rate:g} req/s to {a.url} with {workers} connections\n")
    sys.stderr.flush()
    while not stop.is_set():
        due = start + n * interval
        now = time.monotonic()
        if due > end:
            break
        if due > now:
            stop.wait(due - now)
            continue
        ticks.put(n)
        n += 1
    for _ in threads:
        ticks.put(None)
    for t in threads:
        t.join(a.timeout + 2)
    with out_lock:
        out.close()
    sys.stderr.write(f"loadgen: sent {n} requests\n")


if __name__ == "__main__":
    main()
