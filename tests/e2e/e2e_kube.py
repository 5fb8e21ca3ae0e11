# SPDX-License-Identifier: Apache-2.0
"""Helpers of the end-to-end tests: kubectl against the one-node cluster, manifests of the
test Deployments, log streams and the traffic clients in the cluster's network namespaces.

Everything is a real call: kubectl to the real API server, Pods run by the real kubelet.
"""

import copy
import json
import os
import secrets
import shlex
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "build-e2e", "results")

IMAGE_LAMEDUCK = "lameduck.local/lameduck:e2e"
IMAGE_APP = "lameduck.local/app:e2e"
IMAGE_WEB = "lameduck.local/web:e2e"   # ENTRYPOINT ["/lameduck", "--", "/app"]
APP_PORT = 8080


def log(msg):
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cluster_env():
    """KUBECONFIG and the cluster's other variables: the environment, else `cluster.sh env`."""
    env = dict(os.environ)
    if env.get("KUBECONFIG") and os.path.exists(env["KUBECONFIG"].split(":")[0]):
        return env
    script = os.path.join(ROOT, "scripts", "cluster.sh")
    if not os.path.exists(script):
        return None
    r = subprocess.run(["bash", script, "env"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return None
    for line in r.stdout.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "export":
            words = words[1:]
        for w in words:
            if "=" in w:
                k, v = w.split("=", 1)
                env[k] = v
    return env if env.get("KUBECONFIG") else None


class Kube:
    def __init__(self, env):
        self.env = env
        self.node_netns = env.get("LAMEDUCK_CLUSTER_NODE_NETNS", "")
        self.outside_netns = env.get("LAMEDUCK_CLUSTER_OUTSIDE_NETNS", "")
        self.kubelet_dirs = [d for d in (env.get("LAMEDUCK_CLUSTER_KUBELET_DIR"),
                                         "/var/lib/lameduck-cluster/kubelet",
                                         "/var/lib/kubelet") if d]
        # the node's mount namespace (scripts/cluster.sh keeps the kubelet's mounts there)
        self.mount_ns = env.get("LAMEDUCK_CLUSTER_MOUNT_NS", "/run/lameduck-cluster/ns/mnt")

    def run(self, *args, input=None, check=True, timeout=120):
        r = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True,
                           env=self.env, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({r.returncode}):\n"
                                 f"{r.stdout}{r.stderr}")
        return r

    def out(self, *args, **kw):
        return self.run(*args, **kw).stdout

    def json(self, *args, **kw):
        return json.loads(self.out(*args, "-o", "json", **kw))

    def apply(self, ns, objects, *extra):
        doc = {"apiVersion": "v1", "kind": "List", "items": objects}
        return self.out("apply", "-n", ns, *extra, "-f", "-", input=json.dumps(doc))

    def pods(self, ns, selector):
        return self.json("get", "pods", "-n", ns, "-l", selector)["items"]

    def wait_rollout(self, ns, name, timeout=300):
        self.out("rollout", "status", "-n", ns, f"deployment/{name}", f"--timeout={timeout}s",
                 timeout=timeout + 30)

    def wait_pods_settled(self, ns, selector, count, timeout=240):
        """Until exactly `count` Pods match, all Ready, none terminating."""
        deadline = time.monotonic() + timeout
        while True:
            pods = self.pods(ns, selector)
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            ready = [p for p in live if is_ready(p)]
            if len(pods) == count and len(ready) == count:
                return pods
            if time.monotonic() > deadline:
                raise AssertionError(f"Pods {selector} not settled after {timeout}s: " +
                                     ", ".join(f"{p['metadata']['name']}:"
                                               f"{p['status'].get('phase')}"
                                               f"{'(deleting)' if p['metadata'].get('deletionTimestamp') else ''}"
                                               for p in pods))
            time.sleep(1)

    def wait_gone(self, ns, kind_name, timeout=180):
        self.run("wait", "-n", ns, "--for=delete", kind_name, f"--timeout={timeout}s",
                 check=False, timeout=timeout + 30)

    def service_ip(self, ns, name):
        return self.json("get", "service", "-n", ns, name)["spec"]["clusterIP"]

    def netns_cmd(self, netns):
        return ["ip", "netns", "exec", netns] if netns else []


def is_ready(pod):
    for c in pod.get("status", {}).get("conditions") or []:
        if c["type"] == "Ready":
            return c["status"] == "True"
    return False


def new_namespace(kube, prefix):
    ns = f"e2e-{prefix}-{secrets.token_hex(2)}"
    kube.out("create", "namespace", ns)
    # the namespace's default ServiceAccount must exist before a Pod can be created
    deadline = time.monotonic() + 60
    while kube.run("get", "serviceaccount", "-n", ns, "default", check=False).returncode:
        if time.monotonic() > deadline:
            raise AssertionError(f"no default ServiceAccount in {ns} after 60s")
        time.sleep(0.5)
    return ns


# ---------------------------------------------------------------- manifests

def downward_env():
    def field(name, path):
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}
    return [field("POD_NAME", "metadata.name"), field("POD_NAMESPACE", "metadata.namespace"),
            field("POD_IP", "status.podIP"), field("POD_IPS", "status.podIPs"),
            field("HOST_IP", "status.hostIP")]


def rbac(ns, sa="web"):
    """examples/rbac.yaml for namespace ns (its RoleBinding names the subject's namespace)."""
    import yaml
    with open(os.path.join(ROOT, "examples", "rbac.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    for d in docs:
        if d["kind"] == "ServiceAccount":
            d["metadata"]["name"] = sa
        if d["kind"] == "RoleBinding":
            d["metadata"]["name"] = f"{sa}-lameduck-endpointslice-reader"
            for s in d["subjects"]:
                s["namespace"] = ns
                s["name"] = sa
    return docs


def service(name, port=80):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": port, "targetPort": "http"}]}}


def container(name, image, env=(), command=None, args=None, prestop=None):
    c = {"name": name, "image": image, "imagePullPolicy": "Never",
         "env": downward_env() + list(env),
         "ports": [{"name": "http", "containerPort": APP_PORT}],
         "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                            "periodSeconds": 5, "failureThreshold": 1},
         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
    if command:
        c["command"] = command
    if args:
        c["args"] = args
    if prestop:
        c["lifecycle"] = {"preStop": {"exec": {"command": prestop}}}
    return c


def pod_spec(containers, sa=None, grace=40, init=None, volumes=None):
    spec = {"containers": containers, "terminationGracePeriodSeconds": grace,
            "enableServiceLinks": False}
    if sa:
        spec["serviceAccountName"] = sa
    if init:
        spec["initContainers"] = init
    if volumes:
        spec["volumes"] = volumes
    return spec


def deployment(name, spec, replicas=3):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": copy.deepcopy(spec)}}}


def bare_pod(name, spec, labels=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}}, "spec": spec}


# ---------------------------------------------------------------- logs and traffic

class LogStreams:
    """`kubectl logs -f --timestamps` of Pods, from before they are deleted to their end."""

    def __init__(self, kube, ns, workdir):
        self.kube, self.ns, self.dir = kube, ns, workdir
        self.procs = {}

    def follow(self, pod, container=None):
        if pod in self.procs:
            return
        path = os.path.join(self.dir, f"{pod}.log")
        f = open(path, "w")
        cmd = ["kubectl", "logs", "-f", "--timestamps", "-n", self.ns, pod]
        if container:
            cmd += ["-c", container]
        self.procs[pod] = (subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT,
                                            env=self.kube.env), path, f)

    def text(self, pod, wait=30):
        p, path, f = self.procs[pod]
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            p.terminate()
            p.wait(10)
        f.close()
        with open(path) as fh:
            return fh.read()

    def stop(self):
        for p, _, f in self.procs.values():
            stop_process(p)
            f.close()


def stop_process(p, grace=10):
    """SIGTERM a process still running, and SIGKILL it after grace seconds."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()

class Client:
    """client.py in a network namespace (the node's or outside it), stopped with SIGTERM."""

    def __init__(self, kube, netns, url, out, rate=50, keepalive=False, conns=4):
        self.out = out
        cmd = kube.netns_cmd(netns) + ["python3", os.path.join(HERE, "client.py"), url,
                                       "--rate", str(rate), "--out", out]
        if keepalive:
            cmd += ["--keepalive", "--conns", str(conns)]
        log(f"client: {' '.join(cmd)}")
        self.proc = subprocess.Popen(cmd)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        with open(self.out) as f:
            return [json.loads(line) for line in f if line.strip()]


def wait_traffic_ok(client_out_probe, kube, netns, url, timeout=90):
    """Until one request through the Service answers (kube-proxy has the rules)."""
    deadline = time.monotonic() + timeout
    cmd = kube.netns_cmd(netns) + ["python3", "-c",
                                   "import sys,urllib.request;"
                                   f"print(urllib.request.urlopen('{url}', timeout=3).read())"]
    while True:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} unreachable from netns {netns or '(host)'} after "
                                 f"{timeout}s: {r.stderr.strip()[-300:]}")
        time.sleep(1)


def summary_lines(text):
    return [line for line in text.splitlines() if "drain summary:" in line]


def write_result(name, data):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"{name}.json")
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    return path
