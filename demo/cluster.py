# SPDX-License-Identifier: Apache-2.0
"""One configuration's "cluster": Pods, the fake API, HAProxy with its controller, the
load generator and the "kubelet" that rolls the Pods; then its measurement.

``run_config`` builds a ``World`` for one configuration, rolls its Pods and returns the
summary that ``report.py`` turns into tables and plots.
"""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import threading
import time

import _repo  # noqa: F401 -- tests/ on sys.path
import lbcontroller
import netns
from fakeapi.harness import FakeApi
from fakeapi.slices import endpoint, slice as make_slice, terminating
from procs import fmt_s, http_ok, log
from support.env import PYTHON
from support.procfs import children_of
from support.wait import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))

NAMESPACE = "default"
SERVICE = "web"
SLICE_NAME = "web-demo1"
POD_PORT = 8080
CONFIGS = ["none", "delay", "endpoints", "defaults", "no-pooled", "pooled-peer"]
LB_MODES = ["newconn", "pool"]


class Pod:
    def __init__(self, name, ip):
        self.name, self.ip = name, ip
        self.netns = None         # its network namespace
        self.proc = None          # Popen: unshare (or PID 1 itself without PID namespaces)
        self.sidecar = None       # Popen: the loopback client in the Pod's netns
        self.pid1 = None          # host pid of the Pod's PID 1
        self.log = None
        self.t_start = self.t_ready = self.t_term = self.t_exit = None
        self.t_slice = None       # when the EndpointSlice said "terminating"
        self.exit_code = None
        self.killed = False
        self.probes = []          # [(t, ok)] of the kubelet's probes


class World:
    def __init__(self, args, config, index, tag, workdir, procs):
        self.a, self.config, self.procs = args, config, procs
        self.tag = tag
        self.dir = os.path.join(workdir, tag)
        os.makedirs(os.path.join(self.dir, "pods"), exist_ok=True)
        self.net = netns.Network(f"{args.netns_prefix}-{index}")
        self.vip = netns.LB_IP
        self.lb_port = 8000
        self.next_host = netns.FIRST_POD_HOST
        self.pods = []            # every Pod ever started, in order
        self.slice_eps = {}       # ip -> endpoint dict, in the EndpointSlice
        self.slice_queue = []     # [(due, slice body)] for --endpoint-delay
        self.slice_cv = threading.Condition()
        self.slice_stop = False
        self.stopping = threading.Event()
        self.pod_by_ip = {}
        self.api = None
        self.haproxy = self.controller = self.loadgen = self.incluster = None
        self.sock = os.path.join(self.dir, "haproxy.sock")
        self.requests_csv = os.path.join(self.dir, "requests.csv")
        self.incluster_csv = os.path.join(self.dir, "incluster.csv")
        self.lb_events = os.path.join(self.dir, "lb-events.jsonl")
        self.lb_endpoints = os.path.join(self.dir, "lb-endpoints.json")

    # -- pieces --------------------------------------------------------------------------

    def pod_command(self, pod):
        a = self.a
        app = [PYTHON, os.path.join(HERE, "app.py"), "--host", "0.0.0.0", "--port", str(POD_PORT),
               "--name", f"{pod.name} ({pod.ip})", "--work-ms", str(a.work_ms)]
        # Where the binary has the traffic wait (on by default), the fixed waits turn it
        # off: they are the classic preStop sleep and the EndpointSlice wait of before.
        no_traffic = ["--no-wait-traffic"] if a.has_traffic else []
        api = ["--wait-endpoints", "--api-server", self.api.url if self.api else "",
               "--token-file", self.api.token_file if self.api else "",
               "--ca-file", self.api.ca_file if self.api else "",
               "--namespace", NAMESPACE, "--pod-ip", pod.ip, "--pod-name", pod.name]
        if self.config == "none":
            cmd = app
        elif self.config == "delay":
            cmd = [a.lameduck, "--no-wait-endpoints", "--delay", fmt_s(a.delay),
                   "--max-delay", fmt_s(max(a.max_delay, a.delay))] + no_traffic + ["--"] + app
        elif self.config == "endpoints":
            # --delay 0s: no fixed-delay fallback, so that a watcher that did not work
            # shows up as failed requests instead of hiding behind a sleep.
            cmd = [a.lameduck] + api + [
                "--service", SERVICE, "--settle", fmt_s(a.settle), "--max-delay",
                fmt_s(a.max_delay), "--delay", "0s"] + no_traffic + ["--"] + app
        elif self.config == "defaults":
            # Only what a Pod gets from its service account and the downward API
            # (HOST_IP in the environment); every wait is lameduck's default.
            cmd = [a.lameduck] + api + ["--"] + app
        elif self.config == "no-pooled":
            # The defaults, one option away for in-cluster keep-alive clients.
            cmd = [a.lameduck] + api + ["--no-wait-pooled", "--"] + app
        else:   # pooled-peer: the defaults, naming the balancer (HAProxy's source address)
            cmd = [a.lameduck] + api + ["--pooled-peer", netns.LB_IP, "--"] + app
        if a.pidns:
            cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--"] + cmd
        return self.net.exec_in(pod.netns) + cmd

    def start_pod(self):
        n = len(self.pods) + 1
        name = f"web-{self.config}-{n}"
        ip = f"{netns.SUBNET}.{self.next_host}"
        self.next_host += 1
        pod = Pod(name, ip)
        pod.netns = self.net.add_pod(n, ip)
        pod.log = os.path.join(self.dir, "pods", f"{name}.log")
        pod.t_start = time.monotonic()
        env = {"HOST_IP": netns.NODE_IP} if self.config != "none" else {}
        pod.proc = self.procs.start(name, self.pod_command(pod), pod.log, extra_env=env)
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
            wait_for(found, 10, interval=0.005, message=f"PID 1 of pod {name}")
        else:
            pod.pid1 = pod.proc.pid
        if self.a.sidecar_rate > 0:
            # A sidecar container (metrics scraper, mesh agent): loopback requests inside
            # the Pod, a new connection each. They must never hold the drain.
            pod.sidecar = self.procs.start(
                f"{name}-sidecar",
                self.net.exec_in(pod.netns) + [
                    PYTHON, os.path.join(HERE, "loadgen.py"),
                    "--url", f"http://127.0.0.1:{POD_PORT}/", "--rate", str(self.a.sidecar_rate),
                    "--workers", "1", "--new-conn", "--timeout", "1",
                    "--out", os.path.join(self.dir, "pods", f"{name}-sidecar.csv")],
                os.path.join(self.dir, "pods", f"{name}-sidecar.log"))
        self.pods.append(pod)
        self.pod_by_ip[ip] = pod
        return pod

    def end_pod(self, pod, netns_too=False):
        """After the Pod's exit: its sidecar goes. Its network namespace stays until the
        end of the run, so that what is still routed to the Pod IP is refused at once
        (a 503 from HAProxy) instead of timing out, which would slow the open-loop load
        down and hide failures."""
        if pod.sidecar is not None:
            self.procs.stop(pod.sidecar, grace=4)
            pod.sidecar = None
        if netns_too and pod.netns is not None:
            self.net.remove_pod(pod.netns)
            pod.netns = None

    def wait_ready(self, pod):
        """The readiness probe: GET / answers 200."""
        def ready():
            if pod.proc.poll() is not None:
                raise RuntimeError(f"pod {pod.name} exited during startup; see {pod.log}:\n"
                                   + open(pod.log, errors="replace").read())
            return http_ok(pod.ip, POD_PORT, timeout=0.5)
        wait_for(ready, 30, interval=0.05, message=f"pod {pod.name} to answer")
        pod.t_ready = time.monotonic()

    def kubelet_probes(self):
        """The kubelet keeps probing every running Pod, also while it terminates, from the
        node's IP (HOST_IP): a new connection per probe."""
        period = self.a.probe_period
        while not self.stopping.wait(period):
            for pod in list(self.pods):
                if pod.t_ready is not None and pod.t_exit is None and pod.proc.poll() is None:
                    pod.probes.append((time.monotonic(), http_ok(pod.ip, POD_PORT, timeout=0.5)))

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
                                       slots=self.a.slots, pod_port=POD_PORT,
                                       source=netns.LB_IP, mode=HAPROXY_MODES[self.a.lb_mode]))
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
        wait_for(up, 15, message="HAProxy's stats socket")

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
        self.net.create()
        self.net.enter()
        api_dir = os.path.join(self.dir, "fakeapi")
        os.makedirs(api_dir, exist_ok=True)
        for n in os.listdir(a.api_certs):
            shutil.copy2(os.path.join(a.api_certs, n), os.path.join(api_dir, n))
        self.api = FakeApi(dir=api_dir, host=netns.NODE_IP, quiet=True).start()
        self.start_haproxy()
        self.controller = self.procs.start(
            "lbcontroller",
            [PYTHON, os.path.join(HERE, "lbcontroller.py"), "--api-server", self.api.url,
             "--ca-file", self.api.ca_file, "--token-file", self.api.token_file,
             "--namespace", NAMESPACE, "--service", SERVICE, "--haproxy-socket", self.sock,
             "--slots", str(a.slots), "--lag", str(a.lag), "--events", self.lb_events,
             "--endpoints-file", self.lb_endpoints, "--first-at-once"],
            os.path.join(self.dir, "lbcontroller.log"))
        pods = [self.start_pod() for _ in range(a.pods)]
        for pod in pods:
            self.wait_ready(pod)
            self.slice_eps[pod.ip] = endpoint(pod.ip, pod=pod.name, namespace=NAMESPACE)
        self.publish_slice(now=True)
        threading.Thread(target=self.endpoint_controller, daemon=True).start()
        if a.probe_period > 0:
            threading.Thread(target=self.kubelet_probes, daemon=True).start()
        want = {p.ip for p in pods}
        wait_for(lambda: self.lb_servers() == want, a.lag + 15,
                 message="HAProxy to route to all Pods")

    def start_load(self):
        self.t_load = time.monotonic()
        self.loadgen = self.procs.start(
            "loadgen",
            [PYTHON, os.path.join(HERE, "loadgen.py"), "--url", f"http://{self.vip}:{self.lb_port}/",
             "--rate", str(self.a.rate), "--duration", str(self.a.max_run), "--out", self.requests_csv]
            + (["--poisson", "--seed", str(getattr(self.a, "seed", 1))] if getattr(self.a, "poisson", False) else []),
            os.path.join(self.dir, "loadgen.log"))
        if self.a.incluster_rate > 0:
            # In-cluster clients with their own keep-alive pools, routed "by kube-proxy":
            # a new connection goes to an endpoint of the (lagged) rules, an open one stays
            # with its Pod (conntrack) until the app closes it.
            self.incluster = self.procs.start(
                "incluster",
                [PYTHON, os.path.join(HERE, "loadgen.py"), "--endpoints-file", self.lb_endpoints,
                 "--source", netns.CLIENT_IP, "--retry-reused",
                 "--rate", str(self.a.incluster_rate), "--workers", str(self.a.incluster_conns),
                 "--duration", str(self.a.max_run), "--out", self.incluster_csv],
                os.path.join(self.dir, "incluster.log"))

        def started():
            for p, name in ((self.loadgen, "loadgen"), (self.incluster, "incluster")):
                if p is None:
                    continue
                path = os.path.join(self.dir, f"{name}.log")
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited: " + open(path, errors="replace").read())
                with open(path, errors="replace") as f:
                    if "req/s to" not in f.read():
                        return False
            return True
        wait_for(started, 15, message="the load generator")

    def stop_load(self):
        self.procs.stop(self.loadgen, grace=15)
        if self.incluster is not None:
            self.procs.stop(self.incluster, grace=15)
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
        self.end_pod(pod)
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
        wait_for(lambda: not self.slice_queue, self.a.endpoint_delay + 10, interval=0.05,
                 message="the endpoint controller")

    def stop(self):
        self.stopping.set()
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
            self.end_pod(pod, netns_too=True)
        for p in [self.incluster, self.loadgen, self.controller, self.haproxy]:
            if p is not None:
                self.procs.stop(p, grace=3)
        if self.api is not None:
            self.api.stop()
        self.net.destroy()


HAPROXY_MODES = {
    # A new connection to the Pod for every request (HAProxy closes it after the answer).
    "newconn": "option http-server-close\n    http-reuse never",
    # A warm pool of keep-alive connections to the Pods, reused by any request.
    "pool": "option http-keep-alive\n    http-reuse always",
}

HAPROXY_CFG = """\
# The demo's load balancer. No retries, no redispatch, no health checks: like kube-proxy,
# a request routed to a Pod that stopped listening fails (503 when the connection is
# refused, 502 when it is cut), and the client sees it.
global
    stats socket {sock} mode 600 level admin
    stats timeout 30s
    maxconn 4096

defaults
    mode http
    retries 0
    {mode}
    timeout connect 2s
    timeout client 60s
    timeout server 30s
    timeout http-keep-alive 60s

frontend web
    bind {vip}:{port}
    default_backend be

backend be
    balance roundrobin
    source {source}
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
    if config == "endpoints":
        return (f"lameduck --wait-endpoints --settle {fmt_s(a.settle)}"
                + (" --no-wait-traffic" if a.has_traffic else ""))
    if config == "defaults":
        return "lameduck defaults (EndpointSlices + traffic wait)"
    if config == "no-pooled":
        return "lameduck defaults --no-wait-pooled"
    return "lameduck defaults --pooled-peer (HAProxy)"


def run_config(args, config, index, workdir, procs, tag=None):
    tag = tag or config
    log(f"[{tag}] {describe(config, args)}: starting {args.pods} pods, fake API, HAProxy "
        f"({args.lb_mode}), lag {args.lag:g}s")
    w = World(args, config, index, tag, workdir, procs)
    try:
        w.start()
        w.start_load()
        time.sleep(args.warmup)
        log(f"[{tag}] rolling {args.pods} pods one by one")
        w.roll()
        time.sleep(args.cooldown)
        w.stop_load()
    finally:
        w.stop()
    return summarize(args, config, w)


DRAIN_END = (("max-delay", "max-delay"), ("quiet for", "quiet"), ("settle", "settle"),
             ("delay", "delay"))


def chosen_quiet(log_text):
    """The quiet that ended the wait ("quiet for 9.2s since ..."), else the one the traffic
    wait last logged (--quiet auto: "quiet 9.2s: ..."; logged only when it moves by a
    tenth, so it can lag the one in force), or the fixed one ("waiting for traffic to
    stop: 2s quiet"), in seconds; None without."""
    found = re.findall(r"quiet for (\d+(?:\.\d+)?)(ms|s) since ", log_text)
    if not found:
        found = re.findall(r"t=\+\d+ms quiet (\d+(?:\.\d+)?)(ms|s): ", log_text)
    if not found:
        found = re.findall(r"waiting for traffic to stop: (\d+(?:\.\d+)?)(ms|s) quiet", log_text)
    if not found:
        return None
    value, unit = found[-1]
    return float(value) / (1000 if unit == "ms" else 1)


def drain_end(log_text):
    """How lameduck's wait ended, from its log line that sent the stop signal."""
    for line in log_text.splitlines():
        if "lameduck" in line and "sent SIG" in line:
            for needle, what in DRAIN_END:
                if needle in line:
                    return what
            return "other"
    return None


def summarize(args, config, w):
    rows = read_requests(w.requests_csv)
    failed = [r for r in rows if not 200 <= r[2] < 300]
    kinds = {}
    for r in failed:
        k = f"HTTP {r[2]}" if r[2] else (r[3] or "error")
        kinds[k] = kinds.get(k, 0) + 1
    ic_rows = read_requests(w.incluster_csv) if w.incluster is not None else []
    ic_failed = [r for r in ic_rows if not 200 <= r[2] < 300]
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
        text = open(p.log, errors="replace").read() if os.path.exists(p.log) else ""
        side = read_requests(os.path.join(w.dir, "pods", f"{p.name}-sidecar.csv"))
        in_drain = [r for r in side if p.t_term <= r[0] < p.t_exit]
        pods.append({
            "name": p.name, "ip": p.ip,
            "sigterm": round(p.t_term - t0, 3),
            "slice_terminating": round(p.t_slice - t0, 3) if p.t_slice is not None else None,
            "lb_removed": round(removed_at[p.ip] - t0, 3) if p.ip in removed_at else None,
            "exited": round(p.t_exit - t0, 3),
            "exit_code": p.exit_code, "sigkilled": p.killed,
            "drain_end": drain_end(text) if config != "none" else None,
            "quiet_s": chosen_quiet(text),
            "probes_in_drain": sum(1 for t, _ in p.probes if p.t_term <= t < p.t_exit),
            "sidecar_in_drain": sum(1 for r in in_drain if 200 <= r[2] < 300),
            "log": text,
        })
    return {
        "config": config,
        "label": describe(config, args),
        "lag": args.lag,
        "lb_mode": args.lb_mode,
        "incluster_rate": args.incluster_rate,
        "requests": len(rows),
        "failed": len(failed),
        "failures_by_kind": kinds,
        "incluster_requests": len(ic_rows),
        "incluster_failed": len(ic_failed),
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


def make_api_certs(d):
    """A CA and a serving cert for the fake API at the node's IP (the fake API's own
    certificates name only loopback): made once per run, copied into each World."""
    os.makedirs(d, exist_ok=True)

    def openssl(*args):
        r = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr.strip()}")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-sha256"]
    openssl("req", "-x509", *key, "-days", "30", "-keyout", "ca.key", "-out", "ca.crt",
            "-subj", "/CN=demo-ca", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign")
    openssl("req", "-new", *key, "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=kube-apiserver")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write(f"subjectAltName=IP:{netns.NODE_IP},IP:127.0.0.1,DNS:kubernetes.default.svc\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-sha256", "-days", "30", "-extfile", "ext.cnf", "-out", "server.crt")
    for n in os.listdir(d):
        if n not in ("ca.crt", "ca.key", "server.crt", "server.key"):
            os.unlink(os.path.join(d, n))
    return d
