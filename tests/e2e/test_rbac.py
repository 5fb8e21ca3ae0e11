# SPDX-License-Identifier: Apache-2.0
"""d. RBAC through the real API server: without the Role, the list of EndpointSlices is
403, lameduck falls back to --delay and its log names the missing permission; with the
Role (examples/rbac.yaml) it waits on the slices."""

import e2e_kube as k


def drain(kube, ns, workdir, name, sa):
    env = [{"name": "LAMEDUCK_DELAY", "value": "3s"}]
    spec = k.pod_spec([k.container("app", k.IMAGE_WEB, env=env)], sa=sa, grace=30)
    kube.apply(ns, [k.service(name), k.deployment(name, spec, replicas=1)])
    kube.wait_rollout(ns, name)
    return kube.wait_pods_settled(ns, f"app={name}", 1)[0]["metadata"]["name"]


def test_rbac_forbidden_falls_back_then_role_waits_on_slices(kube, ns, workdir):
    kube.apply(ns, [{"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": "norole"}}] + k.rbac(ns, "web"))
    pods = {"norole": drain(kube, ns, workdir, "norole", "norole"),
            "withrole": drain(kube, ns, workdir, "withrole", "web")}
    # the real authorizer's answer, as lameduck's token gets it
    can = kube.run("auth", "can-i", "list", "endpointslices.discovery.k8s.io", "-n", ns,
                   f"--as=system:serviceaccount:{ns}:norole", check=False).stdout.strip()
    assert can == "no", can
    logs = k.LogStreams(kube, ns, workdir)
    for p in pods.values():
        logs.follow(p)
    try:
        kube.out("delete", "pod", "-n", ns, *pods.values(), "--wait=false")
        texts = {n: logs.text(p, wait=90) for n, p in pods.items()}
    finally:
        logs.stop()
    k.log("\n".join(f"--- {n}\n{t}" for n, t in texts.items()))
    t = texts["norole"]
    assert "403 Forbidden: the Pod's ServiceAccount needs RBAC get/list/watch " \
           f"endpointslices.discovery.k8s.io in namespace {ns}" in t, t
    assert f"system:serviceaccount:{ns}:norole" in t, t   # the API's own message
    s = k.summary_lines(t)
    # the fallback --delay caps the wait; the traffic wait may end it sooner
    assert len(s) == 1 and "ended by: API fallback (listing EndpointSlices: 403" in s[0], t
    t = texts["withrole"]
    s = k.summary_lines(t)
    assert len(s) == 1 and "ended by: slices gone" in s[0], t
    assert "403 Forbidden" not in t, t   # not a bare "403": "t=+4036ms" has one
