# SPDX-License-Identifier: Apache-2.0
"""Tests of the fake Kubernetes API server (tests/fakeapi) against real clients.

kubectl checks that the fake speaks the real wire format (discovery, lists, Table output,
pagination, watch, Status errors); raw TLS sockets check the watch stream's chunked
framing and the faults byte by byte. Run:

    cd /work/main && /usr/bin/python3 -m pytest -q tests/integration/test_fakeapi.py
"""

import json
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import warnings

import pytest

from fakeapi.harness import server_command, server_env
from fakeapi.slices import endpoint, pod_slice, service_slices, slice
from support.wait import wait_for

NS_PATH = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
KUBECTL = shutil.which("kubectl")
POLL = {"timeout": 20.0, "interval": 0.05}  # for wait_for: the fake API's own pace
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def kubectl_cmd(api, *args, token=None):
    kubeconfig = api.kubeconfig(os.path.join(api.dir, "kubeconfig-test"), token=token)
    return [KUBECTL, "--kubeconfig", kubeconfig, "--cache-dir", os.path.join(api.dir, "kcache"),
            *args]


def kubectl_env(api):
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    env["HOME"] = api.dir  # nothing of ours lands in the real ~/.kube
    return env


def kubectl(api, *args, token=None, timeout=60):
    return subprocess.run(kubectl_cmd(api, *args, token=token), env=kubectl_env(api),
                          capture_output=True, text=True, timeout=timeout)


def json_stream(text):
    """Decode concatenated JSON documents (kubectl --watch -o json prints them so)."""
    dec, i, out = json.JSONDecoder(), 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            return out  # incomplete tail
        out.append(obj)


class RawHttp:
    """One TLS connection to the API port, read by hand so framing is visible."""

    def __init__(self, api, timeout=10.0):
        u = urllib.parse.urlsplit(api.url)
        self.api = api
        raw = socket.create_connection((u.hostname, u.port), timeout=timeout)
        self.sock = api.ssl_context().wrap_socket(raw, server_hostname=u.hostname)
        self.buf = b""

    def request(self, path, token=None, headers=None):
        tok = self.api.token if token is None else token
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.api.url.split('//')[1]}",
                 "User-Agent: rawtest/1", "Accept: application/json"]
        if tok:
            lines.append(f"Authorization: Bearer {tok}")
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n").decode()
        status_line, *hdrs = head.split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {}
        for h in hdrs:
            k, v = h.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        return self.status

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def _read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(sep, 1)
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def body(self):
        return self._read_exact(int(self.headers["content-length"]))

    def chunk(self):
        """The next chunk's payload; b"" for the terminating chunk; EOFError if cut."""
        size = int(self._read_until(b"\r\n"), 16)
        data = self._read_exact(size)
        assert self._read_exact(2) == b"\r\n", "chunk not followed by CRLF"
        return data

    def event(self):
        data = self.chunk()
        if not data:
            return None
        # The apiserver frames every event as one chunk holding one JSON line.
        assert data.endswith(b"\n") and data.count(b"\n") == 1, data
        return json.loads(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def watch(api, query, token=None, timeout=10.0):
    conn = RawHttp(api, timeout=timeout)
    conn.request(f"{NS_PATH}?{urllib.parse.urlencode(dict({'watch': '1'}, **query))}",
                 token=token)
    return conn


def list_json(api, query=None, path=NS_PATH):
    status, _, body = api.api_get(path + ("?" + urllib.parse.urlencode(query) if query else ""))
    assert status == 200, body
    return json.loads(body)


# --------------------------------------------------------------------------------------
# CLI and harness
# --------------------------------------------------------------------------------------

def test_cli_writes_files_prints_ready_and_stops_on_sigterm(tmp_path):
    d = tmp_path / "srv"
    proc = subprocess.Popen([*server_command(), "--dir", str(d), "--quiet"],
                            stdout=subprocess.PIPE, text=True, env=server_env())
    try:
        line = proc.stdout.readline()  # blocks until ready (certs made by openssl)
        ready = json.loads(line)
        assert ready == json.loads((d / "ready.json").read_text())
        assert ready["url"].startswith("https://127.0.0.1:")
        assert ready["control"].startswith("http://127.0.0.1:")
        assert ready["pid"] == proc.pid
        assert (d / "namespace").read_text() == "default"
        assert len((d / "token").read_text().strip()) > 20
        out = subprocess.run(["openssl", "x509", "-in", str(d / "server.crt"), "-noout", "-ext",
                              "subjectAltName"], capture_output=True, text=True, check=True).stdout
        for san in ("IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1", "DNS:localhost",
                    "DNS:kubernetes.default.svc"):
            assert san in out
        subprocess.run(["openssl", "verify", "-CAfile", str(d / "ca.crt"), str(d / "server.crt")],
                       check=True, capture_output=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    assert not (d / "ready.json").exists()


def test_tls_is_1_2_or_newer(fake_api):
    u = urllib.parse.urlsplit(fake_api.url)
    ctx = fake_api.ssl_context()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    with pytest.raises(ssl.SSLError):
        with socket.create_connection((u.hostname, u.port), timeout=10) as raw:
            ctx.wrap_socket(raw, server_hostname=u.hostname)
    status, _, _ = fake_api.api_get("/version")
    assert status == 200


# --------------------------------------------------------------------------------------
# kubectl
# --------------------------------------------------------------------------------------

@needs_kubectl
def test_kubectl_get_json_and_table_and_selectors(fake_api):
    fake_api.set_slices([pod_slice(), slice("api-x1", "api", [endpoint("10.1.9.9", ready=None)]),
                         pod_slice(name="web-other", namespace="other")])

    r = kubectl(fake_api, "get", "endpointslices", "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    names = sorted(i["metadata"]["name"] for i in doc["items"])
    assert names == ["api-x1", "web-abc12"]
    web = next(i for i in doc["items"] if i["metadata"]["name"] == "web-abc12")
    assert web["kind"] == "EndpointSlice" and web["addressType"] == "IPv4"
    assert web["endpoints"][0]["conditions"] == {"ready": True, "serving": True,
                                                 "terminating": False}
    api_item = next(i for i in doc["items"] if i["metadata"]["name"] == "api-x1")
    assert api_item["endpoints"][0]["conditions"] == {}  # absent ready survives the trip

    r = kubectl(fake_api, "get", "endpointslices", "-l", "kubernetes.io/service-name=web",
                "-o", "json")
    assert r.returncode == 0, r.stderr
    assert [i["metadata"]["name"] for i in json.loads(r.stdout)["items"]] == ["web-abc12"]

    r = kubectl(fake_api, "get", "endpointslices", "-A", "-l",
                "kubernetes.io/service-name in (web,nothing)", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert sorted((i["metadata"]["namespace"], i["metadata"]["name"])
                  for i in json.loads(r.stdout)["items"]) == [("default", "web-abc12"),
                                                              ("other", "web-other")]

    # Human output goes through the server-side Table format.
    r = kubectl(fake_api, "get", "endpointslices")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert lines[2].split()[:4] == ["web-abc12", "IPv4", "8080", "10.1.2.3,10.1.2.4"]

    # A single object by name; and a missing one is kubectl's NotFound.
    r = kubectl(fake_api, "get", "endpointslice", "web-abc12", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metadata"]["name"] == "web-abc12"
    r = kubectl(fake_api, "get", "endpointslice", "nope")
    assert r.returncode != 0
    assert 'endpointslices.discovery.k8s.io "nope" not found' in r.stderr

    reqs = fake_api.requests()
    assert any(q["path"] == "/apis/discovery.k8s.io/v1/endpointslices" for q in reqs)
    assert all(q["status"] == 200 for q in reqs if q["path"] in ("/api", "/apis", "/version"))
    assert any("as=Table" in q["accept"] for q in reqs)


@needs_kubectl
def test_kubectl_chunk_size_paginates(fake_api):
    fake_api.set_slices([slice(f"web-{c}", "web", [endpoint(f"10.0.0.{i}")])
                         for i, c in enumerate("abc", 1)])
    fake_api.clear_requests()
    r = kubectl(fake_api, "get", "endpointslices", "--chunk-size=1", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert [i["metadata"]["name"] for i in json.loads(r.stdout)["items"]] == \
        ["web-a", "web-b", "web-c"]
    lists = [q for q in fake_api.requests() if q["path"] == NS_PATH]
    assert [q["query"].get("limit") for q in lists] == ["1", "1", "1"]
    assert "continue" not in lists[0]["query"]
    assert all(q["query"].get("continue") for q in lists[1:])


@needs_kubectl
def test_kubectl_watch_json_sees_live_change(fake_api):
    fake_api.set_slices([pod_slice()])
    proc = subprocess.Popen(kubectl_cmd(fake_api, "get", "endpointslices", "--watch", "-o",
                                        "json"), env=kubectl_env(fake_api),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = queue.Queue()
    threading.Thread(target=lambda: [out.put(c) for c in iter(lambda: proc.stdout.read(1), "")],
                     daemon=True).start()
    try:
        fake_api.wait_for_request(lambda q: q["watch"] and q["status"] == 200
                                  and q["user_agent"].startswith("kubectl/"), timeout=30)
        fake_api.upsert(pod_slice(ready=False))
        text, deadline = "", time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                text += out.get(timeout=0.5)
                while not out.empty():
                    text += out.get_nowait()
            except queue.Empty:
                pass
            objs = json_stream(text)
            if any(o["endpoints"][0]["conditions"].get("terminating") for o in objs):
                break
        objs = json_stream(text)
        assert objs and objs[0]["endpoints"][0]["conditions"]["terminating"] is False, text
        changed = [o for o in objs if o["endpoints"][0]["conditions"].get("terminating")]
        assert changed, f"kubectl never printed the change; stdout so far: {text!r}"
        assert int(changed[0]["metadata"]["resourceVersion"]) > \
            int(objs[0]["metadata"]["resourceVersion"])
    finally:
        proc.kill()
        proc.wait()
    watch_req = next(q for q in fake_api.requests() if q["watch"])
    assert watch_req["query"]["resourceVersion"]  # kubectl lists, then watches from there


@needs_kubectl
def test_kubectl_request_timeout_on_hang(fake_api):
    fake_api.set_slices([pod_slice()])
    fake_api.fault(kind="hang", on="list")
    t0 = time.monotonic()
    r = kubectl(fake_api, "get", "endpointslices", "-o", "json", "--request-timeout=2s")
    elapsed = time.monotonic() - t0
    assert r.returncode != 0
    assert "timeout" in r.stderr.lower() or "deadline" in r.stderr.lower(), r.stderr
    assert elapsed < 20
    hung = [q for q in fake_api.requests() if q["fault"] == "hang"]
    assert len(hung) == 1 and hung[0]["status"] == 0
    # The fault was consumed: the next request works.
    r = kubectl(fake_api, "get", "endpointslices", "-o", "json")
    assert r.returncode == 0, r.stderr


@needs_kubectl
def test_kubectl_shows_forbidden(fake_api):
    fake_api.fault(kind="status", code=403, on="list")
    r = kubectl(fake_api, "get", "endpointslices", "-o", "json")
    assert r.returncode != 0
    assert ('Error from server (Forbidden): endpointslices.discovery.k8s.io is forbidden: '
            'User "system:serviceaccount:default:web" cannot list resource "endpointslices" '
            'in API group "discovery.k8s.io" in the namespace "default"') in r.stderr, r.stderr


@needs_kubectl
def test_kubectl_with_bad_token_is_unauthorized(fake_api):
    r = kubectl(fake_api, "get", "endpointslices", token="not-the-token")
    assert r.returncode != 0
    # client-go's wording for a 401 during discovery
    assert "error: You must be logged in to the server" in r.stderr, r.stderr
    assert all(q["status"] == 401 for q in fake_api.requests())


# --------------------------------------------------------------------------------------
# lists, pagination, selectors (raw HTTP)
# --------------------------------------------------------------------------------------

def test_list_shape_and_get(fake_api):
    fake_api.set_slices(service_slices("web", [
        {"name": "web-1", "ips": ["10.1.2.3", "fd00::3"]},
        {"name": "web-2", "ips": ["10.1.2.4"], "ready": False, "serving": True,
         "terminating": True},
    ]))
    status, headers, body = fake_api.api_get(NS_PATH)
    assert status == 200 and headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert doc["kind"] == "EndpointSliceList" and doc["apiVersion"] == "discovery.k8s.io/v1"
    assert int(doc["metadata"]["resourceVersion"]) >= 1002
    assert [i["addressType"] for i in doc["items"]] == ["IPv4", "IPv6"]
    for item in doc["items"]:
        assert "kind" not in item  # like a real apiserver: list items carry no TypeMeta
        assert int(item["metadata"]["resourceVersion"]) <= int(doc["metadata"]["resourceVersion"])
        assert item["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
        assert item["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert doc["items"][1]["endpoints"][0]["addresses"] == ["fd00::3"]

    status, _, body = fake_api.api_get(NS_PATH + "/web-abc12-v6")
    obj = json.loads(body)
    assert status == 200 and obj["kind"] == "EndpointSlice" and obj["addressType"] == "IPv6"
    status, _, body = fake_api.api_get(NS_PATH + "/missing")
    assert status == 404
    assert json.loads(body)["reason"] == "NotFound"
    status, _, body = fake_api.api_get("/no/such/path")
    assert status == 404 and json.loads(body)["kind"] == "Status"
    for path in ("/openapi/v2", "/openapi/v3"):
        assert fake_api.api_get(path)[0] == 404


def test_label_selectors(fake_api):
    fake_api.set_slices([pod_slice(), pod_slice(name="api-1", service="api"),
                         pod_slice(name="db-1", service="db")])

    def names(sel):
        return [i["metadata"]["name"] for i in list_json(fake_api, {"labelSelector": sel})["items"]]

    assert names("kubernetes.io/service-name=web") == ["web-abc12"]
    assert names("kubernetes.io/service-name in (web,api)") == ["api-1", "web-abc12"]
    assert names("kubernetes.io/service-name notin (web,api)") == ["db-1"]
    assert names("kubernetes.io/service-name!=web,"
                 "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io") == \
        ["api-1", "db-1"]
    assert names("kubernetes.io/service-name in (web,api),kubernetes.io/service-name!=api") == \
        ["web-abc12"]
    assert names("!kubernetes.io/service-name") == []
    status, _, body = fake_api.api_get(NS_PATH + "?labelSelector=" + urllib.parse.quote("a in ("))
    assert status == 400 and json.loads(body)["reason"] == "BadRequest"


def test_pagination_is_a_consistent_snapshot(fake_api):
    fake_api.set_slices([slice(f"web-{c}", "web", [endpoint("10.0.0.1")]) for c in "abc"])
    page1 = list_json(fake_api, {"limit": "1"})
    rv = page1["metadata"]["resourceVersion"]
    assert [i["metadata"]["name"] for i in page1["items"]] == ["web-a"]
    assert page1["metadata"]["remainingItemCount"] == 2
    # Changes after the first page do not leak into the following pages.
    fake_api.delete("default", "web-b")
    fake_api.upsert(slice("web-bb", "web", [endpoint("10.0.0.2")]))
    page2 = list_json(fake_api, {"limit": "1", "continue": page1["metadata"]["continue"]})
    assert [i["metadata"]["name"] for i in page2["items"]] == ["web-b"]
    assert page2["metadata"]["resourceVersion"] == rv
    assert page2["metadata"]["remainingItemCount"] == 1
    page3 = list_json(fake_api, {"limit": "5", "continue": page2["metadata"]["continue"]})
    assert [i["metadata"]["name"] for i in page3["items"]] == ["web-c"]
    assert "continue" not in page3["metadata"] and "remainingItemCount" not in page3["metadata"]
    # A fresh list sees the new state; a continue token older than compaction is 410.
    assert [i["metadata"]["name"] for i in list_json(fake_api)["items"]] == \
        ["web-a", "web-bb", "web-c"]
    fake_api.compact()
    status, _, body = fake_api.api_get(
        NS_PATH + "?limit=1&continue=" + page1["metadata"]["continue"])
    assert status == 410 and json.loads(body)["reason"] == "Expired"


# --------------------------------------------------------------------------------------
# watch
# --------------------------------------------------------------------------------------

def test_watch_chunked_framing_replay_live_and_timeout(fake_api):
    fake_api.set_slices([pod_slice()])
    rv0 = int(list_json(fake_api)["metadata"]["resourceVersion"])
    fake_api.upsert(pod_slice(ready=False))              # rv0+1, before the watch
    w = watch(fake_api, {"resourceVersion": str(rv0), "allowWatchBookmarks": "true",
                         "timeoutSeconds": "2"})
    try:
        assert w.status == 200
        assert w.headers["transfer-encoding"] == "chunked"
        assert w.headers["content-type"] == "application/json"
        assert "content-length" not in w.headers
        ev = w.event()                                   # replayed from history
        assert ev["type"] == "MODIFIED" and ev["object"]["kind"] == "EndpointSlice"
        assert int(ev["object"]["metadata"]["resourceVersion"]) == rv0 + 1
        fake_api.delete("default", "web-abc12")         # live
        ev = w.event()
        assert ev["type"] == "DELETED"
        assert int(ev["object"]["metadata"]["resourceVersion"]) == rv0 + 2
        t0 = time.monotonic()
        assert w.event() is None                         # timeoutSeconds: terminating chunk
        assert time.monotonic() - t0 < 5
        # The connection stays usable (keep-alive) after a cleanly ended watch.
        assert w.request(NS_PATH) == 200
        assert json.loads(w.body())["items"] == []
    finally:
        w.close()


def test_curl_sees_chunked_watch(fake_api):
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("curl not installed")
    fake_api.set_slices([pod_slice()])
    r = subprocess.run([curl, "-sS", "--raw", "--cacert", fake_api.ca_file, "-H",
                        f"Authorization: Bearer {fake_api.token}",
                        f"{fake_api.url}{NS_PATH}?watch=true&timeoutSeconds=1"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split(b"\r\n")
    size, event = int(lines[0], 16), lines[1]
    assert size == len(event) and event.endswith(b"\n")
    assert json.loads(event)["type"] == "ADDED"   # no resourceVersion: current state first
    assert r.stdout.endswith(b"0\r\n\r\n")


def test_watch_without_rv_sends_state_then_filters_by_label(fake_api):
    fake_api.set_slices([pod_slice(), pod_slice(name="api-1", service="api")])
    w = watch(fake_api, {"labelSelector": "kubernetes.io/service-name=web",
                         "timeoutSeconds": "10"})
    try:
        ev = w.event()
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "web-abc12")
        fake_api.upsert(pod_slice(name="api-1", service="api", ready=False))  # filtered out
        moved = pod_slice()
        moved["metadata"]["labels"]["kubernetes.io/service-name"] = "other"
        fake_api.upsert(moved)        # leaves the selector: the watcher sees DELETED
        ev = w.event()
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("DELETED", "web-abc12")
        assert ev["object"]["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
        fake_api.upsert(pod_slice())  # comes back: ADDED
        assert w.event()["type"] == "ADDED"
    finally:
        w.close()


def test_watch_bookmarks(fake_api):
    fake_api.set_slices([pod_slice()])
    rv = list_json(fake_api)["metadata"]["resourceVersion"]
    fake_api.bookmarks(100)
    w = watch(fake_api, {"resourceVersion": rv, "allowWatchBookmarks": "true",
                         "timeoutSeconds": "10"})
    try:
        ev = w.event()
        assert ev["type"] == "BOOKMARK"
        assert ev["object"]["metadata"]["resourceVersion"] == rv
        assert ev["object"]["kind"] == "EndpointSlice" and ev["object"]["endpoints"] is None
    finally:
        w.close()
    # Without allowWatchBookmarks no bookmark is sent.
    w = watch(fake_api, {"resourceVersion": rv, "timeoutSeconds": "1"})
    try:
        assert w.event() is None
    finally:
        w.close()


def test_watch_from_compacted_rv_gets_410_error_event(fake_api):
    fake_api.set_slices([pod_slice()])
    old_rv = list_json(fake_api)["metadata"]["resourceVersion"]
    fake_api.upsert(pod_slice(ready=False))
    fake_api.compact()
    w = watch(fake_api, {"resourceVersion": old_rv, "allowWatchBookmarks": "true"})
    try:
        assert w.status == 200
        ev = w.event()
        assert ev["type"] == "ERROR"
        st = ev["object"]
        assert (st["kind"], st["code"], st["reason"]) == ("Status", 410, "Expired")
        assert st["message"].startswith("too old resource version: " + old_rv)
        assert w.event() is None
    finally:
        w.close()
    # Watching from the current resourceVersion is fine after compaction.
    rv = list_json(fake_api)["metadata"]["resourceVersion"]
    w = watch(fake_api, {"resourceVersion": rv, "timeoutSeconds": "1"})
    try:
        assert w.event() is None
    finally:
        w.close()


def test_watch_expired_fault(fake_api):
    fake_api.fault(kind="expired", on="watch")
    w = watch(fake_api, {"resourceVersion": "1001"})
    try:
        ev = w.event()
        assert ev["type"] == "ERROR" and ev["object"]["code"] == 410
        assert w.event() is None
    finally:
        w.close()


def test_watch_drop_fault_cuts_stream_without_terminating_chunk(fake_api):
    fake_api.set_slices([pod_slice(), pod_slice(name="web-2")])
    fake_api.fault(kind="drop", on="watch", after=1)
    w = watch(fake_api, {})
    try:
        assert w.event()["type"] == "ADDED"
        with pytest.raises((EOFError, ConnectionError, ssl.SSLError)):
            w.event()
    finally:
        w.close()
    assert [q["fault"] for q in fake_api.requests()] == ["drop"]


def test_close_watches(fake_api):
    w1 = watch(fake_api, {})
    w2 = watch(fake_api, {})
    try:
        wait_for(lambda: sum(r["status"] == 200 and r["watch"] for r in fake_api.requests()) >= 2,
                 **POLL, message="two watches")
        fake_api.close_watches()
        assert w1.event() is None and w2.event() is None
        w3 = watch(fake_api, {})
        fake_api.close_watches(abrupt=True)
        with pytest.raises((EOFError, ConnectionError, ssl.SSLError)):
            w3.event()
    finally:
        w1.close()
        w2.close()


def test_hang_fault_client_times_out(fake_api):
    fake_api.fault(kind="hang", on="watch")
    conn = RawHttp(fake_api, timeout=1.0)
    try:
        with pytest.raises(socket.timeout):
            conn.request(f"{NS_PATH}?watch=1")
    finally:
        conn.close()
    # Lists were not affected, and the server is healthy.
    assert fake_api.api_get(NS_PATH)[0] == 200
    assert fake_api.health()["ok"]


def test_handlers_end_when_clients_leave(fake_api):
    baseline = fake_api.health()["threads"]
    conns = [watch(fake_api, {}) for _ in range(3)]
    fake_api.fault(kind="hang", on="list")
    hung = RawHttp(fake_api)
    hung.sock.sendall(f"GET {NS_PATH} HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: Bearer {fake_api.token}\r\n\r\n".encode())
    wait_for(lambda: fake_api.health()["threads"] >= baseline + 4, **POLL,
             message="a thread per connection")
    for c in conns + [hung]:
        c.close()
    # Each handler notices its client is gone within a poll tick or two.
    wait_for(lambda: fake_api.health()["threads"] <= baseline + 1, **POLL,
             message="the threads to end")


def test_stats_count_requests_bytes_events_and_connections_per_client(fake_api):
    """GET /stats (bench/scale.py): per client (bearer token) the requests, the bytes sent
    for lists and for watches, the watch events; connections open, peak and total."""
    fake_api.set_slices([pod_slice()])
    me, other = fake_api.token, "other-client"
    fake_api.set_tokens([me, other])
    fake_api.clear_requests()
    fake_api.reset_stats()
    a = RawHttp(fake_api)
    assert a.request(NS_PATH) == 200
    body = a.body()
    w1 = watch(fake_api, {}, token=other)
    w2 = watch(fake_api, {}, token=other)
    try:
        assert w1.event()["type"] == "ADDED"
        fake_api.upsert(pod_slice(ready=False))
        assert w1.event()["type"] == "MODIFIED"
        assert w2.event()["type"] == "ADDED" and w2.event()["type"] == "MODIFIED"
        # The server counts an event once it is written, so the client may read the last
        # one a moment before the count has it.
        wait_for(lambda: fake_api.stats()["clients"][other]["events"] == 4, **POLL,
                 message="4 events to the other client")
        stats = fake_api.stats()
    finally:
        for c in (a, w1, w2):
            c.close()
    mine, theirs = stats["clients"][me], stats["clients"][other]
    assert (mine["requests"], mine["lists"], mine["watches"], mine["events"]) == (1, 1, 0, 0)
    # Status line and headers plus the body, exactly what went on the wire before TLS.
    assert len(body) + 100 < mine["list_bytes"] < len(body) + 600
    assert (theirs["requests"], theirs["lists"], theirs["watches"], theirs["events"]) == \
        (2, 0, 2, 4)
    assert theirs["watch_bytes"] > 4 * len(body) // 2
    assert mine["connections"] == {"open": 1, "peak": 1, "total": 1}
    assert theirs["connections"] == {"open": 2, "peak": 2, "total": 2}
    assert stats["connections"]["peak"] >= 3 and stats["connections"]["open"] >= 3
    wait_for(lambda: fake_api.stats()["connections"]["open"] == 0, **POLL,
             message="no open connection")
    after = fake_api.reset_stats()
    assert (after["open"], after["peak"], after["total"]) == (0, 0, 0)


def test_garbage_fault(fake_api):
    fake_api.set_slices([pod_slice()])
    fake_api.fault(kind="garbage", on="list")
    status, headers, body = fake_api.api_get(NS_PATH)
    assert status == 200 and headers["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    fake_api.fault(kind="garbage", on="watch")
    w = watch(fake_api, {"timeoutSeconds": "5"})
    try:
        with pytest.raises(json.JSONDecodeError):
            w.event()
    finally:
        w.close()


def test_flood_fault(fake_api):
    fake_api.set_slices([pod_slice()])
    fake_api.fault(kind="flood", on="watch", events=50)
    w = watch(fake_api, {"timeoutSeconds": "5"})
    try:
        names = [w.event()["object"]["metadata"]["name"] for _ in range(51)]
    finally:
        w.close()
    assert names[:50] == [f"web-flood-{i:06d}" for i in range(50)]
    assert names[50] == pod_slice()["metadata"]["name"]  # then the normal stream
    assert [s["metadata"]["name"] for s in fake_api.slices()["items"]] == [names[50]]


def test_endless_pages_fault(fake_api):
    fake_api.fault(kind="endless_pages", on="list", count=-1)
    token = None
    for n in range(1, 4):
        status, _, body = fake_api.api_get(NS_PATH + "?limit=5" + (f"&continue={token}" if token else ""))
        page = json.loads(body)
        assert status == 200 and page["items"] == []
        token = page["metadata"]["continue"]
        assert token == f"page-{n}"


def test_status_faults_and_counts(fake_api):
    fake_api.fault(kind="status", code=429, on="list")
    fake_api.fault(kind="status", code=500, on="any", count=2)
    fake_api.fault(kind="status", code=503, on="watch")
    status, headers, body = fake_api.api_get(NS_PATH)
    assert status == 429 and headers["Retry-After"] == "1"
    assert json.loads(body)["reason"] == "TooManyRequests"
    for _ in range(2):
        status, _, body = fake_api.api_get(NS_PATH)
        assert status == 500 and json.loads(body)["reason"] == "InternalError"
    status, _, body = fake_api.api_get(NS_PATH + "?watch=1")
    assert status == 503 and json.loads(body)["reason"] == "ServiceUnavailable"
    assert fake_api.api_get(NS_PATH)[0] == 200
    assert fake_api.faults() == []

    fake_api.fault(kind="status", code=403, on="watch", count=-1)
    for _ in range(3):
        status, _, body = fake_api.api_get(NS_PATH + "?watch=1")
        st = json.loads(body)
        assert status == 403 and st["reason"] == "Forbidden"
        assert 'cannot watch resource "endpointslices"' in st["message"]
    fake_api.clear_faults()
    fake_api.fault(kind="status", code=401)
    status, _, body = fake_api.api_get(NS_PATH)
    assert status == 401 and json.loads(body)["message"] == "Unauthorized"
    fake_api.fault(kind="status", code=410, on="list")
    assert fake_api.api_get(NS_PATH)[0] == 410
    with pytest.raises(RuntimeError):
        fake_api.fault(kind="nonsense")


def test_delay_fault(fake_api):
    fake_api.fault(kind="delay", ms=600, on="list")
    t0 = time.monotonic()
    assert fake_api.api_get(NS_PATH)[0] == 200
    assert time.monotonic() - t0 >= 0.6


# --------------------------------------------------------------------------------------
# auth
# --------------------------------------------------------------------------------------

def test_bearer_token_rejection_and_rotation(fake_api):
    expected = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    for token in ("", "wrong"):
        status, headers, body = fake_api.api_get(NS_PATH, token=token)
        assert status == 401 and json.loads(body) == expected
        assert headers["Content-Type"] == "application/json"
    old = fake_api.token
    assert fake_api.api_get(NS_PATH)[0] == 200
    new = fake_api.rotate_token()
    assert new != old and fake_api.token == new
    assert fake_api.api_get(NS_PATH, token=old)[0] == 401
    assert fake_api.api_get(NS_PATH)[0] == 200   # re-reads token_file
    fake_api.set_tokens([old, new])
    assert fake_api.api_get(NS_PATH, token=old)[0] == 200
    tokens = [q["token"] for q in fake_api.requests()]
    assert tokens[:2] == ["", "wrong"] and old in tokens and new in tokens


# --------------------------------------------------------------------------------------
# IPv6
# --------------------------------------------------------------------------------------

def _ipv6_loopback_works():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback_works(), reason="no IPv6 loopback")
def test_ipv6_host(fake_api_factory):
    api = fake_api_factory(host="::1")
    assert api.url.startswith("https://[::1]:")
    assert api.in_cluster_env()["KUBERNETES_SERVICE_HOST"] == "::1"
    api.set_slices([slice("web-v6", "web", [endpoint("fd00::1")], address_type="IPv6")])
    doc = list_json(api)
    assert doc["items"][0]["endpoints"][0]["addresses"] == ["fd00::1"]
    if KUBECTL:
        r = kubectl(api, "get", "endpointslices", "-o", "json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["items"][0]["metadata"]["name"] == "web-v6"
