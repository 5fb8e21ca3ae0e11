# SPDX-License-Identifier: Apache-2.0
"""f. lameduck reads a real projected, bound ServiceAccount token: the kubelet's
kube-api-access volume (a token bound to the Pod, expiring, refreshed by the kubelet),
read from the node's disk and checked with a real TokenReview; the drain's API calls
with it succeed."""

import base64
import json
import os
import subprocess

import e2e_kube as k


def claims(token):
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def read_node_file(kube, uid, volume):
    """The token as the kubelet wrote it (a tmpfs in the node's mount namespace)."""
    tried = []
    for d in kube.kubelet_dirs:
        path = os.path.join(d, "pods", uid, "volumes", "kubernetes.io~projected", volume, "token")
        for cmd in ([["cat", path]] + ([["nsenter", f"--mount={kube.mount_ns}", "cat", path]]
                                       if os.path.exists(kube.mount_ns) else [])):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            if r.returncode == 0 and r.stdout.strip():
                return r.stdout.strip()
            tried.append(f"{' '.join(cmd)}: {r.stderr.strip()}")
    raise AssertionError("no token file of the Pod:\n" + "\n".join(tried))


def test_bound_projected_token(kube, ns, workdir):
    spec = k.pod_spec([k.container("app", k.IMAGE_WEB)], sa="web", grace=30)
    kube.apply(ns, k.rbac(ns) + [k.service("tok"), k.deployment("tok", spec, replicas=1)])
    kube.wait_rollout(ns, "tok")
    pod = kube.wait_pods_settled(ns, "app=tok", 1)[0]
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    vols = [v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
    assert vols and "projected" in vols[0], pod["spec"]["volumes"]
    src = [s["serviceAccountToken"] for s in vols[0]["projected"]["sources"]
           if "serviceAccountToken" in s]
    assert src and src[0].get("expirationSeconds"), vols[0]
    token = read_node_file(kube, uid, vols[0]["name"])
    c = claims(token)
    k.log(f"token claims: { {x: c[x] for x in ('iss', 'aud', 'exp', 'iat') if x in c} }, "
          f"kubernetes.io: {c.get('kubernetes.io')}")
    bound = c["kubernetes.io"]
    assert bound["pod"]["name"] == name and bound["pod"]["uid"] == uid, c
    assert bound["serviceaccount"]["name"] == "web", c
    # expiring, not a legacy Secret token: the kubelet asks for 1 h; the API server
    # extends it to a year for old clients (--service-account-extend-token-expiration)
    # and says so in kubernetes.io.warnafter, the real 1 h
    assert c["exp"] > c["iat"], c
    assert bound.get("warnafter", c["exp"]) - c["iat"] <= 3 * 3600 + 600, c
    review = kube.json("create", "-f", "-", input=json.dumps({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
        "spec": {"token": token}}))
    st = review["status"]
    assert st.get("authenticated"), st
    assert st["user"]["username"] == f"system:serviceaccount:{ns}:web", st
    assert st["user"].get("extra", {}).get("authentication.kubernetes.io/pod-name") == [name], st
    logs = k.LogStreams(kube, ns, workdir)
    logs.follow(name)
    try:
        kube.out("delete", "pod", "-n", ns, name, "--wait=false")
        text = logs.text(name, wait=90)
    finally:
        logs.stop()
    s = k.summary_lines(text)
    assert len(s) == 1 and "ended by: slices gone" in s[0], text   # it read the slices with it
    assert "401 Unauthorized" not in text, text   # not a bare "401": "t=+4016ms" has one
