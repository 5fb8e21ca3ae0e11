# SPDX-License-Identifier: Apache-2.0
"""``FakeApi``: run the server (``python3 -m fakeapi``) as a subprocess and drive it from a test.

    from fakeapi.harness import FakeApi
    from fakeapi.slices import endpoint, slice

    with FakeApi() as api:
        api.set_slices([slice("web-abc12", "web", [endpoint("10.1.2.3")])])
        # point the program under test at api.url / api.ca_file / api.token_file
        api.fault(kind="status", code=403, on="list")
        ...
        assert any(r["watch"] for r in api.requests())

Every control call raises ``RuntimeError`` if the server answers with an error, so a
mistyped fault fails the test at once instead of silently doing nothing.
"""

import atexit
import http.client
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse

from support.env import PYTHON as DEFAULT_PYTHON

from .certs import ensure_certs, write_atomic

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CERT_FILES = ("ca.crt", "ca.key", "server.crt", "server.key")

# Making an RSA CA and serving cert costs ~1 s on a small machine; every FakeApi of one
# test process shares one set (each server still gets its own token).
_cert_cache = None
_cert_lock = threading.Lock()  # FakeApis started by several threads at once make one set


def server_command(python=DEFAULT_PYTHON):
    """The argv that runs the server (append its options); run it with ``server_env()``."""
    return [python, "-m", "fakeapi"]


def server_env(env=None):
    """``env`` (default: os.environ) with tests/ first on PYTHONPATH, so ``-m fakeapi``
    finds this package."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS_DIR, env.get("PYTHONPATH")) if p)
    return env


def _shared_certs():
    global _cert_cache
    with _cert_lock:
        if _cert_cache is None:
            d = tempfile.mkdtemp(prefix="fakeapi-certs-")
            atexit.register(shutil.rmtree, d, True)
            ensure_certs(d)
            _cert_cache = d
        return _cert_cache


class FakeApi:
    """A running fake API server (context manager; also ``start()``/``stop()``)."""

    def __init__(self, dir=None, host="127.0.0.1", port=0, control_port=0,
                 python=DEFAULT_PYTHON, startup_timeout=30.0, share_certs=True, quiet=False,
                 gzip_min_bytes=None):
        self._own_dir = dir is None
        self.dir = os.path.abspath(dir) if dir else None
        self.host = host
        self._port = port
        self._control_port = control_port
        self.python = python
        self.startup_timeout = startup_timeout
        self.share_certs = share_certs
        self.quiet = quiet
        self.gzip_min_bytes = gzip_min_bytes
        self.proc = None
        self.url = self.control = None
        self.pid = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="fakeapi-")
        os.makedirs(self.dir, exist_ok=True)
        if self.share_certs and not all(os.path.exists(self._path(n)) for n in CERT_FILES):
            shared = _shared_certs()
            for n in CERT_FILES:
                shutil.copy2(os.path.join(shared, n), self._path(n))
        ready_path = self._path("ready.json")
        if os.path.exists(ready_path):
            os.unlink(ready_path)
        cmd = [*server_command(self.python), "--dir", self.dir, "--host", self.host,
               "--port", str(self._port), "--control-port", str(self._control_port)]
        if self.quiet:
            cmd.append("--quiet")
        if self.gzip_min_bytes is not None:
            cmd += ["--gzip-min-bytes", str(self.gzip_min_bytes)]
        self._log = open(self._path("server.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._log, env=server_env())
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if os.path.exists(ready_path):
                with open(ready_path) as f:
                    text = f.read()
                if text.endswith("\n"):  # written atomically, but be safe
                    ready = json.loads(text)
                    break
            if self.proc.poll() is not None:
                raise RuntimeError(f"fakeapi exited with {self.proc.returncode} during startup; "
                                   f"log:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fakeapi not ready after {self.startup_timeout}s; "
                                   f"log:\n{self.log()}")
            time.sleep(0.02)
        self.url, self.control, self.pid = ready["url"], ready["control"], ready["pid"]
        return self

    def stop(self):
        """Stop the server (SIGTERM, then SIGKILL after 10 s). Idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        if self._own_dir and self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- files and addresses -------------------------------------------------------------

    def _path(self, name):
        return os.path.join(self.dir, name)

    @property
    def ca_file(self):
        return self._path("ca.crt")

    @property
    def token_file(self):
        return self._path("token")

    @property
    def namespace_file(self):
        return self._path("namespace")

    @property
    def token(self):
        """The token currently in token_file."""
        with open(self.token_file) as f:
            return f.read().strip()

    @property
    def port(self):
        return urllib.parse.urlsplit(self.url).port

    def log(self):
        """The server's stderr so far (handy in assertion messages)."""
        try:
            with open(self._path("server.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def in_cluster_env(self):
        """``KUBERNETES_SERVICE_HOST``/``_PORT`` as the kubelet would set them."""
        host = urllib.parse.urlsplit(self.url).hostname
        return {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": str(self.port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(self.port)}

    def kubeconfig(self, path=None, token=None, namespace="default"):
        """Write a kubeconfig for kubectl (JSON is valid YAML); returns its path."""
        path = path or self._path("kubeconfig")
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url,
                                                       "certificate-authority": self.ca_file}}],
            "users": [{"name": "fake", "user": {"token": token or self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake",
                                                      "namespace": namespace}}],
            "current-context": "fake",
        }
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        return path

    def ssl_context(self):
        """A client SSLContext trusting this server's CA (hostname checked)."""
        return ssl.create_default_context(cafile=self.ca_file)

    def api_connection(self, timeout=10.0):
        """An ``http.client.HTTPSConnection`` to the API port."""
        u = urllib.parse.urlsplit(self.url)
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout,
                                           context=self.ssl_context())

    def api_get(self, path, token=None, headers=None, timeout=10.0):
        """GET ``path`` on the API port with ``token`` (default: token_file's);
        returns ``(status, headers, body_bytes)``. Pass ``token=""`` for none."""
        conn = self.api_connection(timeout)
        try:
            h = dict(headers or {})
            tok = self.token if token is None else token
            if tok:
                h["Authorization"] = f"Bearer {tok}"
            conn.request("GET", path, headers=h)
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    # -- control API ---------------------------------------------------------------------

    def _call(self, method, path, body=None, ok=(200,)):
        u = urllib.parse.urlsplit(self.control)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            data = None if body is None else json.dumps(body)
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            resp = conn.getresponse()
            text = resp.read().decode()
        finally:
            conn.close()
        if resp.status not in ok:
            raise RuntimeError(f"control {method} {path}: {resp.status} {text.strip()}")
        return json.loads(text) if text.strip() else None

    def set_slices(self, slices):
        """Replace all slices (the server emits ADDED/MODIFIED/DELETED for the diff)."""
        return self._call("PUT", "/slices", list(slices))

    def upsert(self, slice_):
        """Create or update one slice."""
        return self._call("POST", "/slices", slice_)

    def delete(self, namespace, name):
        """Delete one slice; returns False if it did not exist."""
        return self._call("DELETE", f"/slices/{urllib.parse.quote(namespace)}/"
                                    f"{urllib.parse.quote(name)}", ok=(200, 404))["deleted"]

    def slices(self):
        """The stored slices and the current resourceVersion."""
        return self._call("GET", "/slices")

    def fault(self, **kw):
        """Queue a fault, e.g. ``fault(kind="status", code=403, on="list")``."""
        return self._call("POST", "/faults", kw)

    def faults(self):
        return self._call("GET", "/faults")

    def clear_faults(self):
        return self._call("DELETE", "/faults")

    def set_tokens(self, tokens):
        """Replace the set of accepted bearer tokens (token_file is left alone)."""
        return self._call("POST", "/tokens", {"tokens": list(tokens)})

    def rotate_token(self):
        """Write a fresh token to token_file and accept only it; returns it.

        Both tokens are accepted while the file is swapped, so a client that re-reads
        the file per request never sees a spurious 401 -- like a kubelet-rotated
        bound token, whose predecessor stays valid for a while.
        """
        old = self.token
        new = "fakeapi-" + secrets.token_urlsafe(32)
        self.set_tokens([old, new])
        write_atomic(self.token_file, new)
        self.set_tokens([new])
        return new

    def compact(self):
        """Forget the event history: watches from any older resourceVersion get 410."""
        return self._call("POST", "/compact")

    def bookmarks(self, interval_ms):
        """Send BOOKMARK events every ``interval_ms`` to watches that allow them (0 = off)."""
        return self._call("POST", "/bookmarks", {"interval_ms": interval_ms})

    def close_watches(self, abrupt=False):
        """End every open watch: cleanly (terminating chunk) or abruptly (connection cut)."""
        return self._call("POST", "/watches/close", {"abrupt": abrupt})

    def requests(self):
        """Every API request seen so far (see README.md for the fields)."""
        return self._call("GET", "/requests")

    def clear_requests(self):
        return self._call("DELETE", "/requests")

    def stats(self):
        """Connections (open/peak/total, per client) and per-client request sums."""
        return self._call("GET", "/stats")

    def reset_stats(self):
        """Start a new connection peak (and per-client peaks) from the open ones."""
        return self._call("DELETE", "/stats")

    def wait_for_request(self, pred, timeout=10.0, interval=0.05):
        """Poll ``requests()`` until one satisfies ``pred``; returns it or raises."""
        deadline = time.monotonic() + timeout
        while True:
            for r in self.requests():
                if pred(r):
                    return r
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching API request within {timeout}s; saw: "
                                   f"{[(r['method'], r['path'], r['query']) for r in self.requests()]}")
            time.sleep(interval)

    def health(self):
        return self._call("GET", "/health")
