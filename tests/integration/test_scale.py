# SPDX-License-Identifier: Apache-2.0
"""bench/scale.py --smoke (issue 12): 20 drains at once against one fake API, in a
namespace of N = 10 Services and of 2N, with the narrow watch and with
--debug-watch-namespace. Every drain must end correctly (scale.py checks each: one SIGTERM,
from lameduck, after its Pod left its slices, exit status kept), and the narrow watch's
cost per drain must not grow with the namespace. About 12 s (a sanitizer build: about 4×
on a loaded machine); the full run (200 drains) is
bench/scale.py, not in CI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support.env import (LAMEDUCK_BIN, ROOT, SIGECHO_BIN, base_env, emulated,
                         require_binaries)


def test_scale_smoke(tmp_path):
    require_binaries()
    if emulated(LAMEDUCK_BIN):
        pytest.skip("20 drains under qemu-user: too slow to tell anything")
    out = tmp_path / "scale.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--smoke",
                        "--lameduck", LAMEDUCK_BIN, "--sigecho", SIGECHO_BIN,
                        "--json", str(out)],
                       capture_output=True, text=True, timeout=240, cwd=ROOT / "bench",
                       env=base_env())  # with a sanitizer build: its ASAN_OPTIONS
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr[-6000:]}"
    rounds = {(x["mode"], x["services"]): x for x in json.loads(out.read_text())}
    n1, n2 = sorted({s for _, s in rounds})
    for mode in ("narrow", "wide"):
        for n in (n1, n2):
            x = rounds[(mode, n)]
            assert x["ok"] == x["drains"] == 20, x["failures"]
            assert x["requests"]["max"] <= 3, x  # one list, one watch (+ a retry at most)
            assert x["peak_connections"] <= x["drains"] + 2, x
    narrow1, narrow2 = rounds[("narrow", n1)], rounds[("narrow", n2)]
    wide2 = rounds[("wide", n2)]
    # The list doubles with the namespace; after it, nothing grows.
    assert narrow2["list_bytes"]["median"] > 1.8 * narrow1["list_bytes"]["median"]
    # Each narrow watch sees only its own Service's slices: 2 of them, one termination
    # update each in the smoke run.
    assert narrow1["events"]["max"] <= 2 and narrow2["events"]["max"] <= 2, (narrow1, narrow2)
    assert narrow2["watch_bytes"]["max"] <= 1.1 * narrow1["watch_bytes"]["max"] + 1024
    # The wide watch got the other Services' churn as well (delivered before the
    # terminations began).
    assert wide2["events"]["median"] >= wide2["churn_updates"] / 2, wide2
    assert wide2["watch_bytes"]["median"] > 2 * narrow2["watch_bytes"]["median"], wide2
