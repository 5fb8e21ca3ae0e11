# SPDX-License-Identifier: Apache-2.0
"""gzip-compressed API responses: lameduck asks for them (Accept-Encoding, through curl's
zlib; the static build has zlib too) and reads them, like kube-apiserver sends lists of at
least 128 KiB. The fake API compresses only with --gzip-min-bytes.

    LAMEDUCK_BIN=build-static/lameduck SIGECHO_BIN=build/tests/sigecho \\
        /usr/bin/python3 -m pytest -q tests/integration/test_gzip.py
"""

from fakeapi.slices import endpoint
from fakeapi.slices import slice as make_slice
from support.lameduck_proc import run_lameduck

POD_IP = "10.1.2.3"
POD_NAME = "web-6d4cf56db6-x7k2p"


def endpoints_args(api):
    return ["endpoints", "--api-server", api.url, "--token-file", api.token_file,
            "--ca-file", api.ca_file, "--namespace", "default", "--pod-ip", POD_IP,
            "--pod-name", POD_NAME]


def slice_lists(api):
    return [r for r in api.requests() if r["path"].endswith("/endpointslices") and not r["watch"]]


def test_accepts_and_reads_a_gzip_list(fake_api_factory):
    api = fake_api_factory(gzip_min_bytes=0)
    api.set_slices([make_slice("web-abc12", "web", [endpoint(POD_IP, pod=POD_NAME)])])
    r = run_lameduck(endpoints_args(api))
    assert r.code == 0, (r.stdout, r.stderr)
    assert "routable:" in r.stdout and "yes" in r.stdout
    lists = slice_lists(api)
    assert lists, api.requests()
    assert all("gzip" in x["accept_encoding"] for x in lists), lists
    assert all(x["content_encoding"] == "gzip" for x in lists), lists


def test_large_gzip_list_above_the_apiserver_threshold(fake_api_factory):
    # kube-apiserver compresses from 128 KiB: 400 slices of 8 endpoints are ~600 KiB of
    # JSON, so the body is inflated across many TLS records; the Pod is in the last one.
    api = fake_api_factory(gzip_min_bytes=128 * 1024)
    slices = [make_slice(f"other-{i:04d}", f"svc{i}",
                         [endpoint(f"10.9.{i // 8}.{(i % 8) * 8 + k}", pod=f"other-{i}-{k}")
                          for k in range(8)]) for i in range(400)]
    slices.append(make_slice("web-abc12", "web", [endpoint(POD_IP, pod=POD_NAME)]))
    api.set_slices(slices)
    r = run_lameduck(endpoints_args(api))
    assert r.code == 0, (r.stdout, r.stderr)
    assert "svc/web" in r.stdout, r.stdout
    lists = slice_lists(api)
    assert lists and any(x["content_encoding"] == "gzip" for x in lists), lists
