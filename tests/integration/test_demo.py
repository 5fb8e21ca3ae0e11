# SPDX-License-Identifier: Apache-2.0
"""The zero-downtime proof, short: demo/run.py rolls Pods behind HAProxy and counts errors.

One run of ``demo/run.py`` with 2 Pods, 100 requests/s and a 1 s load balancer lag,
in three configurations (see demo/README.md):

* the app alone: requests fail (HAProxy keeps routing to a stopped Pod for ~1 s);
* lameduck with a fixed delay well above the lag: no request fails;
* lameduck waiting on the EndpointSlices (fake API) plus a settle well above the lag:
  no request fails, and each Pod takes about the settle time, not the fixed delay.

Margins are wide on purpose (settle and delay exceed the lag by 2-3 s; "fails" needs
one failed request out of ~100 expected), so a busy 2-core machine does not make the
test flaky. Needs haproxy (skipped without it) and the lameduck binary (LAMEDUCK_BIN,
default build/lameduck).
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from fakeapi.harness import FakeApi
from fakeapi.slices import endpoint, slice as make_slice
from support.env import PYTHON

TESTS = pathlib.Path(__file__).resolve().parents[1]
ROOT = TESTS.parent

LAMEDUCK = os.environ.get("LAMEDUCK_BIN") or str(ROOT / "build" / "lameduck")
RUN = ROOT / "demo" / "run.py"

PODS = 2
RATE = 100
LAG = 1.0
DELAY = 4.0     # fixed delay: 3 s above the lag
SETTLE = 3.0    # settle after the EndpointSlice update: 2 s above the lag

pytestmark = [
    pytest.mark.demo,   # slow: CI runs it once, not for every build of the binary
    pytest.mark.skipif(shutil.which("haproxy") is None and not os.path.exists("/usr/sbin/haproxy"),
                       reason="haproxy not installed (apt-get install haproxy)"),
    pytest.mark.skipif(not os.access(LAMEDUCK, os.X_OK),
                       reason=f"lameduck binary {LAMEDUCK} not built"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the demo makes network namespaces: needs root"),
]


def watcher_in_binary(tmp_path):
    """Whether this lameduck talks to the API at all when told to wait on EndpointSlices.

    A binary without the watcher ignores --wait-endpoints and never sends a request; one
    with a *broken* watcher still sends requests, so it is tested (and fails) below
    instead of being skipped.
    """
    with FakeApi(dir=str(tmp_path / "probe-api"), quiet=True) as api:
        api.set_slices([make_slice("web-probe", "web", [endpoint("127.0.0.77")])])
        p = subprocess.Popen(
            [LAMEDUCK, "--wait-endpoints", "--api-server", api.url, "--token-file", api.token_file,
             "--ca-file", api.ca_file, "--namespace", "default", "--pod-ip", "127.0.0.77",
             "--settle", "0s", "--delay", "0s", "--max-delay", "10s", "--",
             "/bin/sh", "-c", "echo ready; exec sleep 60"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

        def asked():
            return any("endpointslices" in r["path"] for r in api.requests())
        try:
            # The child runs, so lameduck handles signals: SIGTERM now starts the drain
            # (sent earlier, on a busy machine, it would kill lameduck before its setup).
            assert p.stdout.readline().strip() == "ready", "lameduck did not start its child"
            p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not asked() and p.poll() is None:
                time.sleep(0.05)
            return asked()
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    has_watcher = watcher_in_binary(tmp)
    configs = ["none", "delay"] + (["endpoints"] if has_watcher else [])
    summary = tmp / "summary.json"
    cmd = [PYTHON, str(RUN), "--pods", str(PODS), "--rate", str(RATE), "--lag", str(LAG),
           "--delay", str(DELAY), "--settle", str(SETTLE), "--warmup", "2",
           "--configs", ",".join(configs), "--lameduck", LAMEDUCK,
           "--out", str(tmp / "out"), "--json", str(summary), "--no-plot"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    output = f"$ {' '.join(cmd)}\nexit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert r.returncode == 0, output
    results = {x["config"]: x for x in json.loads(summary.read_text())["results"]}
    return {"results": results, "has_watcher": has_watcher, "output": output,
            "markdown": (tmp / "out" / "results.md").read_text()}


def check_traffic_flowed(res, output):
    # The load generator really ran: at least half of the offered requests were made.
    expected = RATE * res["load_s"]
    assert res["requests"] >= 0.5 * expected, output
    assert len(res["pods"]) == PODS, output
    for p in res["pods"]:
        assert not p["sigkilled"], output


def test_without_lameduck_requests_fail(demo):
    res = demo["results"]["none"]
    check_traffic_flowed(res, demo["output"])
    assert res["failed"] >= 1, f"the naive app lost no request?\n{demo['markdown']}"
    for p in res["pods"]:   # the app died at once, long before HAProxy stopped routing to it
        assert p["exited"] - p["sigterm"] < LAG, demo["markdown"]


def test_fixed_delay_loses_no_request(demo):
    res = demo["results"]["delay"]
    check_traffic_flowed(res, demo["output"])
    assert res["failed"] == 0, demo["markdown"]
    for p in res["pods"]:
        assert p["exited"] - p["sigterm"] >= DELAY - 0.1, demo["markdown"]
        assert p["exit_code"] == 0, demo["markdown"]


def test_endpointslice_wait_loses_no_request(demo):
    if not demo["has_watcher"]:
        pytest.skip("this lameduck never contacts the API with --wait-endpoints: "
                    "the EndpointSlice watcher is not in the binary yet")
    res = demo["results"]["endpoints"]
    check_traffic_flowed(res, demo["output"])
    assert res["lameduck_api_requests"] >= PODS, demo["markdown"]
    assert res["failed"] == 0, demo["markdown"]
    for p in res["pods"]:
        waited = p["exited"] - p["sigterm"]
        # Left the slice at once (the kubelet marks it terminating with the SIGTERM),
        # then --settle: never less than the settle time, and well under the 25 s cap.
        assert waited >= SETTLE - 0.1, demo["markdown"]
        assert waited < SETTLE + 10, demo["markdown"]
        # HAProxy had stopped routing to the Pod before it exited.
        assert p["lb_removed"] is not None and p["lb_removed"] < p["exited"], demo["markdown"]
        assert p["exit_code"] == 0, demo["markdown"]
