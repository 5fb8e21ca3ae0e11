#!/usr/bin/python3
"""lameduck's zero-downtime demo: a rolling update behind a real load balancer.

On loopback only, for each configuration in turn, it builds a small "cluster":

* Pods: ``demo/app.py`` (a naive HTTP app that exits at once on SIGTERM), each in its own
  PID namespace (``unshare --pid --fork --mount-proc``) and on its own 127.x.y.z address,
  which is its Pod IP; PID 1 is the app itself (configuration ``none``) or lameduck;
* a fake Kubernetes API (``tests/fakeapi``) holding the EndpointSlice of Service ``web``;
* HAProxy playing kube-proxy, reconfigured through its runtime API by
  ``demo/lbcontroller.py``, which watches the EndpointSlices and applies every change
  ``--lag`` seconds late (no retries, no redispatch, no health checks: a request routed
  to a stopped Pod fails, as with kube-proxy);
* ``demo/loadgen.py``: steady keep-alive traffic through HAProxy, every request recorded;
* a "kubelet" (here) that rolls the Pods one by one: marks the Pod terminating in the
  EndpointSlice and at the same moment sends SIGTERM to its PID 1, waits for it to exit
  (``--grace``, then SIGKILL), starts a replacement on a fresh IP and adds it to the slice
  once it answers.

Then it prints a table (requests, failed requests, rollout duration, time per Pod),
writes ``results.md``, ``rollout.png`` (gnuplot) and ``summary.json`` into ``--out``.

Configurations: ``none`` (the app alone), ``delay`` (lameduck --delay 15s) and
``endpoints`` (lameduck --wait-endpoints, --settle). Run ``run.py --help``.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)

from fakeapi.harness import FakeApi  # noqa: E402
from fakeapi.slices import endpoint, slice as make_slice, terminating  # noqa: E402
import lbcontroller  # noqa: E402

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
NAMESPACE = "default"
SERVICE = "web"
SLICE_NAME = "web-demo1"
POD_PORT = 8080
CONFIG_ORDER = ["none", "delay", "endpoints"]


def log(msg):
    sys.stderr.write(f"demo: {msg}\n")
    sys.stderr.flush()


def parse_duration(text):
    """'500ms', '15s', '2m' or a bare number of seconds -> seconds (float)."""
    t = str(text).strip()
    for suffix, mult in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if t.endswith(suffix) and t[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(t[: -len(suffix)]) * mult
    try:
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (use 500ms, 15s, 2m or seconds)")


def fmt_s(seconds):
    """Seconds as lameduck's duration syntax, exact to the millisecond."""
    ms = int(round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


# --------------------------------------------------------------------------------------
# Processes: everything started is tracked and stopped, even on errors and Ctrl-C
# --------------------------------------------------------------------------------------

def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def descendants(pid):
    out = []
    for c in children_of(pid):
        out.append(c)
        out.extend(descendants(c))
    return out


class Procs:
    """Popen registry; ``stop_all`` ends every process started (and its descendants)."""

    def __init__(self):
        self.procs = []

    def start(self, name, cmd, log_path, **kw):
        logf = open(log_path, "ab")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KUBERNETES_", "LAMEDUCK_", "POD_"))}
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True, env=env, **kw)
        logf.close()
        p.demo_name = name
        self.procs.append(p)
        return p

    @staticmethod
    def kill_tree(p, sig=signal.SIGKILL):
        if p.poll() is not None:
            return
        for pid in reversed(descendants(p.pid)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass

    def stop(self, p, grace=3.0):
        """SIGTERM, then SIGKILL of the whole tree after ``grace``."""
        if p.poll() is None and grace > 0:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill_tree(p)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            log(f"{p.demo_name} (pid {p.pid}) did not exit after SIGKILL")

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                self.kill_tree(p)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []


def pidns_available():
    try:
        r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "true"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def http_ok(host, port, timeout=1.0):
    """The readiness probe: GET / answers 200 (http.client: no proxy from the environment)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def wait_until(pred, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------
# One configuration's cluster
# --------------------------------------------------------------------------------------

class Pod:
    def __init__(self, name, ip):
        self.name, self.ip = name, ip
        self.proc = None          # Popen: unshare (or PID 1 itself without PID namespaces)
        self.pid1 = None          # host pid of the Pod's PID 1
        self.log = None
        self.t_start = self.t_ready = self.t_term = self.t_exit = None
        self.t_slice = None       # when the EndpointSlice said "terminating"
        self.exit_code = None
        self.killed = False


class World:
    def __init__(self, args, config, index, subnet, workdir, procs):
        self.a, self.config, self.procs = args, config, procs
        self.dir = os.path.join(workdir, config)
        os.makedirs(os.path.join(self.dir, "pods"), exist_ok=True)
        self.net = f"{subnet[0]}.{subnet[1]}.{(subnet[2] + index) % 256}"
        self.vip = f"{self.net}.1"
        self.lb_port = 8000
        self.next_host = 10
        self.pods = []            # every Pod ever started, in order
        self.slice_eps = {}       # ip -> endpoint dict, in the EndpointSlice
        self.slice_queue = []     # [(due, slice body)] for --endpoint-delay
        self.slice_cv = threading.Condition()
        self.slice_stop = False
        self.pod_by_ip = {}
        self.api = None
        self.haproxy = self.controller = self.loadgen = None
        self.sock = os.path.join(self.dir, "haproxy.sock")
        self.requests_csv = os.path.join(self.dir, "requests.csv")
        self.lb_events = os.path.join(self.dir, "lb-events.jsonl")

    # -- pieces --------------------------------------------------------------------------

    def pod_command(self, pod):
        a = self.a
        app = [PYTHON, os.path.join(HERE, "app.py"), "--host", pod.ip, "--port", str(POD_PORT),
               "--name", pod.name, "--work-ms", str(a.work_ms)]
        if self.config == "none":
            cmd = app
        elif self.config == "delay":
            cmd = [a.lameduck, "--no-wait-endpoints", "--delay", fmt_s(a.delay),
                   "--max-delay", fmt_s(max(a.max_delay, a.delay)), "--"] + app
        else:
            # --delay 0s: no fixed-delay fallback, so that a watcher that did not work
            # shows up as failed requests instead of hiding behind a sleep.
            cmd = [a.lameduck, "--wait-endpoints", "--api-server", self.api.url,
                   "--token-file", self.api.token_file, "--ca-file", self.api.ca_file,
                   "--namespace", NAMESPACE, "--pod-ip", pod.ip, "--pod-name", pod.name,
                   "--service", SERVICE, "--settle", fmt_s(a.settle),
                   "--max-delay", fmt_s(a.max_delay), "--delay", "0s", "--"] + app
        if a.pidns:
            cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--"] + cmd
        return cmd

    def start_pod(self):
        name = f"web-{self.config}-{len(self.pods) + 1}"
        ip = f"{self.net}.{self.next_host}"
        self.next_host += 1
        pod = Pod(name, ip)
        pod.log = os.path.join(self.dir, "pods", f"{name}.log")
        pod.t_start = time.monotonic()
        pod.proc = self.procs.start(name, self.pod_command(pod), pod.log)
        if self.a.pidns:
            def found():
                kids = children_of(pod.proc.pid)
                if kids:
                    pod.pid1 = kids[0]
                    return True
                if pod.proc.poll() is not None:
                    raise RuntimeError(f"pod {name} exited at once; see {pod.log}:\n"
                                       + open(pod.log, errors="replace").read())
                return False
            wait_until(found, 10, f"PID 1 of pod {name}", interval=0.005)
        else:
            pod.pid1 = pod.proc.pid
        self.pods.append(pod)
        self.pod_by_ip[ip] = pod
        return pod

    def wait_ready(self, pod):
        """The readiness probe: GET / answers 200."""
        def ready():
            if pod.proc.poll() is not None:
                raise RuntimeError(f"pod {pod.name} exited during startup; see {pod.log}:\n"
                                   + open(pod.log, errors="replace").read())
            return http_ok(pod.ip, POD_PORT, timeout=0.5)
        wait_until(ready, 30, f"pod {pod.name} to answer", interval=0.05)
        pod.t_ready = time.monotonic()

    def publish_slice(self, now=False):
        """The endpoint controller writes the EndpointSlice: at once, or --endpoint-delay
        later (a busy controller-manager), in order."""
        body = make_slice(SLICE_NAME, SERVICE, list(self.slice_eps.values()), namespace=NAMESPACE,
                          ports=[{"name": "http", "port": POD_PORT, "protocol": "TCP"}])
        if now or self.a.endpoint_delay <= 0:
            self.api.upsert(body)
            return time.monotonic()
        self.slice_queue.append((time.monotonic() + self.a.endpoint_delay, body))
        with self.slice_cv:
            self.slice_cv.notify()
        return None

    def endpoint_controller(self):
        while True:
            with self.slice_cv:
                while not self.slice_stop and not self.slice_queue:
                    self.slice_cv.wait()
                if self.slice_stop:
                    return
            due, body = self.slice_queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                with self.slice_cv:
                    self.slice_cv.wait(wait)
                continue
            self.slice_queue.pop(0)
            try:
                self.api.upsert(body)
                for ep in body["endpoints"]:
                    if ep["conditions"].get("terminating"):
                        pod = self.pod_by_ip.get(ep["addresses"][0])
                        if pod is not None and pod.t_slice is None:
                            pod.t_slice = time.monotonic()
            except Exception as e:
                log(f"endpoint controller: {e}")

    def start_haproxy(self):
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(sock=self.sock, vip=self.vip, port=self.lb_port,
                                       slots=self.a.slots, pod_port=POD_PORT))
        self.haproxy = self.procs.start("haproxy", [self.a.haproxy, "-db", "-f", cfg],
                                        os.path.join(self.dir, "haproxy.log"))

        def up():
            if self.haproxy.poll() is not None:
                raise RuntimeError("haproxy exited; log:\n" + open(
                    os.path.join(self.dir, "haproxy.log"), errors="replace").read())
            try:
                return "Name: HAProxy" in lbcontroller.haproxy(self.sock, "show info")
            except OSError:
                return False
        wait_until(up, 15, "HAProxy's stats socket")

    def lb_servers(self):
        """{ip} of HAProxy servers that take traffic right now."""
        out = set()
        for line in lbcontroller.haproxy(self.sock, "show servers state be").splitlines():
            f = line.split()
            if len(f) > 6 and f[0].isdigit() and f[1] == "be":
                op, admin = int(f[5]), int(f[6])
                if op == 2 and not admin & 0x3B:   # running, not in maintenance/drain
                    out.add(f[4])
        return out

    def start(self):
        a = self.a
        self.api = FakeApi(dir=os.path.join(self.dir, "fakeapi"), quiet=True).start()
        self.start_haproxy()
        self.controller = self.procs.start(
            "lbcontroller",
            [PYTHON, os.path.join(HERE, "lbcontroller.py"), "--api-server", self.api.url,
             "--ca-file", self.api.ca_file, "--token-file", self.api.token_file,
             "--namespace", NAMESPACE, "--service", SERVICE, "--haproxy-socket", self.sock,
             "--slots", str(a.slots), "--lag", str(a.lag), "--events", self.lb_events],
            os.path.join(self.dir, "lbcontroller.log"))
        pods = [self.start_pod() for _ in range(a.pods)]
        for pod in pods:
            self.wait_ready(pod)
            self.slice_eps[pod.ip] = endpoint(pod.ip, pod=pod.name, namespace=NAMESPACE)
        self.publish_slice(now=True)
        threading.Thread(target=self.endpoint_controller, daemon=True).start()
        want = {p.ip for p in pods}
        wait_until(lambda: self.lb_servers() == want, a.lag + 15, "HAProxy to route to all Pods")

    def start_load(self):
        self.t_load = time.monotonic()
        self.loadgen = self.procs.start(
            "loadgen",
            [PYTHON, os.path.join(HERE, "loadgen.py"), "--url", f"http://{self.vip}:{self.lb_port}/",
             "--rate", str(self.a.rate), "--duration", str(self.a.max_run), "--out", self.requests_csv],
            os.path.join(self.dir, "loadgen.log"))

        def started():
            if self.loadgen.poll() is not None:
                raise RuntimeError("loadgen exited: " + open(
                    os.path.join(self.dir, "loadgen.log"), errors="replace").read())
            with open(os.path.join(self.dir, "loadgen.log"), errors="replace") as f:
                return "req/s to" in f.read()
        wait_until(started, 15, "the load generator")

    def stop_load(self):
        self.procs.stop(self.loadgen, grace=15)
        self.t_load_end = time.monotonic()

    # -- the kubelet -----------------------------------------------------------------------

    def terminate(self, pod):
        """Pod deletion: EndpointSlice says terminating and SIGTERM goes to PID 1 at once."""
        a = self.a
        self.slice_eps[pod.ip] = terminating(pod.ip, pod=pod.name, namespace=NAMESPACE)
        t = self.publish_slice()
        if t is not None:
            pod.t_slice = t
        pod.t_term = time.monotonic()
        try:
            os.kill(pod.pid1, signal.SIGTERM)
        except ProcessLookupError:
            log(f"{pod.name} was already gone at SIGTERM; see {pod.log}")
        try:
            pod.exit_code = pod.proc.wait(a.grace)
        except subprocess.TimeoutExpired:
            log(f"{pod.name} still running after the {a.grace:g}s grace period: SIGKILL")
            pod.killed = True
            os.kill(pod.pid1, signal.SIGKILL)
            self.procs.kill_tree(pod.proc)
            pod.exit_code = pod.proc.wait(10)
        pod.t_exit = time.monotonic()
        del self.slice_eps[pod.ip]   # the Pod object is gone: its endpoint leaves the slice
        self.publish_slice()

    def roll(self):
        self.t_roll = time.monotonic()
        for old in list(self.pods):
            self.terminate(old)
            log(f"  {old.name} ({old.ip}) exited {old.t_exit - old.t_term:.1f}s after SIGTERM")
            new = self.start_pod()
            self.wait_ready(new)
            self.slice_eps[new.ip] = endpoint(new.ip, pod=new.name, namespace=NAMESPACE)
            self.publish_slice()
        self.t_roll_end = time.monotonic()
        wait_until(lambda: not self.slice_queue, self.a.endpoint_delay + 10,
                   "the endpoint controller", interval=0.05)

    def stop(self):
        with self.slice_cv:
            self.slice_stop = True
            self.slice_cv.notify_all()
        if self.api is not None:
            try:
                self.api_requests = self.api.requests()
            except Exception:
                self.api_requests = []
        # Pods are done with: end them at once (SIGKILL to unshare kills its PID 1 through
        # --kill-child, and with it the whole PID namespace).
        for pod in self.pods:
            if pod.proc is not None:
                self.procs.stop(pod.proc, grace=0)
        for p in [self.loadgen, self.controller, self.haproxy]:
            if p is not None:
                self.procs.stop(p, grace=3)
        if self.api is not None:
            self.api.stop()


HAPROXY_CFG = """\
# The demo's kube-proxy. No retries, no redispatch, no health checks: like kube-proxy,
# a request routed to a Pod that stopped listening fails (503 when the connection is
# refused, 502 when it is cut), and the client sees it.
global
    stats socket {sock} mode 600 level admin
    stats timeout 30s
    maxconn 4096

defaults
    mode http
    retries 0
    option http-keep-alive
    timeout connect 2s
    timeout client 60s
    timeout server 30s
    timeout http-keep-alive 60s

frontend web
    bind {vip}:{port}
    default_backend be

backend be
    balance roundrobin
    # {slots} slots, addresses set by lbcontroller.py over the stats socket.
    server-template s 1-{slots} 127.0.0.1:{pod_port} disabled
"""


# --------------------------------------------------------------------------------------
# Running a configuration and measuring it
# --------------------------------------------------------------------------------------

def read_requests(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split(",", 3)
                if len(parts) == 4:
                    rows.append((float(parts[0]), float(parts[1]), int(parts[2]), parts[3]))
    except OSError:
        pass
    rows.sort()
    return rows


def describe(config, a):
    if config == "none":
        return "app alone (no lameduck)"
    if config == "delay":
        return f"lameduck --delay {fmt_s(a.delay)}"
    return f"lameduck --wait-endpoints --settle {fmt_s(a.settle)}"


def run_config(args, config, index, subnet, workdir, procs):
    log(f"[{config}] {describe(config, args)}: starting {args.pods} pods, fake API, HAProxy")
    w = World(args, config, index, subnet, workdir, procs)
    try:
        w.start()
        w.start_load()
        time.sleep(args.warmup)
        log(f"[{config}] rolling {args.pods} pods one by one")
        w.roll()
        time.sleep(args.cooldown)
        w.stop_load()
    finally:
        w.stop()
    return summarize(args, config, w)


def summarize(args, config, w):
    rows = read_requests(w.requests_csv)
    failed = [r for r in rows if not 200 <= r[2] < 300]
    kinds = {}
    for r in failed:
        k = f"HTTP {r[2]}" if r[2] else (r[3] or "error")
        kinds[k] = kinds.get(k, 0) + 1
    old = [p for p in w.pods if p.t_term is not None]
    per_pod = [p.t_exit - p.t_term for p in old]
    lb = []
    try:
        with open(w.lb_events) as f:
            lb = [json.loads(line) for line in f if line.strip()]
    except OSError:
        pass
    removed_at = {e["ip"]: e["t"] for e in lb if e["op"] == "remove"}
    t0 = rows[0][0] if rows else w.t_load   # time 0: the first request
    lameduck_api = [r for r in getattr(w, "api_requests", [])
                    if not r.get("user_agent", "").startswith("demo-lb-controller")]
    pods = []
    for p in old:
        pods.append({
            "name": p.name, "ip": p.ip,
            "sigterm": round(p.t_term - t0, 3),
            "slice_terminating": round(p.t_slice - t0, 3) if p.t_slice is not None else None,
            "lb_removed": round(removed_at[p.ip] - t0, 3) if p.ip in removed_at else None,
            "exited": round(p.t_exit - t0, 3),
            "exit_code": p.exit_code, "sigkilled": p.killed,
            "log": open(p.log, errors="replace").read() if os.path.exists(p.log) else "",
        })
    return {
        "config": config,
        "label": describe(config, args),
        "requests": len(rows),
        "failed": len(failed),
        "failures_by_kind": kinds,
        "first_failure": round(failed[0][0] - t0, 3) if failed else None,
        "last_failure": round(failed[-1][0] - t0, 3) if failed else None,
        "rollout_s": round(w.t_roll_end - w.t_roll, 3),
        "mean_per_pod_s": round(statistics.mean(per_pod), 3) if per_pod else None,
        "max_per_pod_s": round(max(per_pod), 3) if per_pod else None,
        "load_s": round(w.t_load_end - t0, 3),
        "roll_start": round(w.t_roll - t0, 3),
        "roll_end": round(w.t_roll_end - t0, 3),
        "lameduck_api_requests": len(lameduck_api),
        "pods": pods,
        "_rows": [(r[0] - t0, r[2]) for r in rows],
    }


# --------------------------------------------------------------------------------------
# Output: table, markdown, plot
# --------------------------------------------------------------------------------------

def table(results):
    head = ["configuration", "requests", "failed", "rollout", "per pod (SIGTERM to exit)"]
    lines = []
    for r in results:
        pct = 100.0 * r["failed"] / r["requests"] if r["requests"] else 0.0
        lines.append([r["label"], str(r["requests"]), f"{r['failed']} ({pct:.1f}%)",
                      f"{r['rollout_s']:.1f} s",
                      f"{r['mean_per_pod_s']:.1f} s (max {r['max_per_pod_s']:.1f} s)"])
    widths = [max(len(head[i]), *(len(l[i]) for l in lines)) for i in range(len(head))]

    def row(cells):
        return "| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                 for i, c in enumerate(cells)) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ("-" if i == 0 else ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([row(head), sep] + [row(l) for l in lines])


def write_plot(results, out_dir, bin_s, data_dir, rate):
    """rollout.png: one panel per configuration, requests per second over time."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        log("gnuplot not found: no plot (apt-get install gnuplot-nox)")
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
    gp = os.path.join(data_dir, "rollout.gp")
    with open(gp, "w") as f:
        f.write(script)
    r = subprocess.run([gnuplot, gp], capture_output=True, text=True)
    if r.returncode != 0:
        log(f"gnuplot failed: {r.stderr.strip()}")
        return None
    return png


def write_markdown(args, results, out_dir, png, cmdline):
    setup = [f"{args.pods} Pods rolled one by one", f"{args.rate:g} requests/s through HAProxy",
             f"load balancer lag {args.lag:g} s"]
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
        if r["config"] == "endpoints":
            md += [f"- API requests made by lameduck: {r['lameduck_api_requests']}"
                   + ("" if r["lameduck_api_requests"] else " — **this lameduck does not wait "
                      "on EndpointSlices** (it ignored --wait-endpoints)")]
        md += ["", "| pod | SIGTERM | slice says terminating | HAProxy stops routing | exited | "
                   "exit status |", "|---|---:|---:|---:|---:|---|"]
        for p in r["pods"]:
            def at(t):
                return f"{t:.2f} s" if t is not None else "-"
            md += [f"| {p['name']} ({p['ip']}) | {at(p['sigterm'])} | {at(p['slice_terminating'])} | "
                   f"{at(p['lb_removed'])} | {at(p['exited'])} | "
                   f"{p['exit_code']}{' (SIGKILL)' if p['sigkilled'] else ''} |"]
        md += [""]
        if r["config"] != "none" and r["pods"] and r["pods"][0]["log"].strip():
            md += [f"Log of {r['pods'][0]['name']} (lameduck on stderr, then the app):", "", "```",
                   r["pods"][0]["log"].rstrip(), "```", ""]
    path = os.path.join(out_dir, "results.md")
    with open(path, "w") as f:
        f.write("\n".join(md))
    return path


# --------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Roll the Pods of a naive app behind HAProxy -- without lameduck, with a "
                    "fixed delay, waiting on the EndpointSlices -- and count failed requests. "
                    "Durations: 500ms, 2s, 1m or seconds.")
    p.add_argument("--pods", type=int, default=3, help="Pods of the Service, each rolled once (3)")
    p.add_argument("--rate", type=float, default=200, help="requests per second through HAProxy (200)")
    p.add_argument("--lag", type=parse_duration, default=2.0,
                   help="load balancer propagation lag: how late HAProxy follows the "
                        "EndpointSlices (2s)")
    p.add_argument("--settle", type=parse_duration, default=None,
                   help="lameduck --settle in configuration 'endpoints' (lag + 1s: it must "
                        "cover the load balancer's lag; try less to see requests fail)")
    p.add_argument("--delay", type=parse_duration, default=15.0,
                   help="lameduck --delay in configuration 'delay' (15s)")
    p.add_argument("--max-delay", type=parse_duration, default=25.0, help="lameduck --max-delay (25s)")
    p.add_argument("--endpoint-delay", type=parse_duration, default=0.0,
                   help="how late the EndpointSlice follows the Pod's deletion (a busy "
                        "endpoint controller; 0s). The kubelet's SIGTERM does not wait for it")
    p.add_argument("--grace", type=parse_duration, default=30.0,
                   help="terminationGracePeriodSeconds: SIGKILL after this (30s)")
    p.add_argument("--work-ms", type=float, default=5.0, help="app time per request in ms (5)")
    p.add_argument("--warmup", type=parse_duration, default=3.0, help="traffic before the rollout (3s)")
    p.add_argument("--cooldown", type=parse_duration, default=None,
                   help="traffic after the rollout (lag + 2s)")
    p.add_argument("--configs", default=",".join(CONFIG_ORDER),
                   help="configurations to run, comma-separated (none,delay,endpoints)")
    p.add_argument("--out", default=os.path.join(HERE, "results"),
                   help="directory for results.md, rollout.png, summary.json (demo/results)")
    p.add_argument("--json", help="also write the summary JSON here")
    p.add_argument("--lameduck", default=os.environ.get("LAMEDUCK_BIN") or
                   os.path.join(ROOT, "build", "lameduck"),
                   help="lameduck binary ($LAMEDUCK_BIN, else build/lameduck)")
    p.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy",
                   help="haproxy binary")
    p.add_argument("--slots", type=int, default=0, help="HAProxy server slots (2 * pods + 4)")
    p.add_argument("--bin", type=parse_duration, default=0.5, help="plot bin width (500ms)")
    p.add_argument("--no-pidns", dest="pidns", action="store_false",
                   help="do not give each Pod its own PID namespace (for where unshare is not "
                        "permitted; lameduck then is a subreaper, not PID 1)")
    p.add_argument("--no-plot", dest="plot", action="store_false", help="skip the PNG")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, raw data)")
    a = p.parse_args(argv)
    a.configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    bad = [c for c in a.configs if c not in CONFIG_ORDER]
    if bad:
        p.error(f"unknown configuration(s) {bad}; choose from {CONFIG_ORDER}")
    if a.pods < 1 or a.rate <= 0:
        p.error("--pods and --rate must be positive")
    if a.settle is None:
        a.settle = a.lag + 1.0
    if a.cooldown is None:
        a.cooldown = a.lag + 2.0
    a.slots = a.slots or 2 * a.pods + 4
    a.max_run = a.warmup + a.cooldown + a.pods * (a.grace + 2 * a.endpoint_delay + 30) + 60
    return a


def main(argv=None):
    a = parse_args(argv)
    if any(c != "none" for c in a.configs) and not os.access(a.lameduck, os.X_OK):
        sys.exit(f"demo: lameduck binary {a.lameduck} not found; build it "
                 "(cmake -S . -B build -G Ninja && ninja -C build lameduck) or pass --lameduck")
    if not os.access(a.haproxy, os.X_OK):
        sys.exit("demo: haproxy not found (apt-get install haproxy)")
    if a.pidns and not pidns_available():
        log("unshare --pid --fork --mount-proc is not permitted here: running the Pods "
            "without PID namespaces (lameduck then is a subreaper, not PID 1)")
        a.pidns = False

    # One /24 of 127/8 per configuration, picked at random so that concurrent runs
    # (a test next to the demo) do not collide.
    subnet = (127, random.randint(64, 250), random.randint(0, 250))
    workdir = tempfile.mkdtemp(prefix="lameduck-demo-")
    if any(c != "none" for c in a.configs):
        # Run a snapshot, so that a rebuild during the demo cannot pull the binary away.
        shutil.copy2(a.lameduck, os.path.join(workdir, "lameduck"))
        a.lameduck = os.path.join(workdir, "lameduck")
    procs = Procs()
    results = []
    a.versions = versions(a)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    t_begin = time.monotonic()
    ok = False
    try:
        for i, config in enumerate(a.configs):
            results.append(run_config(a, config, i, subnet, workdir, procs))
            r = results[-1]
            log(f"[{config}] {r['requests']} requests, {r['failed']} failed, "
                f"rollout {r['rollout_s']:.1f}s")
            if config == "endpoints" and r["lameduck_api_requests"] == 0:
                log("[endpoints] WARNING: lameduck made no API request: this binary does not "
                    "watch EndpointSlices (yet?)")
        ok = True
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        procs.stop_all()
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        ok = True   # nothing to debug
        return 130
    finally:
        procs.stop_all()
        if (a.keep or not ok) and os.path.isdir(workdir):
            log(f"work directory kept: {workdir} (logs of every process)")

    full = {"args": {k: v for k, v in vars(a).items()},
            "cmdline": os.environ.get("DEMO_CMDLINE") or
            "demo/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "results": results}
    with open(os.path.join(workdir, "results-full.json"), "w") as f:
        json.dump(full, f)
    md, png = write_outputs(a, results, workdir, full["cmdline"].strip())
    if not a.keep:
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(table(results))
    print()
    print(f"results: {md}" + (f", plot: {png}" if png else "") +
          f"  ({time.monotonic() - t_begin:.0f} s)")
    return 0


def versions(a):
    out = []
    for name, cmd in (("lameduck", [a.lameduck, "version"]), ("haproxy", [a.haproxy, "-v"])):
        if name == "lameduck" and not any(c != "none" for c in a.configs):
            continue
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            line = (r.stdout or r.stderr).strip().splitlines()[0]
            out.append(" ".join(line.split()[:3]) if name == "haproxy" else line)
        except (OSError, IndexError, subprocess.TimeoutExpired):
            pass
    out.append(f"Linux {os.uname().release}, {os.cpu_count()} CPUs")
    return out


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


def replot(workdir, out=None, bin_s=None):
    """Redraw results.md and rollout.png from a work directory kept with --keep."""
    with open(os.path.join(workdir, "results-full.json")) as f:
        full = json.load(f)
    a = argparse.Namespace(**full["args"])
    if out:
        a.out = out
    if bin_s:
        a.bin = bin_s
    a.json = None
    md, png = write_outputs(a, full["results"], workdir, full["cmdline"])
    print(table(full["results"]))
    print(f"results: {md}" + (f", plot: {png}" if png else ""))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--replot":
        # run.py --replot WORKDIR [OUT] [BIN]: redraw from a run kept with --keep.
        replot(sys.argv[2], *(sys.argv[3:4] or [None]),
               *([parse_duration(sys.argv[4])] if len(sys.argv) > 4 else []))
        sys.exit(0)
    sys.exit(main())
