# SPDX-License-Identifier: Apache-2.0
"""The control API: plain HTTP on a second port, JSON, no auth. Tests change slices,
queue faults, swap tokens, compact the history and read the request log through it."""

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .common import dumps, log


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi-control"
    sys_version = ""

    def log_message(self, fmt, *args):
        log("control " + (fmt % args))

    def _reply(self, code, obj):
        data = (dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        return json.loads(raw) if raw.strip() else None

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method):
        try:
            body = self._body()
            code, obj = self._route(method, urllib.parse.urlsplit(self.path).path.rstrip("/"), body)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            code, obj = 400, {"error": f"{type(e).__name__}: {e}"}
        except Exception as e:  # never leave a test waiting on an empty reply
            code, obj = 500, {"error": f"{type(e).__name__}: {e}"}
        self._reply(code, obj)

    def _route(self, method, path, body):
        for m, pattern, fn in ROUTES:
            match = pattern.match(path) if m == method else None
            if match:
                return fn(self.server.api, body, *map(urllib.parse.unquote, match.groups()))
        return 404, {"error": f"no control endpoint {method} {path}"}


# One function per control endpoint: (api server, JSON body, path parts) -> (code, reply).
# Errors of type ValueError, TypeError, KeyError, AttributeError answer 400.

def health(srv, body):
    # Threads: one per open connection plus a few; lets tests spot leaked handlers.
    return 200, {"ok": True, "threads": threading.active_count(),
                 "resourceVersion": str(srv.store.rv)}


def get_slices(srv, body):
    store = srv.store
    with store.cond:
        return 200, {"resourceVersion": str(store.rv),
                     "items": [store.objects[k] for k in sorted(store.objects)]}


def put_slices(srv, body):
    if not isinstance(body, list):
        raise ValueError("PUT /slices wants a JSON list of slices")
    store = srv.store
    with store.cond:
        counts = store.replace_all(body)
        return 200, {"resourceVersion": str(store.rv), "events": counts}


def post_slice(srv, body):
    store = srv.store
    with store.cond:
        event = store.upsert(body)
        return 200, {"resourceVersion": str(store.rv), "event": event}


def delete_slice(srv, body, namespace, name):
    store = srv.store
    with store.cond:
        found = store.delete(namespace, name)
        return (200 if found else 404), {"resourceVersion": str(store.rv), "deleted": found}


def get_faults(srv, body):
    return 200, srv.faults.snapshot()


def post_faults(srv, body):
    for f in (body if isinstance(body, list) else [body]):
        srv.faults.push(dict(f))
    return 200, srv.faults.snapshot()


def delete_faults(srv, body):
    srv.faults.clear()
    return 200, []


def post_tokens(srv, body):
    tokens = body.get("tokens") if isinstance(body, dict) else None
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise ValueError('POST /tokens wants {"tokens": ["...", ...]}')
    srv.set_tokens(tokens)
    return 200, {"tokens": len(tokens)}


def post_compact(srv, body):
    store = srv.store
    with store.cond:
        store.compact()
        return 200, {"compacted": str(store.compacted)}


def post_bookmarks(srv, body):
    interval = float((body or {}).get("interval_ms", 0)) / 1000.0
    store = srv.store
    with store.cond:
        store.bookmark_interval = max(0.0, interval)
        store.cond.notify_all()
    return 200, {"interval_ms": interval * 1000}


def post_watches_close(srv, body):
    store = srv.store
    with store.cond:
        store.close_abruptly = bool((body or {}).get("abrupt", False))
        store.watch_generation += 1
        store.cond.notify_all()
    return 200, {"closed": True}


def get_requests(srv, body):
    return 200, srv.requests.snapshot()


def delete_requests(srv, body):
    srv.requests.clear()
    return 200, []


def get_stats(srv, body):
    """Connections (open, peak, total; per client) and, per client (bearer token), the
    sums over the request log: requests, lists, watches, bytes sent for each, events."""
    conns = srv.connections.snapshot()
    clients = {}
    for e in srv.requests.snapshot():
        c = clients.setdefault(e["token"], {"requests": 0, "lists": 0, "watches": 0,
                                            "list_bytes": 0, "watch_bytes": 0, "events": 0})
        c["requests"] += 1
        c["watches" if e["watch"] else "lists"] += 1  # "lists": every non-watch request
        c["watch_bytes" if e["watch"] else "list_bytes"] += e["bytes"]
        c["events"] += e["events"]
    for token, c in clients.items():
        cc = conns["clients"].get(token, {"open": 0, "peak": 0, "total": 0})
        c["connections"] = cc
    return 200, {"connections": {k: conns[k] for k in ("open", "peak", "total")},
                 "clients": clients}


def delete_stats(srv, body):
    srv.connections.reset()
    return 200, srv.connections.snapshot()


ROUTES = [(method, re.compile(f"^{path}$"), fn) for method, path, fn in (
    ("GET", "/health", health),
    ("GET", "/slices", get_slices),
    ("PUT", "/slices", put_slices),
    ("POST", "/slices", post_slice),
    ("DELETE", "/slices/([^/]+)/([^/]+)", delete_slice),
    ("GET", "/faults", get_faults),
    ("POST", "/faults", post_faults),
    ("DELETE", "/faults", delete_faults),
    ("POST", "/tokens", post_tokens),
    ("POST", "/compact", post_compact),
    ("POST", "/bookmarks", post_bookmarks),
    ("POST", "/watches/close", post_watches_close),
    ("GET", "/requests", get_requests),
    ("DELETE", "/requests", delete_requests),
    ("GET", "/stats", get_stats),
    ("DELETE", "/stats", delete_stats),
)]


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, addr, api):
        self.api = api
        super().__init__(addr, ControlHandler)
