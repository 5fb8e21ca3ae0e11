#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The demo on the real one-node cluster (``scripts/demo.sh --cluster``).

The configurations of ``demo/run.py`` (``none``: the app alone; ``delay``: lameduck
--delay 15s; ``endpoints``: the EndpointSlice wait + --settle; ``defaults``: lameduck's
defaults), each as a real Deployment rolled with ``kubectl rollout restart`` on the
cluster of ``scripts/cluster.sh``: real kubelet, containerd, EndpointSlice controller
and kube-proxy. The Pods run the e2e images (``scripts/e2e-images.sh``: the test app,
alone or under lameduck as PID 1).

Traffic takes two roads at once, both from the namespace outside the node:

* through HAProxy in the node, fed from the real EndpointSlices by ``lbcontroller.py``
  with ``--lag`` (an ingress or cloud load balancer that follows late); ``requests`` and
  ``failed`` of the summary are this road, as in ``run.py``;
* through the Service's ClusterIP (the real kube-proxy's iptables rules), a new
  connection per request.

Writes the table, ``results.md``, ``rollout.png`` and ``summary.json`` into ``--out``,
and ``--json FILE``: the summary of ``run.py --json`` (``results``: ``config``,
``requests``, ``failed``, ``mean_per_pod_s``, ...).
"""

import argparse
import base64
import json
import os
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
sys.path[:0] = [HERE, os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "e2e")]

import e2e_kube as k  # noqa: E402
import lbcontroller  # noqa: E402
from cluster import HAPROXY_CFG, HAPROXY_MODES, read_requests  # noqa: E402
from report import write_plot  # noqa: E402
from support.durations import parse_duration  # noqa: E402

CONFIGS = ["none", "delay", "endpoints", "defaults"]
PORT = 8080
LB_PORT = 18080


def log(msg):
    sys.stderr.write(f"demo: {msg}\n")
    sys.stderr.flush()


def fmt_s(x):
    return f"{x:g}s"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="The demo's rollouts on the real one-node cluster "
                                            "(scripts/cluster.sh up first).")
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--pods", type=int, default=3)
    p.add_argument("--rate", type=float, default=50, help="requests/s on each road (50)")
    p.add_argument("--lag", type=parse_duration, default=8.0,
                   help="how late HAProxy follows the EndpointSlices (8s)")
    p.add_argument("--lb-mode", choices=sorted(HAPROXY_MODES), default="pool")
    p.add_argument("--settle", type=parse_duration, default=5.0)
    p.add_argument("--delay", type=parse_duration, default=15.0)
    p.add_argument("--max-delay", type=parse_duration, default=25.0)
    p.add_argument("--grace", type=int, default=40)
    p.add_argument("--warmup", type=parse_duration, default=3.0)
    p.add_argument("--out", default=os.path.join(HERE, "results-cluster"))
    p.add_argument("--json")
    p.add_argument("--bin", type=parse_duration, default=1.0)
    p.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    p.add_argument("--no-images", dest="images", action="store_false",
                   help="do not run scripts/e2e-images.sh first")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    a = p.parse_args(argv)
    a.configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    bad = [c for c in a.configs if c not in CONFIGS]
    if bad:
        p.error(f"unknown configuration(s) {bad}; choose from {CONFIGS}")
    return a


def describe(config, a):
    return {"none": "app alone (no lameduck)",
            "delay": f"lameduck --delay {fmt_s(a.delay)}",
            "endpoints": f"lameduck --wait-endpoints --settle {fmt_s(a.settle)} --no-wait-traffic",
            "defaults": "lameduck defaults (EndpointSlices + traffic wait)"}[config]


def command(config, a):
    app = ["/app", str(PORT)]
    if config == "none":
        return app
    if config == "delay":
        return ["/lameduck", "--no-wait-endpoints", "--delay", fmt_s(a.delay), "--max-delay",
                fmt_s(max(a.max_delay, a.delay)), "--no-wait-traffic", "--"] + app
    if config == "endpoints":
        # --delay 0s: a watch that does not work shows as failed requests
        return ["/lameduck", "--wait-endpoints", "--service", "web", "--settle",
                fmt_s(a.settle), "--max-delay", fmt_s(a.max_delay), "--delay", "0s",
                "--no-wait-traffic", "--"] + app
    return ["/lameduck", "--"] + app


class PodWatch(threading.Thread):
    """Polls the Deployment's Pods: when each one was marked for deletion and went away."""

    def __init__(self, kube, ns):
        super().__init__(daemon=True)
        self.kube, self.ns = kube, ns
        self.marked, self.gone, self.ips = {}, {}, {}
        self.known = set()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            r = self.kube.run("get", "pods", "-n", self.ns, "-l", "app=web", "-o", "json",
                              check=False, timeout=30)
            now = time.monotonic()
            if r.returncode == 0:
                pods = json.loads(r.stdout)["items"]
                seen = set()
                for p in pods:
                    name = p["metadata"]["name"]
                    seen.add(name)
                    self.known.add(name)
                    if p["status"].get("podIP"):
                        self.ips[name] = p["status"]["podIP"]
                    if p["metadata"].get("deletionTimestamp") and name not in self.marked:
                        self.marked[name] = now
                for name in self.known - seen:
                    self.gone.setdefault(name, now)
            self.stop.wait(0.3)


def api_access(kube, ns, d):
    """URL, CA file and token file for lbcontroller.py (ServiceAccount web's token)."""
    cfg = json.loads(kube.out("config", "view", "--raw", "--minify", "-o", "json"))
    cluster = cfg["clusters"][0]["cluster"]
    ca = os.path.join(d, "ca.crt")
    if cluster.get("certificate-authority-data"):
        with open(ca, "wb") as f:
            f.write(base64.b64decode(cluster["certificate-authority-data"]))
    else:
        shutil.copy(cluster["certificate-authority"], ca)
    token = os.path.join(d, "token")
    with open(token, "w") as f:
        f.write(kube.out("create", "token", "web", "-n", ns, "--duration", "2h").strip())
    return cluster["server"], ca, token


def run_config(a, kube, config, workdir):
    d = os.path.join(workdir, config)
    os.makedirs(d)
    ns = k.new_namespace(kube, f"demo-{config}")
    procs = []
    logs = None
    watch = PodWatch(kube, ns)
    try:
        image = k.IMAGE_APP if config == "none" else k.IMAGE_WEB
        c = k.container("app", image, command=command(config, a))
        spec = k.pod_spec([c], sa="web", grace=a.grace)
        kube.apply(ns, k.rbac(ns) + [k.service("web"), k.deployment("web", spec, a.pods)])
        kube.wait_rollout(ns, "web")
        old = [p["metadata"]["name"] for p in kube.wait_pods_settled(ns, "app=web", a.pods)]
        vip = kube.service_ip(ns, "web")
        k.wait_traffic_ok(None, kube, kube.outside_netns, f"http://{vip}/")

        # HAProxy in the node, fed by lbcontroller.py from the real API, --lag late
        sock = os.path.join(d, "haproxy.sock")
        cfg = os.path.join(d, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(sock=sock, vip="0.0.0.0", port=LB_PORT,
                                       slots=2 * a.pods + 4, pod_port=PORT, source="0.0.0.0",
                                       mode=HAPROXY_MODES[a.lb_mode]))
        node = kube.netns_cmd(kube.node_netns)
        procs.append(subprocess.Popen(node + [a.haproxy, "-db", "-f", cfg],
                                      stdout=open(os.path.join(d, "haproxy.log"), "w"),
                                      stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 20
        while True:
            try:
                if "Name: HAProxy" in lbcontroller.haproxy(sock, "show info"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or procs[-1].poll() is not None:
                raise RuntimeError("HAProxy did not start: " +
                                   open(os.path.join(d, "haproxy.log")).read())
            time.sleep(0.2)
        url, ca, token = api_access(kube, ns, d)
        events = os.path.join(d, "lb-events.jsonl")
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(HERE, "lbcontroller.py"), "--api-server", url,
             "--ca-file", ca, "--token-file", token, "--namespace", ns, "--service", "web",
             "--haproxy-socket", sock, "--slots", str(2 * a.pods + 4), "--lag", str(a.lag),
             "--events", events, "--first-at-once"],
            stdout=open(os.path.join(d, "lbcontroller.log"), "w"), stderr=subprocess.STDOUT))
        node_ip = kube.env.get("LAMEDUCK_CLUSTER_NODE_IP", "127.0.0.1")
        lb_url = f"http://{node_ip}:{LB_PORT}/"
        k.wait_traffic_ok(None, kube, kube.outside_netns, lb_url, timeout=60)

        outside = kube.netns_cmd(kube.outside_netns)
        lb_csv, vip_csv = os.path.join(d, "lb.csv"), os.path.join(d, "clusterip.csv")
        loadgen = os.path.join(HERE, "loadgen.py")
        gens = [subprocess.Popen(outside + [sys.executable, loadgen, "--url", lb_url, "--rate",
                                            str(a.rate), "--out", lb_csv],
                                 stderr=open(os.path.join(d, "loadgen-lb.log"), "w")),
                subprocess.Popen(outside + [sys.executable, loadgen, "--url", f"http://{vip}/",
                                            "--rate", str(a.rate), "--new-conn", "--out", vip_csv],
                                 stderr=open(os.path.join(d, "loadgen-clusterip.log"), "w"))]
        procs += gens
        logs = k.LogStreams(kube, ns, d)
        for p in old:
            logs.follow(p)
        watch.start()
        time.sleep(a.warmup)
        log(f"[{config}] rolling {a.pods} Pods (kubectl rollout restart)")
        t_roll = time.monotonic()
        kube.out("rollout", "restart", "-n", ns, "deployment/web")
        kube.wait_rollout(ns, "web", timeout=600)
        kube.wait_pods_settled(ns, "app=web", a.pods, timeout=600)
        t_roll_end = time.monotonic()
        time.sleep(a.lag + 2)
        for g in gens:
            g.send_signal(signal.SIGTERM)
        for g in gens:
            g.wait(60)
        watch.stop.set()
        texts = {p: logs.text(p) for p in old}
    finally:
        watch.stop.set()
        if logs:
            logs.stop()
        for p in reversed(procs):
            k.stop_process(p)
        kube.run("delete", "namespace", ns, "--wait=false", check=False)

    rows, vip_rows = read_requests(lb_csv), read_requests(vip_csv)
    failed = [r for r in rows if not 200 <= r[2] < 300]
    vip_failed = [r for r in vip_rows if not 200 <= r[2] < 300]
    kinds = {}
    for r in failed:
        key = f"HTTP {r[2]}" if r[2] else (r[3] or "error")
        kinds[key] = kinds.get(key, 0) + 1
    t0 = rows[0][0] if rows else t_roll
    lb = []
    if os.path.exists(events):
        with open(events) as f:
            lb = [json.loads(line) for line in f if line.strip()]
    removed_at = {e["ip"]: e["t"] for e in lb if e["op"] == "remove"}
    pods, per_pod = [], []
    for name in old:
        term, gone = watch.marked.get(name), watch.gone.get(name)
        ip = watch.ips.get(name, "")
        if term is not None and gone is not None:
            per_pod.append(gone - term)
        text = texts.get(name, "")
        pods.append({"name": name, "ip": ip,
                     "sigterm": round(term - t0, 3) if term else None,
                     "slice_terminating": None,
                     "lb_removed": round(removed_at[ip] - t0, 3) if ip in removed_at else None,
                     "exited": round(gone - t0, 3) if gone else None,
                     "exit_code": None, "sigkilled": False,
                     "drain_summary": (k.summary_lines(text) or [None])[0],
                     "log": text})
    return {"config": config, "label": describe(config, a), "lag": a.lag,
            "lb_mode": a.lb_mode, "requests": len(rows), "failed": len(failed),
            "failures_by_kind": kinds,
            "clusterip_requests": len(vip_rows), "clusterip_failed": len(vip_failed),
            "rollout_s": round(t_roll_end - t_roll, 3),
            "mean_per_pod_s": round(statistics.mean(per_pod), 3) if per_pod else None,
            "max_per_pod_s": round(max(per_pod), 3) if per_pod else None,
            "load_s": round(rows[-1][0] - t0, 3) if rows else 0,
            "roll_start": round(t_roll - t0, 3), "roll_end": round(t_roll_end - t0, 3),
            "pods": pods, "_rows": [(r[0] - t0, r[2]) for r in rows]}


def table(results, a):
    head = ["configuration", f"via HAProxy (lag {a.lag:g} s)", "failed", "via ClusterIP",
            "failed", "rollout", "per pod (deletion to gone)"]
    lines = []
    for r in results:
        def pct(f, n):
            return f"{f} ({100.0 * f / n if n else 0.0:.1f}%)"
        per = (f"{r['mean_per_pod_s']:.1f} s (max {r['max_per_pod_s']:.1f} s)"
               if r["mean_per_pod_s"] is not None else "-")
        lines.append([r["label"], str(r["requests"]), pct(r["failed"], r["requests"]),
                      str(r["clusterip_requests"]),
                      pct(r["clusterip_failed"], r["clusterip_requests"]),
                      f"{r['rollout_s']:.1f} s", per])
    widths = [max(len(head[i]), *(len(ln[i]) for ln in lines)) for i in range(len(head))]

    def row(cells):
        return "| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                 for i, c in enumerate(cells)) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ("-" if i == 0 else ":")
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([row(head), sep] + [row(ln) for ln in lines])


def versions(kube):
    out = []
    try:
        v = json.loads(kube.out("version", "-o", "json"))
        out.append(f"Kubernetes {v['serverVersion']['gitVersion']} (kube-apiserver, kubelet, "
                   f"kube-proxy iptables)")
        node = kube.json("get", "nodes")["items"][0]["status"]["nodeInfo"]
        out.append(f"kubelet {node['kubeletVersion']}, {node['containerRuntimeVersion']}")
    except (AssertionError, KeyError, IndexError, ValueError):
        pass
    r = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/lameduck", k.IMAGE_WEB,
                        "version"], capture_output=True, text=True, timeout=60)
    if r.returncode == 0:
        out.append(r.stdout.strip().splitlines()[0])
    out.append(f"Linux {os.uname().release}, {os.cpu_count()} CPUs")
    return out


def main(argv=None):
    a = parse_args(argv)
    env = k.cluster_env()
    if env is None:
        sys.exit("demo: no cluster (scripts/cluster.sh up first)")
    kube = k.Kube(env)
    if not os.access(a.haproxy, os.X_OK):
        sys.exit("demo: haproxy not found (apt-get install haproxy)")
    if a.images:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "e2e-images.sh")], env=env,
                       check=True)
    workdir = tempfile.mkdtemp(prefix="lameduck-demo-k8s-")
    t_begin = time.monotonic()
    results = []
    ok = False
    try:
        for config in a.configs:
            log(f"[{config}] {describe(config, a)}: {a.pods} Pods, {a.rate:g} requests/s via "
                f"HAProxy (lag {a.lag:g}s) and via the ClusterIP")
            results.append(run_config(a, kube, config, workdir))
            r = results[-1]
            log(f"[{config}] HAProxy: {r['requests']} requests, {r['failed']} failed; "
                f"ClusterIP: {r['clusterip_requests']} requests, {r['clusterip_failed']} "
                f"failed; rollout {r['rollout_s']:.1f}s")
        ok = True
    finally:
        if a.keep or not ok:
            log(f"work directory kept: {workdir}")
    os.makedirs(a.out, exist_ok=True)
    text = table(results, a)
    png = None
    data_dir = os.path.join(workdir, "plot")
    os.makedirs(data_dir, exist_ok=True)
    try:
        plotted = [dict(r, pods=[p for p in r["pods"] if p["sigterm"] is not None and
                                 p["exited"] is not None]) for r in results]
        png = write_plot(plotted, a.out, a.bin, data_dir, a.rate)
    except Exception as e:  # noqa: BLE001 -- the plot is optional
        log(f"no plot: {e}")
    vers = versions(kube)
    cmdline = os.environ.get("DEMO_CMDLINE") or "demo/k8s.py " + " ".join(sys.argv[1:])
    md = ["# lameduck on a real one-node Kubernetes cluster", "",
          f"Command: `{cmdline}`", "", "Versions: " + "; ".join(vers) + ".", "",
          f"{a.pods} Pods rolled with `kubectl rollout restart` (maxSurge 1, maxUnavailable "
          f"0); {a.rate:g} requests/s from outside the node through HAProxy ({a.lb_mode}, fed "
          f"from the real EndpointSlices {a.lag:g} s late) and {a.rate:g} requests/s through "
          "the ClusterIP (kube-proxy, iptables; a new connection per request).", "",
          text, ""]
    if png:
        md += [f"![rollout]({os.path.basename(png)})", ""]
    for r in results:
        md += [f"## {r['label']}", ""]
        for p in r["pods"]:
            if p["drain_summary"]:
                md += [f"- {p['name']}: `{p['drain_summary'].split(' info: ')[-1]}`"]
        md += [""]
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(md))
    summary = {"params": {"pods": a.pods, "rate": a.rate, "lag": a.lag, "settle": a.settle,
                          "delay": a.delay, "cluster": True, "versions": vers},
               "results": [{key: v for key, v in r.items() if not key.startswith("_")}
                           for r in results]}
    for path in filter(None, [os.path.join(a.out, "summary.json"), a.json]):
        with open(path, "w") as f:
            json.dump(summary, f, indent=2)
    if not a.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(text)
    print()
    print(f"results: {os.path.join(a.out, 'results.md')}" + (f", plot: {png}" if png else "") +
          f"  ({time.monotonic() - t_begin:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
