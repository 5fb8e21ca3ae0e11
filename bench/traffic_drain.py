# SPDX-License-Identifier: Apache-2.0
"""The cost of one traffic-aware drain (issue 11): lameduck's CPU time and system calls.

A drain here: lameduck runs in a network namespace of its own (the "Pod", 10.99.0.1) with
a small keep-alive HTTP app as its child; a client in a second namespace (10.99.0.2, over
a veth) sends traffic -- new connections and requests on one pooled connection -- for
``TRAFFIC_S`` seconds after lameduck's SIGTERM, then stops. lameduck (``--no-wait-endpoints
--delay 20s``: no API, the traffic wait capped at 20 s) waits until ``--quiet`` has passed
without traffic, then stops the app. The same drain with ``--no-wait-traffic --delay D``
(D = the traffic-aware drain's measured length) is the baseline: a fixed sleep of the same
length. Measured per drain, from the SIGTERM to lameduck's exit:

* CPU time: ``/proc/PID/task/*/schedstat`` (run time in ns) of lameduck alone, read just
  before the SIGTERM and every 10 ms until it is gone (the app is another process: not
  counted); lameduck is PID 1 of its own PID namespace, as in a container;
* system calls: ``strace -f -c`` attached to lameduck just before the SIGTERM (in a
  separate drain, as strace slows the traced process down), total and the top calls.

Needs root (network namespaces). Standard library only; namespace names start with
``ldbench-PID-``.
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

import _repo  # noqa: F401 -- tests/ on sys.path
from strace import attach_strace
from support.procfs import children_of

POD_IP, CLIENT_IP = "10.99.0.1", "10.99.0.2"
PORT = 8080
TRAFFIC_S = 3.0

APP = r'''
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *a): pass
class S(ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, *a): pass
S(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
'''

CLIENT = r'''
import http.client, socket, sys, threading, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
while True:
    try:
        socket.create_connection((host, port), timeout=0.5).close(); break
    except OSError:
        time.sleep(0.02)
print("R", flush=True)
sys.stdin.readline()                      # go: the bench has sent SIGTERM
end = time.monotonic() + secs
def fresh():                              # 20 new connections per second
    while time.monotonic() < end:
        c = http.client.HTTPConnection(host, port, timeout=2)
        try:
            c.request("GET", "/", headers={"Connection": "close"}); c.getresponse().read()
        except Exception: pass
        c.close(); time.sleep(0.05)
def pooled():                             # 20 requests per second on one connection
    c = http.client.HTTPConnection(host, port, timeout=2)
    while time.monotonic() < end:
        try:
            c.request("GET", "/"); c.getresponse().read()
        except Exception:
            c.close(); c = http.client.HTTPConnection(host, port, timeout=2)
        time.sleep(0.05)
    c.close()
ts = [threading.Thread(target=f) for f in (fresh, pooled)]
[t.start() for t in ts]; [t.join() for t in ts]
print("D", flush=True)
'''


def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Netns:
    """Two namespaces joined by a veth: the Pod and the client."""

    def __init__(self):
        base = f"ldbench-{os.getpid()}"
        self.pod, self.cli = f"{base}-tpod", f"{base}-tcli"

    def __enter__(self):
        _ip("netns", "add", self.pod)
        _ip("netns", "add", self.cli)
        _ip("link", "add", "eth0", "netns", self.pod, "type", "veth", "peer", "name", "eth0",
            "netns", self.cli)
        for ns, addr in ((self.pod, POD_IP), (self.cli, CLIENT_IP)):
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
        return self

    def __exit__(self, *exc):
        for ns in (self.pod, self.cli):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def run_in(self, ns):
        return ["nsenter", f"--net=/run/netns/{ns}", "--"]


def run_ns(pid):
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return total


def state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def parse_strace_c(path):
    """{"total": calls, "calls": {name: n}} from ``strace -c`` output."""
    calls, total = {}, None
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit():
                name = parts[-1]
                n = int(parts[3])
                if name == "total":
                    total = n
                else:
                    calls[name] = n
            elif parts and parts[-1] == "total" and len(parts) >= 4:
                total = int(parts[2])
    if total is None:
        total = sum(calls.values())
    return {"total": total, "calls": dict(sorted(calls.items(), key=lambda kv: -kv[1]))}


def one_drain(path, flags, net, python, logf, trace=None):
    """SIGTERM, traffic for TRAFFIC_S s, then lameduck's own wait; returns a dict."""
    app = [python, "-c", APP, str(PORT)]
    # As in a container: lameduck is PID 1 of its own PID namespace (so it looks at its
    # own small process tree), in the Pod's network namespace.
    p = subprocess.Popen(net.run_in(net.pod) + ["unshare", "--pid", "--fork", "--mount-proc",
                                                "--kill-child", "--", path, *flags, "--", *app],
                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    pid = None
    deadline = time.monotonic() + 10
    while pid is None and time.monotonic() < deadline and p.poll() is None:
        kids = children_of(p.pid)
        pid = kids[0] if kids else None
        time.sleep(0.005)
    if pid is None:
        p.kill()
        p.wait()
        return {"error": "lameduck did not start"}
    cli = subprocess.Popen(net.run_in(net.cli) + [python, "-c", CLIENT, POD_IP, str(PORT),
                                                  str(TRAFFIC_S)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    st = None
    try:
        if cli.stdout.readline().strip() != "R":
            return {"error": "the client never reached the app"}
        time.sleep(0.3)   # lameduck idle, app serving
        if trace:
            st = attach_strace(pid, ["-f", "-c", "-o", trace])
        cpu0 = run_ns(pid)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        cli.stdin.write("go\n")
        cli.stdin.flush()
        cpu1 = cpu0
        while True:
            s = state(pid)
            v = run_ns(pid)
            if v is not None:
                cpu1 = v
            if s in (None, "Z"):
                break
            if time.monotonic() - t0 > 40:
                return {"error": "lameduck did not exit within 40 s"}
            time.sleep(0.01)
        t1 = time.monotonic()
        rc = p.wait(10)     # unshare passes lameduck's exit status on
        out = {"drain_s": t1 - t0, "cpu_ms": (cpu1 - cpu0) / 1e6 if cpu0 is not None else None,
               "exit": rc}
        if st is not None:
            st.wait(10)
            st = None
            out["syscalls"] = parse_strace_c(trace)
        return out
    finally:
        for q in (p, cli):
            if q.poll() is None:
                q.kill()
                q.wait()
        if st is not None and st.poll() is None:
            st.kill()
            st.wait()


def measure(lameducks, work, drains=3, python=None):
    """lameducks: [(name, path)]. Returns {name: {...}}."""
    python = python or ("/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable)
    out = {}
    for name, path in lameducks:
        helptext = subprocess.run([path, "--help"], capture_output=True, text=True).stdout
        if "--wait-traffic" not in helptext:
            out[name] = {"status": "n/a", "reason": "this binary has no traffic wait"}
            continue
        if not shutil.which("strace"):
            out[name] = {"status": "n/a", "reason": "strace not installed"}
            continue
        slug = "".join(c if c.isalnum() else "-" for c in name)
        logpath = os.path.join(work, f"traffic-drain-{slug}.log")
        res = {"status": "ok", "traffic": [], "fixed": []}
        with Netns() as net, open(logpath, "ab") as logf:
            traffic_flags = ["--no-wait-endpoints", "--delay", "20s", "--max-delay", "25s",
                             "--quiet", "2s"]
            for _ in range(drains):
                res["traffic"].append(one_drain(path, traffic_flags, net, python, logf))
            ok = [d for d in res["traffic"] if "error" not in d]
            if not ok:
                out[name] = {"status": "n/a", "reason": res["traffic"][0]["error"]}
                continue
            length = statistics.median(d["drain_s"] for d in ok)
            fixed_flags = ["--no-wait-endpoints", "--no-wait-traffic",
                           "--delay", f"{int(round(length * 1000))}ms", "--max-delay", "25s"]
            for _ in range(drains):
                res["fixed"].append(one_drain(path, fixed_flags, net, python, logf))
            res["traffic_strace"] = one_drain(path, traffic_flags, net, python, logf,
                                              trace=os.path.join(work, f"strace-traffic-{slug}.txt"))
            res["fixed_strace"] = one_drain(path, fixed_flags, net, python, logf,
                                            trace=os.path.join(work, f"strace-fixed-{slug}.txt"))
        out[name] = res
    return out


def summary(r):
    """Medians of one build's result, or None."""
    if r.get("status") != "ok":
        return None

    def med(rows, key):
        xs = [d[key] for d in rows if "error" not in d and d.get(key) is not None]
        return statistics.median(xs) if xs else None
    s = {"drain_s": med(r["traffic"], "drain_s"), "cpu_ms": med(r["traffic"], "cpu_ms"),
         "fixed_drain_s": med(r["fixed"], "drain_s"), "fixed_cpu_ms": med(r["fixed"], "cpu_ms"),
         "n": len(r["traffic"])}
    for k in ("traffic", "fixed"):
        t = r.get(f"{k}_strace") or {}
        s[f"{k}_syscalls"] = (t.get("syscalls") or {}).get("total")
        s[f"{k}_top"] = list((t.get("syscalls") or {}).get("calls", {}).items())[:6]
    return s


def report_lines(results, traffic_s=TRAFFIC_S):
    """Markdown lines for RESULTS.md."""
    md = ["## Cost of a traffic-aware drain (lameduck only)", "",
          f"lameduck in a network namespace of its own, no API (`--no-wait-endpoints --delay "
          f"20s`), a client in another namespace sending 20 new connections/s and 20 requests/s "
          f"on one keep-alive connection for {traffic_s:g} s after the SIGTERM; lameduck waits "
          "for `--quiet` (default) without traffic, then stops the app. Baseline: the same drain "
          "with `--no-wait-traffic --delay D`, D = the traffic-aware drain's median length (a "
          "fixed sleep). CPU: lameduck's own run time (`/proc/PID/task/*/schedstat`) from "
          "SIGTERM to exit, median over the drains; system calls: `strace -f -c` attached "
          "before the SIGTERM, one drain each.", "",
          "| build | drain (SIGTERM to exit) | CPU per drain | baseline CPU (fixed sleep) | "
          "system calls per drain | baseline system calls | top calls (traffic wait) | drains |",
          "|---|--:|--:|--:|--:|--:|---|--:|"]
    for name, r in results.items():
        s = summary(r)
        if s is None:
            md.append(f"| {name} | n/a: {r.get('reason', '?')} | | | | | | |")
            continue

        def ms(x):
            return f"{x:.1f} ms" if x is not None else "?"
        top = ", ".join(f"{k} {v}" for k, v in s["traffic_top"])
        md.append(f"| {name} | {s['drain_s']:.2f} s | {ms(s['cpu_ms'])} | {ms(s['fixed_cpu_ms'])} | "
                  f"{s['traffic_syscalls']} | {s['fixed_syscalls']} | {top} | {s['n']} |")
    md.append("")
    return md


if __name__ == "__main__":
    # traffic_drain.py NAME=PATH ...: measure and print (for a quick look without bench.py)
    import json
    import tempfile
    work = tempfile.mkdtemp(prefix="ldbench-traffic-")
    builds = [tuple(a.split("=", 1)) for a in sys.argv[1:]]
    res = measure(builds, work, drains=int(os.environ.get("BENCH_TRAFFIC_DRAINS", "3")))
    print("\n".join(report_lines(res)))
    print(json.dumps(res, indent=1, default=str)[:3000], file=sys.stderr)
    print(f"logs: {work}", file=sys.stderr)
