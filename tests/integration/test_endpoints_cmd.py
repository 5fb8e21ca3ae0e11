# SPDX-License-Identifier: Apache-2.0
"""`lameduck endpoints`: where this Pod is routable right now, against the fake API.

Exit codes: 0 routable, 1 not routable, 2 could not tell. Text output for people, `-o json`
(keys pod/api/routable/routes) for scripts. It lists once and never watches.

    LAMEDUCK_BIN=build/lameduck SIGECHO_BIN=build/tests/sigecho \
        /usr/bin/python3 -m pytest -q tests/integration/test_endpoints_cmd.py
"""

from __future__ import annotations

import json
import pathlib
import re
import signal
import socket
import time

import pytest

from fakeapi.slices import endpoint, terminating
from fakeapi.slices import slice as make_slice
from support.lameduck_proc import Lameduck, run_lameduck
from support.wait import wait_for

POD_IP = "10.1.2.3"
POD_NAME = "web-6d4cf56db6-x7k2p"
SLICES_PATH = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


def api_args(api, *extra, ips=(POD_IP,), name=POD_NAME, ca=None, server=None):
    args = ["endpoints", "--api-server", server or api.url, "--token-file", api.token_file,
            "--ca-file", ca or api.ca_file, "--namespace", "default"]
    for ip in ips:
        args += ["--pod-ip", ip]
    if name:
        args += ["--pod-name", name]
    return [*args, *extra]


def web(ready=True, name="web-abc12", service="web"):
    ep = endpoint(POD_IP, pod=POD_NAME) if ready else terminating(POD_IP, pod=POD_NAME)
    return make_slice(name, service, [ep, endpoint("10.1.2.4", pod="web-other")])


def field(stdout, name):
    m = re.search(rf"^{name}:\s+(.*)$", stdout, re.M)
    assert m, f"no '{name}:' line in:\n{stdout}"
    return m[1]


def test_routable(fake_api):
    fake_api.set_slices([web(), web(service="api", name="api-xyz98")])
    r = run_lameduck(api_args(fake_api))
    assert r.code == 0, (r.stdout, r.stderr)
    assert field(r.stdout, "routable") == "yes"
    assert field(r.stdout, "api access") == "ok"
    assert field(r.stdout, "pod") == f"{POD_NAME} (from --pod-name)"
    assert field(r.stdout, "namespace") == "default (from --namespace)"
    assert field(r.stdout, "ips") == f"{POD_IP} (from --pod-ip)"
    assert field(r.stdout, "api server") == fake_api.url
    assert re.search(r"^\s+svc/web\s+slice web-abc12\s+10\.1\.2\.3$", r.stdout, re.M), r.stdout
    assert re.search(r"^\s+svc/api\s+slice api-xyz98\s+10\.1\.2\.3$", r.stdout, re.M), r.stdout
    # One list, no watch: it answers "right now".
    reqs = fake_api.requests()
    assert [(q["path"], q["watch"]) for q in reqs] == [(SLICES_PATH, False)], reqs


@pytest.mark.parametrize("how", ["terminating", "no-slices", "not-in-any"])
def test_not_routable(fake_api, how):
    if how == "terminating":
        fake_api.set_slices([web(ready=False)])
    elif how == "not-in-any":
        fake_api.set_slices([make_slice("web-abc12", "web", [endpoint("10.1.2.4", pod="x")])])
    r = run_lameduck(api_args(fake_api))
    assert r.code == 1, (r.stdout, r.stderr)
    assert field(r.stdout, "routable") == "no"
    assert field(r.stdout, "api access") == "ok"
    assert "svc/" not in r.stdout


def test_service_filter(fake_api):
    """--service web: routable in api only means "not routable" for this question; the
    label selector narrows the list on the server."""
    fake_api.set_slices([web(ready=False), web(service="api", name="api-xyz98")])
    r = run_lameduck(api_args(fake_api, "--service", "web"))
    assert r.code == 1, (r.stdout, r.stderr)
    assert fake_api.requests()[0]["query"]["labelSelector"] == "kubernetes.io/service-name=web"
    r = run_lameduck(api_args(fake_api, "--service", "api"))
    assert r.code == 0, (r.stdout, r.stderr)
    assert "svc/api" in r.stdout and "svc/web" not in r.stdout


def test_target_ref(fake_api):
    fake_api.set_slices([make_slice("web-abc12", "web", [endpoint("10.7.7.7", pod=POD_NAME)])])
    r = run_lameduck(api_args(fake_api, ips=["10.200.0.1"]))
    assert r.code == 0, (r.stdout, r.stderr)
    assert re.search(rf"svc/web\s+slice web-abc12\s+pod/{POD_NAME}", r.stdout), r.stdout


def test_forbidden_is_exit_2_with_the_rbac_rule(fake_api):
    fake_api.set_slices([web()])
    fake_api.fault(kind="status", code=403, on="list")
    r = run_lameduck(api_args(fake_api))
    assert r.code == 2, (r.stdout, r.stderr)
    assert field(r.stdout, "routable") == "unknown"
    access = field(r.stdout, "api access")
    assert access.startswith("FAILED: listing EndpointSlices: 403 Forbidden")
    assert "get/list/watch endpointslices.discovery.k8s.io in namespace default" in access
    # There is no --delay in this command: the message must not talk about one.
    assert "--delay" not in r.stderr and "--delay" not in r.stdout, r.stderr


@pytest.mark.parametrize("fault", [dict(kind="status", code=401, on="list"),
                                   dict(kind="garbage", on="list")], ids=["401", "garbage"])
def test_other_api_failures_are_exit_2(fake_api, fault):
    fake_api.set_slices([web()])
    fake_api.fault(**fault)
    r = run_lameduck(api_args(fake_api))
    assert r.code == 2, (r.stdout, r.stderr)
    assert field(r.stdout, "api access").startswith("FAILED: ")


def test_unreachable_and_wrong_ca_are_exit_2(fake_api, fake_api_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_lameduck(api_args(fake_api, server=f"https://127.0.0.1:{port}"))
    assert r.code == 2, (r.stdout, r.stderr)
    assert "FAILED: listing EndpointSlices failed: " in r.stdout
    other = fake_api_factory(share_certs=False)
    r = run_lameduck(api_args(fake_api, ca=other.ca_file))
    assert r.code == 2, (r.stdout, r.stderr)
    assert re.search(r"FAILED: .*(SSL|certificate|Cert verify failed)", r.stdout), r.stdout
    assert fake_api.requests() == []


def test_unreadable_token_is_exit_2(fake_api):
    fake_api.set_slices([web()])
    pathlib.Path(fake_api.token_file).write_text("")
    r = run_lameduck(api_args(fake_api))
    assert r.code == 2, (r.stdout, r.stderr)
    assert re.search(r"FAILED: the token file \S+ is empty", r.stdout), r.stdout
    assert fake_api.requests() == []


def test_one_500_is_retried(fake_api):
    fake_api.set_slices([web()])
    fake_api.fault(kind="status", code=500, on="list")
    r = run_lameduck(api_args(fake_api))
    assert r.code == 0, (r.stdout, r.stderr)
    assert [q["status"] for q in fake_api.requests()] == [500, 200]


def test_no_api_configured_is_exit_2(tmp_path):
    r = run_lameduck(["endpoints", "--token-file", str(tmp_path / "none"),
                      "--ca-file", str(tmp_path / "none.crt"), "--pod-ip", POD_IP])
    assert r.code == 2, (r.stdout, r.stderr)
    assert field(r.stdout, "routable") == "unknown"
    access = field(r.stdout, "api access")
    assert "no API server (KUBERNETES_SERVICE_HOST unset, no --api-server)" in access
    assert f"cannot read the token {tmp_path / 'none'}" in access


def test_json_routable(fake_api):
    fake_api.set_slices([web()])
    r = run_lameduck(api_args(fake_api, "-o", "json"))
    assert r.code == 0, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert set(out) >= {"pod", "api", "routable", "routes"}
    assert out["routable"] is True
    assert out["routes"] == [{"service": "web", "slice": "web-abc12", "address": POD_IP}]
    assert out["pod"]["name"] == POD_NAME and out["pod"]["name_from"] == "--pod-name"
    assert out["pod"]["namespace"] == "default"
    assert out["pod"]["ips"] == [POD_IP] and out["pod"]["ips_from"] == "--pod-ip"
    assert out["api"]["server"] == fake_api.url
    assert out["api"]["ok"] is True and "error" not in out["api"]


def test_json_not_routable_and_failure(fake_api):
    fake_api.set_slices([web(ready=False)])
    r = run_lameduck(api_args(fake_api, "-o", "json"))
    assert r.code == 1
    out = json.loads(r.stdout)
    assert out["routable"] is False and out["routes"] == []
    fake_api.fault(kind="status", code=403, on="list")
    r = run_lameduck(api_args(fake_api, "-o", "json"))
    assert r.code == 2
    out = json.loads(r.stdout)  # stdout is only the JSON document, even on failure
    assert out["routable"] is None
    assert out["api"]["ok"] is False
    assert "403 Forbidden" in out["api"]["error"]
    assert out["routes"] == []


def test_in_cluster_env_and_downward_api(fake_api):
    """No API flags: KUBERNETES_SERVICE_HOST/PORT, POD_IP, POD_NAME, POD_NAMESPACE."""
    fake_api.set_slices([web()])
    env = {**fake_api.in_cluster_env(), "POD_IP": POD_IP, "POD_NAME": "someone-else",
           "POD_NAMESPACE": "default"}
    r = run_lameduck(["endpoints", "--token-file", fake_api.token_file,
                      "--ca-file", fake_api.ca_file, "-o", "json"], env=env)
    assert r.code == 0, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert out["api"]["server"] == fake_api.url
    assert out["pod"]["ips_from"] == "POD_IP" and out["pod"]["name_from"] == "POD_NAME"
    assert out["pod"]["namespace_from"] == "POD_NAMESPACE"


def test_ipv6(fake_api_factory):
    try:
        api = fake_api_factory(host="::1")
    except RuntimeError as e:
        pytest.skip(f"no IPv6 loopback: {e}")
    api.set_slices([make_slice("web-abc12-v6", "web", [endpoint("fd00::5", pod="x")],
                               address_type="IPv6")])
    r = run_lameduck(api_args(api, ips=["fd00:0::5"], name=None))
    assert r.code == 0, (r.stdout, r.stderr)
    assert re.search(r"svc/web\s+slice web-abc12-v6\s+fd00::5", r.stdout), r.stdout


# Ctrl-C ends the command within this long, whatever it is doing.
PROMPT = 0.2


def test_ctrl_c_stops_it_at_once(fake_api, tmp_path):
    """SIGINT (Ctrl-C) while the API server does not answer: exit 2 at once, not after
    the 15 s bound (lameduck blocks the signal for the whole process, so its one loop has
    to look at it), and without the traffic sample that follows a list."""
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        ld = Lameduck(api_args(fake_api, server=f"https://127.0.0.1:{port}"),
                      workdir=tmp_path).start()
        time.sleep(0.5)
        assert ld.running(), ld.stderr()
        t0 = ld.signal(signal.SIGINT)
        r = ld.wait(timeout=5)
    assert r.ended_at - t0 < PROMPT, r.stderr
    assert r.code == 2, (r.stdout, r.stderr)
    assert field(r.stdout, "api access") == "FAILED: interrupted by SIGINT"
    assert field(r.stdout, "traffic").endswith("; not measured (interrupted by SIGINT)"), r.stdout


@pytest.mark.parametrize("output", ["text", "json"])
def test_ctrl_c_ends_the_traffic_sample(fake_api, tmp_path, output):
    """SIGINT while the command samples the traffic (one second, on the event loop), after
    the list: it ends at once too; the answer stands, and the traffic says why it has no
    figures."""
    fake_api.set_slices([web()])
    extra = ["-o", "json"] if output == "json" else []
    ld = Lameduck(api_args(fake_api, *extra), workdir=tmp_path).start()
    wait_for(lambda: fake_api.requests(), message=ld.stderr)
    time.sleep(0.1)  # the answer is read, the sample has begun (it lasts 1 s)
    assert ld.running(), ld.stdout()
    t0 = ld.signal(signal.SIGINT)
    r = ld.wait(timeout=5)
    assert r.ended_at - t0 < PROMPT, (r.ended_at - t0, r.stdout, r.stderr)
    assert r.code == 0, (r.stdout, r.stderr)
    if output == "json":
        out = json.loads(r.stdout)
        assert out["routable"] is True and out["traffic"]["error"] == "interrupted by SIGINT"
    else:
        assert field(r.stdout, "routable") == "yes"
        assert field(r.stdout, "traffic").endswith("; interrupted by SIGINT"), r.stdout


def test_ctrl_c_during_a_retry_pause(fake_api, tmp_path):
    """SIGINT while the command waits to retry a 500: it ends at once, and takes no traffic
    sample after it (the signal is gone from the queue: a sample would last its second)."""
    fake_api.set_slices([web()])
    fake_api.fault(kind="status", code=500, on="list", count=-1)
    ld = Lameduck(api_args(fake_api), workdir=tmp_path).start()
    wait_for(lambda: fake_api.requests(), message=ld.stderr)
    time.sleep(0.05)  # the 500 is read; the retry is 200-400 ms away
    t0 = ld.signal(signal.SIGINT)
    r = ld.wait(timeout=5)
    assert r.ended_at - t0 < PROMPT, (r.ended_at - t0, r.stdout, r.stderr)
    assert r.code == 2, (r.stdout, r.stderr)
    assert field(r.stdout, "api access") == "FAILED: interrupted by SIGINT"
    assert field(r.stdout, "traffic").endswith("; not measured (interrupted by SIGINT)"), r.stdout
