# SPDX-License-Identifier: Apache-2.0
"""The cluster itself (scripts/cluster.sh): the pinned versions, the API server's
authentication and issuer, and what it promises to leave alone on the host."""

import base64
import json
import os
import re
import subprocess

import e2e_kube as k

STATE = os.environ.get("LAMEDUCK_CLUSTER_DIR", "/var/lib/lameduck-cluster")


def pinned(module_dir, module):
    with open(os.path.join(k.ROOT, "cluster", module_dir, "go.mod")) as f:
        m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", f.read(), re.M)
    assert m, f"{module} not in cluster/{module_dir}/go.mod"
    return m.group(1)


def sh(*args, netns=None):
    if netns:
        args = ("ip", "netns", "exec", netns, *args)
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_versions_are_the_pinned_ones(kube):
    kubernetes = pinned("kube", "k8s.io/kubernetes")
    containerd = pinned("containerd", "github.com/containerd/containerd/v2")
    assert kube.json("version")["serverVersion"]["gitVersion"] == kubernetes
    info = kube.json("get", "node", "ldk-node")["status"]["nodeInfo"]
    assert info["kubeletVersion"] == kubernetes
    assert info["kubeProxyVersion"] in ("", kubernetes)  # deprecated field, may be empty
    assert info["containerRuntimeVersion"] == f"containerd://{containerd.lstrip('v')}"


def test_service_account_tokens_carry_the_issuer(kube):
    token = kube.out("create", "token", "default", "-n", "default").strip()
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert claims["sub"] == "system:serviceaccount:default:default"


def test_node_authorization_limits_the_kubelet(kube):
    # The kubelet's identity (system:node:ldk-node, Node authorizer) may read its own Node
    # but not list Secrets cluster-wide; RBAC alone would refuse it both or neither.
    def can(*args):
        r = kube.run("auth", "can-i", *args, "--as", "system:node:ldk-node",
                     "--as-group", "system:nodes", check=False)
        return r.stdout.strip()
    assert can("get", "node/ldk-node") == "yes"
    # "no - node: can only read namespaced object of this type": the Node authorizer's answer
    assert can("list", "secrets", "--all-namespaces").startswith("no - node:")


def test_kube_proxy_rules_live_in_the_node_not_on_the_host(kube):
    node = sh("iptables-save", "-t", "nat", netns=kube.node_netns).stdout
    node += sh("nft", "list", "tables", netns=kube.node_netns).stdout
    assert "KUBE-SERVICES" in node or "table ip kube-proxy" in node
    host = sh("iptables-save", "-t", "nat").stdout + sh("nft", "list", "tables").stdout
    assert "KUBE-SERVICES" not in host and "kube-proxy" not in host


def test_the_host_keeps_its_kernel_tunables(kube):
    # scripts/cluster.sh wrote the host's values at `up`; the kubelet sets these at start
    # unless the node's mount namespace shows it its own values.
    with open(os.path.join(kube.env.get("LAMEDUCK_CLUSTER_DIR", STATE), "sysctl", "host")) as f:
        recorded = dict(line.split() for line in f if line.strip())
    assert "kernel/panic_on_oops" in recorded
    for key, value in recorded.items():
        with open(f"/proc/sys/{key}") as f:
            assert f.read().strip() == value, key


def test_no_node_mount_reaches_the_host(kube):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    state = kube.env.get("LAMEDUCK_CLUSTER_DIR", STATE)
    run = os.path.dirname(os.path.dirname(kube.mount_ns))  # .../ns/mnt -> the run directory
    leaked = [p for p in points if p.startswith(state) or (
        p.startswith(run + "/") and not p.startswith(run + "/ns"))]
    assert leaked == []
