# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the end-to-end tests against the one-node cluster (scripts/cluster.sh).

Skipped as a whole when no cluster answers (scripts/test.sh runs them after
`scripts/cluster.sh up`, with LAMEDUCK_E2E_REQUIRE_CLUSTER=1: there no cluster fails). The images are built and imported once per session
(scripts/e2e-images.sh, cached); LAMEDUCK_E2E_SKIP_IMAGES=1 leaves that out.
"""

import os
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import e2e_kube as k  # noqa: E402


@pytest.fixture(scope="session")
def kube():
    # scripts/test.sh sets LAMEDUCK_E2E_REQUIRE_CLUSTER=1: there a missing cluster fails
    missing = pytest.fail if os.environ.get("LAMEDUCK_E2E_REQUIRE_CLUSTER") == "1" else pytest.skip
    env = k.cluster_env()
    if env is None:
        missing("no cluster: scripts/cluster.sh up first (or set KUBECONFIG)")
    kb = k.Kube(env)
    r = kb.run("get", "--raw", "/readyz", check=False, timeout=30)
    if r.returncode != 0:
        missing(f"the cluster's API server does not answer: {r.stderr.strip()[-200:]}")
    nodes = kb.json("get", "nodes")["items"]
    if not any(k.is_ready(n) for n in nodes):   # nodes have a Ready condition too
        pytest.fail("the cluster has no Ready node")
    return kb


@pytest.fixture(scope="session")
def images(kube):
    if os.environ.get("LAMEDUCK_E2E_SKIP_IMAGES") != "1":
        subprocess.run(["bash", os.path.join(k.ROOT, "scripts", "e2e-images.sh")],
                       env=kube.env, check=True, timeout=3600)
    return kube


@pytest.fixture
def ns(images, request):
    name = k.new_namespace(images, request.node.name.replace("test_", "")[:12]
                           .replace("_", "-").strip("-").lower())
    yield name
    images.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def workdir(request):
    d = tempfile.mkdtemp(prefix=f"lameduck-e2e-{request.node.name[:20]}-")
    yield d
