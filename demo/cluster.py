"""One configuration's "cluster": Pods, the fake API, HAProxy with its controller, the
load generator and the "kubelet" that rolls the Pods; then its measurement.

``run_config`` builds a ``World`` for one configuration, rolls its Pods and returns the
summary that ``report.py`` turns into tables and plots.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)

from fakeapi.harness import FakeApi  # noqa: E402
from fakeapi.slices import endpoint, slice as make_slice, terminating  # noqa: E402
import lbcontroller  # noqa: E402
from procs import children_of, fmt_s, http_ok, log, wait_until  # noqa: E402

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
NAMESPACE = "default"
SERVICE = "web"
SLICE_NAME = "web-demo1"
POD_PORT = 8080


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


