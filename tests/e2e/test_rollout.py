# SPDX-License-Identifier: Apache-2.0
"""b. and g.: `kubectl rollout restart` of a 3-replica Deployment behind a ClusterIP
Service, traffic through the real kube-proxy, drains ended by the real EndpointSlice
controller's writes.

b: a client outside the node opens a new connection per request to the ClusterIP (each
   one DNAT-ed by kube-proxy's rules at that moment). lameduck's defaults (PID 1 of a
   FROM-scratch image, ServiceAccount bound by examples/rbac.yaml) lose none; the app
   alone (same image without lameduck, exits at once on SIGTERM) loses some.
g: a client in the node with a keep-alive pool: conntrack keeps each established
   connection on the Pod it started on, whatever the rules say later. The figures go to
   build-e2e/results/keepalive.json.
"""

import os
import time

import e2e_kube as k

RATE = 40


def rollout(kube, ns, workdir, name, image, netns, *, replicas=3, keepalive=False,
            env=(), sa="web", grace=40):
    """Deploy, roll once under traffic, return (records, {old pod: log text}, seconds)."""
    spec = k.pod_spec([k.container("app", image, env=env)], sa=sa, grace=grace)
    kube.apply(ns, k.rbac(ns, sa) + [k.service(name), k.deployment(name, spec, replicas)])
    kube.wait_rollout(ns, name)
    old = kube.wait_pods_settled(ns, f"app={name}", replicas)
    url = f"http://{kube.service_ip(ns, name)}:80/"
    k.wait_traffic_ok(None, kube, netns, url)
    logs = k.LogStreams(kube, ns, workdir)
    for p in old:
        logs.follow(p["metadata"]["name"])
    client = k.Client(kube, netns, url, os.path.join(workdir, f"{name}-requests.jsonl"),
                      rate=RATE, keepalive=keepalive)
    try:
        time.sleep(3)   # warm-up: every Pod answers before the rollout
        t0 = time.monotonic()
        kube.out("rollout", "restart", "-n", ns, f"deployment/{name}")
        kube.wait_rollout(ns, name)
        new = kube.wait_pods_settled(ns, f"app={name}", replicas)
        took = time.monotonic() - t0
        assert not {p["metadata"]["name"] for p in new} & {p["metadata"]["name"] for p in old}
        time.sleep(2)   # cool-down: the new Pods serve alone
    finally:
        records = client.stop()
        texts = {p["metadata"]["name"]: logs.text(p["metadata"]["name"]) for p in old}
        logs.stop()
    return records, texts, took, [p["metadata"]["name"] for p in new]


def failures(records):
    return [r for r in records if not r["ok"]]


def test_rollout_lameduck_defaults_lose_nothing(kube, ns, workdir):
    records, texts, took, new = rollout(kube, ns, workdir, "web", k.IMAGE_WEB,
                                        kube.outside_netns)
    failed = failures(records)
    k.log(f"lameduck defaults: {len(records)} requests, {len(failed)} failed, rollout {took:.1f}s")
    k.write_result("rollout-defaults", {"requests": len(records), "failed": len(failed),
                                        "rollout_s": took, "summaries":
                                        {p: k.summary_lines(t) for p, t in texts.items()}})
    assert len(records) > RATE * 10, "too little traffic to mean anything"
    assert not failed, f"{len(failed)} failed, first: {failed[:3]}"
    assert {r["pod"] for r in records} >= set(new), "the new Pods got no traffic"
    for pod, text in texts.items():
        sums = k.summary_lines(text)
        assert len(sums) == 1, f"{pod}: want one drain summary:\n{text}"
        # the real EndpointSlice controller's write (ready: false, terminating) ended it
        assert "ended by: slices gone" in sums[0], f"{pod}: {sums[0]}"
        # either it saw the Pod routable and then its removal, or the controller had
        # already written the slice when lameduck first listed it (the kubelet's SIGTERM
        # comes after the deletion the controller reacts to)
        assert ("Pod left every EndpointSlice" in text or
                "Pod is routable in no EndpointSlice (1 slice(s) seen)" in text), text
        assert "got SIGTERM, exiting" in text, text   # the app got it, after the drain
        assert "exit status 0" in sums[0], sums[0]


def test_rollout_app_alone_loses_requests(kube, ns, workdir):
    """The same rollout without lameduck: the test can fail."""
    records, texts, took, _ = rollout(kube, ns, workdir, "web", k.IMAGE_APP,
                                      kube.outside_netns, grace=10)
    failed = failures(records)
    k.log(f"app alone: {len(records)} requests, {len(failed)} failed, rollout {took:.1f}s; "
          f"errors: {sorted({f['err'].split(':')[0] for f in failed})}")
    k.write_result("rollout-app-alone", {"requests": len(records), "failed": len(failed),
                                         "rollout_s": took,
                                         "errors": [f["err"] for f in failed][:20]})
    assert len(records) > RATE * 5
    assert failed, "the app alone lost nothing: this rollout cannot tell lameduck's effect"
    for pod, text in texts.items():
        assert "got SIGTERM, exiting" in text, f"{pod}:\n{text}"


def test_keepalive_pool_through_conntrack(kube, ns, workdir):
    """g: what conntrack does to a keep-alive pool in the node during a rollout."""
    records, texts, took, new = rollout(
        kube, ns, workdir, "web", k.IMAGE_WEB, kube.node_netns, replicas=2, keepalive=True,
        env=[{"name": "LAMEDUCK_MAX_DELAY", "value": "12s"}])
    failed = failures(records)
    per_conn = {}
    for r in records:
        c = per_conn.setdefault(r["conn"], {"pods": [], "errors": 0, "reconnects": 0})
        if r["pod"] and (not c["pods"] or c["pods"][-1] != r["pod"]):
            c["pods"].append(r["pod"])
        c["errors"] += not r["ok"]
        c["reconnects"] += bool(r["new"])
    ended = {p: (k.summary_lines(t) or ["(no summary)"])[0].split("drain summary: ")[-1]
             for p, t in texts.items()}
    result = {"requests": len(records), "failed": len(failed), "rollout_s": took,
              "connections": per_conn, "errors": [f["err"] for f in failed][:20],
              "drains": ended,
              "served_by_old_pods_after_restart": sum(1 for r in records
                                                      if r["pod"] in texts and r["ok"])}
    path = k.write_result("keepalive", result)
    k.log(f"keep-alive pool: {len(records)} requests, {len(failed)} failed, rollout "
          f"{took:.1f}s, per connection {per_conn}; drains {ended}; figures in {path}")
    assert len(records) > RATE * 5
    assert {r["pod"] for r in records if r["ok"]} & set(new), \
        "the pool never reached a new Pod: its connections were not re-made"
    for pod, text in texts.items():
        assert len(k.summary_lines(text)) == 1, f"{pod}:\n{text}"
