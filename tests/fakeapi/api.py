# SPDX-License-Identifier: Apache-2.0
"""The HTTPS API port: TLS server, bearer tokens, request log, routing, list and get.

Watches are served by ``watch.py``, faults acted out by ``faults.py``, kubectl's discovery
and Table output come from ``kubectl_compat.py``.
"""

import base64
import gzip
import json
import re
import select
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import kubectl_compat, watch
from .common import (GROUP_VERSION, HANDSHAKE_TIMEOUT_S, POLL_S, RESOURCE, ClientGone, dumps,
                     log, with_type, without_type)
from .faults import Faults, RequestLog
from .selector import matcher
from .status import (ApiError, bad_request, fault_status, not_found_status, status_obj,
                     unauthorized_status)
from .store import Store


class ApiRequest:
    """What an EndpointSlice request asks for, parsed from path and query."""

    def __init__(self, namespace, name, query):
        self.namespace = namespace   # None = all namespaces
        self.name = name
        self.query = query
        self.watch = query.get("watch", "").lower() in ("1", "true")
        self.verb = "watch" if self.watch else ("get" if name else "list")


_NS_PATH = re.compile(rf"^/apis/{re.escape(GROUP_VERSION)}/(watch/)?namespaces/([^/]+)/"
                      rf"{RESOURCE}(?:/([^/]+))?/?$")
_ALL_PATH = re.compile(rf"^/apis/{re.escape(GROUP_VERSION)}/(watch/)?{RESOURCE}/?$")

_CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent "
    "list result. You can start a new list without the continue parameter, "
    "or use the continue token in this response to retrieve the remainder "
    "of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in "
    "the list.")


def encode_continue(rv, start):
    raw = dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00"})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token):
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError("wrong version")
        return int(data["rv"]), str(data["start"]).rstrip("\x00")
    except (ValueError, KeyError, TypeError) as e:
        raise bad_request(f"continue key is not valid: {e}") from None


def parse_rv(text):
    try:
        return int(text)
    except ValueError:
        raise bad_request(f"invalid resource version: {text}") from None


class _CountingWriter:
    """The handler's ``wfile``: every byte written is added to the current request's
    log entry (``bytes``: headers, body, chunk framing; before TLS)."""

    def __init__(self, raw, handler):
        self._raw = raw
        self._h = handler

    def write(self, data):
        n = self._raw.write(data)
        entry = self._h.entry
        if entry is not None:
            entry["bytes"] += len(data)
        return n

    def flush(self):
        self._raw.flush()

    def __getattr__(self, name):
        return getattr(self._raw, name)


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi"
    sys_version = ""
    entry = None  # this request's entry in the request log
    client_token = None  # the first token seen on this connection (per-client stats)

    def setup(self):
        super().setup()
        self.wfile = _CountingWriter(self.wfile, self)

    # -- plumbing (also used by faults and watch) ----------------------------------------

    def log_message(self, fmt, *args):
        log(f"api {self.address_string()} " + (fmt % args))

    def send_response(self, code, message=None):
        if self.entry is not None:
            self.entry["status"] = code
        super().send_response(code, message)

    def wants_gzip(self, size):
        """Like kube-apiserver: gzip a (non-watch) response of at least --gzip-min-bytes
        when the client accepts gzip (kube-apiserver's threshold is 128 KiB)."""
        least = getattr(self.server, "gzip_min_bytes", None)
        if least is None or size < least or (self.entry or {}).get("watch"):
            return False
        codings = [c.split(";")[0].strip().lower()
                   for c in self.headers.get("Accept-Encoding", "").split(",")]
        return "gzip" in codings

    def send_json(self, code, obj, headers=None, body=None):
        data = body if body is not None else dumps(obj).encode()
        gzipped = self.wants_gzip(len(data))
        if gzipped:
            data = gzip.compress(data, mtime=0)
            if self.entry is not None:
                self.entry["content_encoding"] = "gzip"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_status(self, status, headers=None):
        self.send_json(status["code"], status, headers)

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def client_gone(self):
        """True if the client closed its side (or the server is stopping)."""
        if self.server.store.stopping:
            return True
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if not readable:
            return False
        try:
            sock.settimeout(POLL_S)
            data = sock.recv(4096)
            return not data  # EOF (or close_notify); data would be a pipelined request
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except OSError:
            return True
        finally:
            try:
                sock.settimeout(None)
            except OSError:
                pass

    def abort_connection(self):
        """Close the connection abruptly: no terminating chunk, no TLS close_notify."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def hang(self):
        """Send nothing until the client goes away or the server stops."""
        while not self.client_gone():
            time.sleep(POLL_S)
        self.abort_connection()

    # -- dispatch ------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_HEAD(self):
        self.send_error(405)

    def _dispatch(self, method):
        self.entry = None
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        is_watch = query.get("watch", "").lower() in ("1", "true")
        self.entry = {
            "t": time.monotonic(),
            "method": method,
            "path": path,
            "query": query,
            "token": token,
            "user_agent": self.headers.get("User-Agent", ""),
            "accept": self.headers.get("Accept", ""),
            "accept_encoding": self.headers.get("Accept-Encoding", ""),
            "content_encoding": "",
            "status": 0,
            "watch": is_watch,
            "fault": None,
            "bytes": 0,   # sent for this request (headers + body, before TLS)
            "events": 0,  # watch events sent
        }
        self.server.requests.add(self.entry)
        if self.client_token is None:
            self.client_token = token
            self.server.connections.bind(token)
        try:
            self._read_body()
            if token not in self.server.tokens():
                raise ApiError(unauthorized_status())
            self._route(method, path, query)
        except ApiError as e:
            self.send_status(e.status, e.headers)
        except ClientGone:
            self.close_connection = True
        except (OSError, ssl.SSLError):  # the client went away mid-request
            self.close_connection = True
        except Exception as e:  # a bug in the fake: say so loudly, keep serving others
            log(f"internal error on {method} {self.path}:\n{traceback.format_exc()}")
            if self.entry["status"] == 0:
                self.send_status(status_obj(500, f"fakeapi internal error: {e}", "InternalError"))
            self.close_connection = True
        finally:
            self.entry = None  # later errors on this connection belong to no request

    def _route(self, method, path, query):
        m_ns = _NS_PATH.match(path)
        m_all = _ALL_PATH.match(path)
        if m_ns or m_all:
            if method != "GET":
                raise ApiError(status_obj(
                    405, "the server does not allow this method on the requested resource",
                    "MethodNotAllowed", {}))
            if m_ns:
                old_watch, ns, name = m_ns.groups()
                ns = urllib.parse.unquote(ns)
                name = urllib.parse.unquote(name) if name else None
            else:
                old_watch, ns, name = m_all.group(1), None, None
            if old_watch:
                query["watch"] = "true"
            req = ApiRequest(ns, name, query)
            self.entry["watch"] = req.watch
            self._serve_resource(req)
            return
        if method == "GET" and path.rstrip("/") in ("/healthz", "/livez", "/readyz"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        if method == "GET":
            doc = kubectl_compat.discovery_doc(path, self.server.public_hostport)
            if doc is not None:
                if self._take_fault("discovery", ApiRequest(None, None, {}))[1]:
                    return
                self.send_json(200, doc)
                return
        raise ApiError(not_found_status())

    def _take_fault(self, category, req):
        """Take the next fault for ``category`` and let it answer ``req``; returns
        ``(fault or None, answered)``."""
        fault = self.server.faults.take(category)
        if fault is None:
            return None, False
        self.entry["fault"] = fault.kind
        log(f"fault {fault.kind} on {self.command} {self.path}")
        return fault, fault.answer(self, req)

    # -- EndpointSlice reads -------------------------------------------------------------

    def _serve_resource(self, req):
        fault, answered = self._take_fault("watch" if req.watch else "list", req)
        if answered:
            return
        matches = matcher(req)
        if req.watch:
            watch.serve(self, req, matches, fault)
        elif req.name:
            self._get(req)
        else:
            self._list(req, matches)

    def _get(self, req):
        store = self.server.store
        with store.cond:
            obj = store.objects.get((req.namespace, req.name))
        if obj is None:
            raise ApiError(fault_status(404, req, {}))
        table = kubectl_compat.table_renderer(self.headers.get("Accept"), req.query)
        if table:
            self.send_json(200, table([obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}))
        else:
            self.send_json(200, with_type(obj))

    def _list(self, req, matches):
        q = req.query
        limit_param = q.get("limit") or "0"
        if not limit_param.isdigit():
            raise bad_request(f"invalid limit: {limit_param!r}")
        limit = int(limit_param)
        list_rv, state, start = self._list_state(q)
        table = kubectl_compat.table_renderer(self.headers.get("Accept"), q)
        # The same list at the same resourceVersion is the same bytes: serialize it once
        # (hundreds of drains list in the same second in bench/scale.py; the apiserver
        # has a serialization cache too). Faults never reach here.
        key = None if table else (list_rv, req.namespace, tuple(sorted(q.items())))
        cached = self.server.list_cache.get(key) if key else None
        if cached is not None:
            self.send_json(200, None, body=cached)
            return

        # Keys as etcd orders them under the list prefix: "name" in one namespace,
        # "namespace/name" across all namespaces.
        def skey(obj):
            m = obj["metadata"]
            return m["name"] if req.namespace else f"{m['namespace']}/{m['name']}"

        items = sorted((o for o in state.values() if matches(o)), key=skey)
        if start is not None:
            items = [o for o in items if skey(o) > start]
        meta = {"resourceVersion": str(list_rv)}
        if limit and len(items) > limit:
            page, rest = items[:limit], len(items) - limit
            meta["continue"] = encode_continue(list_rv, skey(page[-1]))
            meta["remainingItemCount"] = rest
            items = page

        if table:
            self.send_json(200, table(items, meta))
            return
        body = dumps({"kind": "EndpointSliceList", "apiVersion": GROUP_VERSION,
                      "metadata": meta, "items": [without_type(o) for o in items]}).encode()
        self.server.list_cache.put(key, body)
        self.send_json(200, None, body=body)

    def _list_state(self, q):
        """``(list_rv, {key: object}, start key or None)`` a list serves: the state at a
        continue token's or an exact resourceVersion, or the current one."""
        store = self.server.store
        cont = q.get("continue", "")
        rv_param = q.get("resourceVersion", "")
        with store.cond:
            if cont:
                if rv_param:
                    raise bad_request("specifying resource version is not allowed when using continue")
                list_rv, start = decode_continue(cont)
                if list_rv < store.compacted:
                    raise ApiError(status_obj(410, _CONTINUE_TOO_OLD, "Expired"))
                return list_rv, store.state_at(list_rv), start
            if rv_param and rv_param != "0" and q.get("resourceVersionMatch") == "Exact":
                list_rv = parse_rv(rv_param)
                return list_rv, store.state_at(list_rv), None
            if rv_param and rv_param != "0":
                parse_rv(rv_param)
            return store.rv, dict(store.objects), None


class ListCache:
    """The last few serialized list answers, by (resourceVersion, namespace, query)."""

    SIZE = 8

    def __init__(self):
        self.lock = threading.Lock()
        self.items = {}

    def get(self, key):
        with self.lock:
            return self.items.get(key)

    def put(self, key, body):
        with self.lock:
            self.items[key] = body
            while len(self.items) > self.SIZE:
                del self.items[next(iter(self.items))]


class Connections:
    """Open TLS connections: now, the peak, the total; and per client (the bearer token
    of a connection's first request) the same. ``reset()`` starts a new peak from now."""

    def __init__(self):
        self.lock = threading.Lock()
        self.local = threading.local()  # the connection's client, per handler thread
        self.open = self.peak = self.total = 0
        self.clients = {}  # token -> {"open", "peak", "total"}

    def opened(self):
        with self.lock:
            self.open += 1
            self.total += 1
            self.peak = max(self.peak, self.open)
        self.local.client = None

    def bind(self, token):
        """The connection (of this thread) belongs to ``token``'s client."""
        with self.lock:
            c = self.clients.setdefault(token, {"open": 0, "peak": 0, "total": 0})
            c["open"] += 1
            c["total"] += 1
            c["peak"] = max(c["peak"], c["open"])
        self.local.client = token

    def closed(self):
        token = getattr(self.local, "client", None)
        with self.lock:
            self.open -= 1
            if token is not None and token in self.clients:
                self.clients[token]["open"] -= 1
        self.local.client = None

    def reset(self):
        with self.lock:
            self.peak = self.open
            self.total = self.open
            self.clients = {t: {"open": c["open"], "peak": c["open"], "total": c["open"]}
                            for t, c in self.clients.items() if c["open"] > 0}

    def snapshot(self):
        with self.lock:
            return {"open": self.open, "peak": self.peak, "total": self.total,
                    "clients": {t: dict(c) for t, c in self.clients.items()}}


class TlsApiServer(ThreadingHTTPServer):
    """HTTPS server doing each TLS handshake in the connection's own thread, so that a
    client that connects and stalls cannot block the accept loop. Holds the store, the
    fault queue, the request log and the accepted tokens."""

    daemon_threads = True
    block_on_close = False
    # Hundreds of clients may connect in the same instant (bench/scale.py): a short
    # accept queue would drop their SYNs and delay them by a retransmit (1 s, then 3 s).
    request_queue_size = 1024

    def __init__(self, addr, ssl_context, family):
        self.address_family = family
        self.ssl_context = ssl_context
        self.store = Store()
        self.faults = Faults()
        self.requests = RequestLog()
        self.connections = Connections()
        self.list_cache = ListCache()
        self.gzip_min_bytes = None  # --gzip-min-bytes: None = never compress
        self._tokens = set()
        self._tokens_lock = threading.Lock()
        super().__init__(addr, ApiHandler)
        host = addr[0]
        port = self.server_address[1]
        self.public_hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def tokens(self):
        with self._tokens_lock:
            return self._tokens

    def set_tokens(self, tokens):
        with self._tokens_lock:
            self._tokens = frozenset(t for t in tokens if t)

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()

    def process_request_thread(self, request, client_address):
        try:
            request.settimeout(HANDSHAKE_TIMEOUT_S)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except (OSError, ssl.SSLError) as e:
            log(f"TLS handshake with {client_address[0]} failed: {e}")
            try:
                request.close()
            except OSError:
                pass
            return
        self.connections.opened()
        try:
            super().process_request_thread(tls, client_address)
        finally:
            self.connections.closed()

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout)):
            return  # a client hanging up is not a server error
        super().handle_error(request, client_address)
