#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The demo's kube-proxy: EndpointSlices in, HAProxy servers out, *late*.

It lists and watches ``discovery.k8s.io/v1`` EndpointSlices of one Service over HTTPS
(bearer token re-read on every request, TLS verified against the CA) exactly like
kube-proxy or an ingress controller does, computes the set of endpoints that may
receive traffic, and applies every change to HAProxy through its runtime API::

    set server be/s3 addr 127.23.5.12 port 8080
    set server be/s3 state ready        # endpoint joined
    set server be/s3 state maint        # endpoint left (connections in flight finish)

Every change is applied ``--lag`` seconds after it was seen: the propagation delay of
real consumers (kube-proxy's sync period and iptables-restore time, an ingress
controller's reload, a cloud load balancer's API) that makes "stop serving at SIGTERM"
drop requests. Changes are applied in order, each one exactly ``lag`` after the API
showed it.

An endpoint receives traffic while ``conditions.ready`` is true or absent and
``conditions.terminating`` is not true -- kube-proxy's rule for a Service's ready
endpoints (a terminating Pod is ``ready: false, serving: true, terminating: true``).

Applied changes are appended to ``--events`` as JSON lines
``{"t": monotonic, "op": "add"|"remove", "ip", "port", "server"}`` for the demo's plot,
and the endpoints in service written to ``--endpoints-file`` (the same lagged rules for
the demo's in-cluster clients, which route like kube-proxy).
Standard library only.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse

USER_AGENT = "demo-lb-controller/1"


def log(msg):
    sys.stderr.write(f"lbcontroller: {msg}\n")
    sys.stderr.flush()


def haproxy(sock_path, command, timeout=5.0):
    """Send one runtime-API command line (several joined by ';'); returns the answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode(errors="replace")
    finally:
        s.close()


def routable(ep):
    c = ep.get("conditions") or {}
    return c.get("ready") is not False and c.get("terminating") is not True


def desired_endpoints(slices, port_name):
    """{(ip, port)} that should receive traffic, from all slices of the Service."""
    out = set()
    for s in slices.values():
        ports = s.get("ports") or []
        port = None
        for p in ports:
            if port_name in ("", p.get("name", "")):
                port = p.get("port")
                break
        if port is None:
            continue
        for ep in s.get("endpoints") or []:
            if routable(ep):
                for ip in ep.get("addresses") or []:
                    out.add((ip, int(port)))
    return out


class Api:
    def __init__(self, url, ca_file, token_file, namespace, service):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 443
        self.ctx = ssl.create_default_context(cafile=ca_file)
        self.token_file = token_file
        self.base = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
        self.selector = urllib.parse.quote(f"kubernetes.io/service-name={service}")

    def get(self, query, timeout):
        with open(self.token_file) as f:
            token = f.read().strip()
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                           context=self.ctx)
        conn.request("GET", f"{self.base}?labelSelector={self.selector}{query}",
                     headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                              "User-Agent": USER_AGENT})
        resp = conn.getresponse()
        if resp.status != 200:
            body = resp.read()[:300]
            conn.close()
            raise RuntimeError(f"HTTP {resp.status}: {body!r}")
        return conn, resp


class Controller:
    def __init__(self, a):
        self.a = a
        self.api = Api(a.api_server, a.ca_file, a.token_file, a.namespace, a.service)
        self.cv = threading.Condition()
        self.pending = []           # [(t_seen, frozenset(endpoints))], in order
        self.stop = threading.Event()
        self.slots = {}             # (ip, port) -> server name, for servers in service
        self.free = [f"s{i}" for i in range(1, a.slots + 1)]
        self.applied = frozenset()
        self.events = open(a.events, "a", buffering=1) if a.events else None

    # -- watching ------------------------------------------------------------------------

    def publish(self, slices):
        want = frozenset(desired_endpoints(slices, self.a.port_name))
        with self.cv:
            last = self.pending[-1][1] if self.pending else self.applied
            if want != last:
                t = time.monotonic()
                if self.a.first_at_once and not self.applied and not self.pending:
                    t -= self.a.lag   # the Service's first endpoints: routed at once
                self.pending.append((t, want))
                self.cv.notify()

    def watch_forever(self):
        while not self.stop.is_set():
            try:
                conn, resp = self.api.get("", timeout=10)
                doc = json.loads(resp.read())
                conn.close()
                slices = {i["metadata"]["name"]: i for i in doc.get("items") or []}
                rv = doc["metadata"]["resourceVersion"]
                self.publish(slices)
                while not self.stop.is_set():
                    rv = self.watch(slices, rv)
                    if rv is None:
                        break   # 410: relist
            except Exception as e:
                if self.stop.is_set():
                    break
                log(f"API error ({e}); retrying in 0.5s")
                self.stop.wait(0.5)

    def watch(self, slices, rv):
        """One watch request; returns the resourceVersion to continue from, None to relist."""
        conn, resp = self.api.get(f"&watch=1&allowWatchBookmarks=true&resourceVersion={rv}"
                                  f"&timeoutSeconds=300", timeout=60)
        try:
            while not self.stop.is_set():
                line = resp.readline()
                if not line:
                    return rv
                if not line.strip():
                    continue
                ev = json.loads(line)
                obj = ev.get("object") or {}
                typ = ev.get("type")
                if typ == "ERROR":
                    if obj.get("code") == 410:
                        return None
                    raise RuntimeError(f"watch error: {obj.get('message')}")
                rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                if typ == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                if typ == "DELETED":
                    slices.pop(name, None)
                else:
                    slices[name] = obj
                self.publish(slices)
            return rv
        finally:
            conn.close()

    # -- applying, late --------------------------------------------------------------------

    def apply_forever(self):
        while True:
            with self.cv:
                while not self.stop.is_set():
                    if self.pending:
                        wait = self.pending[0][0] + self.a.lag - time.monotonic()
                        if wait <= 0:
                            break
                        self.cv.wait(wait)
                    else:
                        self.cv.wait()
                if self.stop.is_set():
                    return
                _, want = self.pending.pop(0)
            try:
                self.apply(want)
            except Exception as e:
                log(f"HAProxy update failed: {e}")

    def apply(self, want):
        cmds, notes = [], []
        for ep in sorted(self.applied - want):
            name = self.slots.pop(ep)
            cmds.append(f"set server {self.a.backend}/{name} state maint")
            self.free.append(name)
            notes.append(("remove", ep, name))
        for ep in sorted(want - self.applied):
            if not self.free:
                log(f"no free server slot for {ep[0]}:{ep[1]} (raise --slots)")
                continue
            name = self.free.pop(0)
            self.slots[ep] = name
            cmds.append(f"set server {self.a.backend}/{name} addr {ep[0]} port {ep[1]}")
            cmds.append(f"set server {self.a.backend}/{name} state ready")
            notes.append(("add", ep, name))
        self.applied = frozenset(self.slots)
        if not cmds:
            return
        answer = haproxy(self.a.haproxy_socket, ";".join(cmds)).strip()
        t = time.monotonic()
        if self.a.endpoints_file:
            # The same rules for the in-cluster clients ("kube-proxy" on their node).
            tmp = f"{self.a.endpoints_file}.tmp"
            with open(tmp, "w") as f:
                json.dump(sorted(f"{ip}:{port}" for ip, port in self.slots), f)
            os.replace(tmp, self.a.endpoints_file)
        for op, (ip, port), name in notes:
            log(f"{op} {ip}:{port} as {self.a.backend}/{name}")
            if self.events:
                self.events.write(json.dumps({"t": t, "op": op, "ip": ip, "port": port,
                                              "server": name}) + "\n")
        if answer and "changed from" not in answer and "no need to change" not in answer:
            log(f"HAProxy said: {answer!r}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--api-server", required=True)
    p.add_argument("--ca-file", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--namespace", default="default")
    p.add_argument("--service", default="web")
    p.add_argument("--port-name", default="http", help="EndpointSlice port to route to ('' = first)")
    p.add_argument("--haproxy-socket", required=True, help="HAProxy stats socket (level admin)")
    p.add_argument("--backend", default="be")
    p.add_argument("--slots", type=int, default=16, help="server-template size of the backend")
    p.add_argument("--lag", type=float, default=2.0, help="propagation lag in seconds")
    p.add_argument("--events", help="append applied changes here (JSON lines)")
    p.add_argument("--first-at-once", action="store_true",
                   help="apply the first endpoints seen without the lag (the cluster was "
                        "running before the demo looked)")
    p.add_argument("--endpoints-file",
                   help="after every change, write the endpoints in service here (JSON list "
                        "of 'ip:port'), for clients that route themselves like kube-proxy")
    a = p.parse_args()

    c = Controller(a)

    def on_signal(signum, frame):
        c.stop.set()
        with c.cv:
            c.cv.notify_all()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=c.watch_forever, daemon=True).start()
    log(f"watching svc/{a.service} in {a.namespace}, applying to HAProxy {a.lag:g}s late")
    c.apply_forever()


if __name__ == "__main__":
    main()
