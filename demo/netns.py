# SPDX-License-Identifier: Apache-2.0
"""The demo's network: real TCP between network namespaces, nothing on the host's network.

One configuration's cluster gets a "node" namespace and one namespace per Pod::

    node netns  (PREFIX-node)                        Pod netns (PREFIX-pN), one per Pod
    ┌──────────────────────────────────────┐         ┌────────────────────────────────┐
    │ br0 10.244.0.1  the node (HOST_IP):  │  veth   │ eth0 10.244.0.N   lo 127.0.0.1 │
    │      kubelet probes, the fake API    ├─────────┤ lameduck (PID 1) + app.py      │
    │     10.244.0.2  HAProxy's source     │         │ a loopback "sidecar" client    │
    │     10.244.0.3  in-cluster clients   │         └────────────────────────────────┘
    │ HAProxy, lbcontroller, loadgen, ...  │
    └──────────────────────────────────────┘

Each Pod's network namespace is its own, as in Kubernetes: its TCP counters and sockets are
the Pod's alone, which is what lameduck's traffic wait looks at. The addresses exist only
inside these namespaces, so concurrent runs (CI next to a developer's demo) cannot collide
as long as the namespace names differ: every name starts with a per-run prefix.

The demo process itself enters the node namespace (``enter``: setns on the calling thread,
before it starts any thread or process of that configuration), so the fake API, HAProxy,
the controller, the load and the kubelet's probes all run there; Pods are started through
``nsenter --net``.
"""

import ctypes
import os
import subprocess

SUBNET = "10.244.0"
NODE_IP = f"{SUBNET}.1"     # the node: HOST_IP, kubelet probes, the fake API
LB_IP = f"{SUBNET}.2"       # HAProxy's source address towards the Pods
CLIENT_IP = f"{SUBNET}.3"   # in-cluster clients (reaching the Pods "through kube-proxy")
FIRST_POD_HOST = 10

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def _setns_fd(fd, what):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns({what}): {os.strerror(e)}")


def _setns(path):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns_fd(fd, path)
    finally:
        os.close(fd)


def available():
    """Whether network namespaces can be made here (root / CAP_NET_ADMIN + CAP_SYS_ADMIN)."""
    name = f"demo-probe-{os.getpid()}"
    try:
        ip("netns", "add", name)
    except (RuntimeError, OSError):
        return False
    try:
        ip("netns", "del", name)
    except RuntimeError:
        pass
    return True


class Network:
    def __init__(self, prefix):
        self.prefix = prefix
        self.node = f"{prefix}-node"
        self.pods = {}            # netns name -> veth name in the node netns
        self.created = False
        self._home = None         # this thread's network namespace before enter()

    def exec_in(self, ns):
        """Command prefix that runs a command in netns ``ns``."""
        return ["nsenter", f"--net=/run/netns/{ns}", "--"]

    def create(self):
        ip("netns", "add", self.node)
        self.created = True
        n = self.node
        ip("-n", n, "link", "set", "lo", "up")
        ip("-n", n, "link", "add", "br0", "type", "bridge")
        # A fixed MAC: a bridge otherwise takes the lowest MAC of its ports, so adding a
        # Pod's veth can change it, and the other Pods' ARP entries for the node's
        # addresses go stale: their packets to HAProxy and the API vanish for seconds.
        ip("-n", n, "link", "set", "br0", "address", "02:00:0a:f4:00:01")
        for addr in (NODE_IP, LB_IP, CLIENT_IP):
            ip("-n", n, "addr", "add", f"{addr}/24", "dev", "br0")
        ip("-n", n, "link", "set", "br0", "up")

    def enter(self):
        """Move the calling thread into the node netns (threads and processes it starts
        from now on are there too)."""
        if self._home is None:
            self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        _setns(f"/run/netns/{self.node}")

    def leave(self):
        if self._home is not None:
            _setns_fd(self._home, "the original network namespace")
            os.close(self._home)
            self._home = None

    def add_pod(self, index, addr):
        """A Pod netns with ``addr`` on eth0 (a veth to the node's bridge) and loopback."""
        ns = f"{self.prefix}-p{index}"
        veth = f"vp{index}"
        ip("netns", "add", ns)
        self.pods[ns] = veth
        ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", veth,
           "netns", self.node)
        ip("-n", self.node, "link", "set", veth, "master", "br0", "up")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        return ns

    def remove_pod(self, ns):
        veth = self.pods.pop(ns, None)
        if veth is None:
            return
        for args in (("-n", self.node, "link", "del", veth), ("netns", "del", ns)):
            try:
                ip(*args)
            except RuntimeError:
                pass

    def destroy(self):
        """Remove every namespace made (processes in them must be gone). Idempotent."""
        self.leave()
        for ns in list(self.pods):
            self.remove_pod(ns)
        if self.created:
            try:
                ip("netns", "del", self.node)
            except RuntimeError:
                pass
            self.created = False
