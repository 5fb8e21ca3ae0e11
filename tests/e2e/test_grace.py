# SPDX-License-Identifier: Apache-2.0
"""e. terminationGracePeriodSeconds shorter than lameduck's wait: what the real kubelet
does. Here the wait is a 20 s --delay (no Role: the API fallback) under a 4 s grace
period: the kubelet SIGKILLs the whole container at the end of the grace period, so the
app never gets its SIGTERM and lameduck never writes its summary. The figures go to
build-e2e/results/grace.json."""

import time

import e2e_kube as k


def test_grace_period_shorter_than_the_wait(kube, ns, workdir):
    # no Role: the API fallback's fixed 20 s (no traffic wait to end it sooner)
    cmd = ["/lameduck", "--delay", "20s", "--max-delay", "25s", "--no-wait-traffic", "--",
           "/app", "8080"]
    spec = k.pod_spec([k.container("app", k.IMAGE_WEB, command=cmd)], sa="default", grace=4)
    kube.apply(ns, [k.service("short"), k.deployment("short", spec, replicas=1)])
    kube.wait_rollout(ns, "short")
    pod = kube.wait_pods_settled(ns, "app=short", 1)[0]["metadata"]["name"]
    start_log = kube.out("logs", "-n", ns, pod)
    logs = k.LogStreams(kube, ns, workdir)
    logs.follow(pod)
    try:
        t0 = time.monotonic()
        kube.out("delete", "pod", "-n", ns, pod, "--wait=false")
        kube.wait_gone(ns, f"pod/{pod}", timeout=120)
        gone = time.monotonic() - t0
        text = logs.text(pod)
    finally:
        logs.stop()
    warned = [ln for ln in start_log.splitlines() if "grace" in ln.lower()]
    k.write_result("grace", {"grace_s": 4, "delay_s": 20, "pod_gone_after_s": round(gone, 1),
                             "summary": k.summary_lines(text), "startup_warning": warned,
                             "log": text.splitlines()[-8:]})
    k.log(f"grace 4s < delay 20s: Pod gone after {gone:.1f}s; log:\n{text}")
    assert "waiting" in text, text          # the drain began...
    assert gone < 20, f"the Pod lived {gone:.1f}s: the kubelet did not cut the wait"
    assert not k.summary_lines(text), text  # ...and SIGKILL ended it: no summary
    assert "got SIGTERM" not in text, text  # the app never saw its SIGTERM
