# SPDX-License-Identifier: Apache-2.0
"""c. preStop mode with another PID 1: the app image has no lameduck; an initContainer
from lameduck's image runs `lameduck install` into an emptyDir, and the real kubelet runs
the installed binary as `lifecycle.preStop.exec`. The app gets SIGTERM only after the
drain, and `kubectl logs` shows the hook's timeline (the hook copies its lines to PID 1's
stderr)."""

import re

import e2e_kube as k

ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z? ")


def stamp(line):
    """The time the line itself carries (the app's or lameduck's own stamp)."""
    m = [x for x in ISO.findall(line)]
    return m[-1][:23] if m else None


def test_prestop_hook_installed_by_init_container(kube, ns, workdir):
    volumes = [{"name": "lameduck", "emptyDir": {"sizeLimit": "16Mi"}}]
    init = [{"name": "install-lameduck", "image": k.IMAGE_LAMEDUCK, "imagePullPolicy": "Never",
             "command": ["/lameduck", "install", "/shared"],
             "volumeMounts": [{"name": "lameduck", "mountPath": "/shared"}]}]
    app = k.container("api", k.IMAGE_APP, prestop=["/lameduck/lameduck", "prestop"])
    app["volumeMounts"] = [{"name": "lameduck", "mountPath": "/lameduck", "readOnly": True}]
    spec = k.pod_spec([app], sa="web", grace=40, init=init, volumes=volumes)
    kube.apply(ns, k.rbac(ns) + [k.service("api"), k.deployment("api", spec, replicas=1)])
    kube.wait_rollout(ns, "api")
    pod = kube.wait_pods_settled(ns, "app=api", 1)[0]["metadata"]["name"]
    init_log = kube.out("logs", "-n", ns, pod, "-c", "install-lameduck")
    logs = k.LogStreams(kube, ns, workdir)
    logs.follow(pod, "api")
    try:
        kube.out("delete", "pod", "-n", ns, pod, "--wait=false")
        kube.wait_gone(ns, f"pod/{pod}")
        text = logs.text(pod)
    finally:
        logs.stop()
    k.log(f"initContainer: {init_log.strip()}\napp container log:\n{text}")
    hook = [ln for ln in text.splitlines() if "lameduck prestop (pid" in ln]
    assert hook, f"no line of the hook in kubectl logs:\n{text}"
    assert any("Pod left every EndpointSlice" in ln for ln in hook), text
    summary = [ln for ln in hook if "drain summary:" in ln]
    assert len(summary) == 1 and "ended by: slices gone" in summary[0], text
    term = [ln for ln in text.splitlines() if "app: got SIGTERM, exiting" in ln]
    assert len(term) == 1, f"the app did not log one SIGTERM:\n{text}"
    # the kubelet's SIGTERM came after the hook's drain ended, not with the deletion
    assert stamp(term[0]) >= stamp(summary[0]), f"SIGTERM before the drain ended:\n{text}"
    lines = text.splitlines()
    assert lines.index(term[0]) > lines.index(summary[0]), text
