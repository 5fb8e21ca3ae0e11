# SPDX-License-Identifier: Apache-2.0
"""a. Every manifest in examples/ through the real API server: `kubectl apply
--dry-run=server` (admission and validation, the FlowSchema too), then each Deployment
example for real, with the local images in place of the registry's (lameduck and its
options, the ServiceAccount, probes, security context and hooks as the example has them;
the app is the test app on the example's port) until the rollout is available."""

import glob
import json
import os

import pytest
import yaml

import e2e_kube as k

MANIFESTS = sorted(glob.glob(os.path.join(k.ROOT, "examples", "**", "*.yaml"), recursive=True))
DEPLOYMENTS = [m for m in MANIFESTS
               if any(d and d.get("kind") == "Deployment" for d in yaml.safe_load_all(open(m)))]


def rel(path):
    return os.path.relpath(path, k.ROOT)


def test_examples_found():
    assert any(m.endswith("flowschema.yaml") for m in MANIFESTS), MANIFESTS
    assert len(DEPLOYMENTS) >= 5, DEPLOYMENTS


@pytest.mark.parametrize("manifest", MANIFESTS, ids=rel)
def test_dry_run_server(kube, ns, manifest):
    out = kube.out("apply", "--dry-run=server", "-n", ns, "-f", manifest)
    k.log(f"{rel(manifest)}: {out.strip()}")
    kinds = [d["kind"] for d in yaml.safe_load_all(open(manifest)) if d]
    assert out.count("(server dry run)") == len(kinds), out


def localize(doc, ns):
    """A Deployment example with the local images; the app on the example's port."""
    spec = doc["spec"]["template"]["spec"]
    doc["spec"]["replicas"] = 1
    for c in spec.get("initContainers", []):
        if "lameduck" in c["image"]:
            c["image"] = k.IMAGE_LAMEDUCK
        c["imagePullPolicy"] = "Never"
    for c in spec["containers"]:
        port = str((c.get("ports") or [{"containerPort": 8080}])[0]["containerPort"])
        cmd = c.get("command") or []
        if "--" in cmd and "lameduck" in cmd[0]:
            # lameduck and its options as in the example, then the test app
            c["command"] = cmd[:cmd.index("--") + 1] + ["/app", port]
            c["image"] = k.IMAGE_WEB if cmd[0] == "/lameduck" else k.IMAGE_APP
        elif (c.get("lifecycle") or {}).get("preStop"):
            # another PID 1 (prestop-only): the app; the hook runs lameduck from the image
            c["command"] = ["/app", port]
            c["image"] = k.IMAGE_WEB
            hook = c["lifecycle"]["preStop"]["exec"]["command"]
            if hook[0].endswith("/lameduck"):
                hook[0] = "/lameduck"
        else:
            # lameduck in the image's ENTRYPOINT (distroless, jvm)
            c["command"] = ["/lameduck", "--", "/app", port]
            c["image"] = k.IMAGE_WEB
        c.pop("args", None)
        c["imagePullPolicy"] = "Never"
        c.pop("resources", None)
    return doc


@pytest.mark.parametrize("manifest", DEPLOYMENTS, ids=rel)
def test_deployment_runs(kube, ns, manifest):
    docs = [d for d in yaml.safe_load_all(open(manifest)) if d]
    for d in docs:
        if d["kind"] == "RoleBinding":
            for s in d["subjects"]:
                s["namespace"] = ns
    docs = [localize(d, ns) if d["kind"] == "Deployment" else d for d in docs]
    names = [d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"]
    sas = {d["spec"]["template"]["spec"].get("serviceAccountName") for d in docs
           if d["kind"] == "Deployment"} - {None}
    have = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
    extra = []
    for sa in sorted(sas - have):
        extra += k.rbac(ns, sa)   # the example says: also apply ../rbac.yaml
    kube.apply(ns, extra + docs)
    for name in names:
        try:
            kube.wait_rollout(ns, name, timeout=180)
        except AssertionError:
            pods = kube.out("get", "pods", "-n", ns, "-o", "wide")
            events = kube.out("get", "events", "-n", ns, "--sort-by=.lastTimestamp")
            raise AssertionError(f"{rel(manifest)}: {name} not available:\n{pods}\n{events}")
        pods = kube.json("get", "pods", "-n", ns)["items"]
        k.log(f"{rel(manifest)}: {name} available: " +
              json.dumps([(p["metadata"]["name"], p["status"]["phase"]) for p in pods]))
