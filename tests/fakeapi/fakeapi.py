#!/usr/bin/python3
"""A fake Kubernetes API server that speaks the real EndpointSlice wire format.

Only what lameduck (and kubectl, to cross-check the fake) need:

* HTTPS with a CA and serving certificate made by the ``openssl`` CLI, bearer tokens;
* ``discovery.k8s.io/v1`` EndpointSlices: list (label/field selectors, ``limit`` +
  ``continue`` pagination on consistent snapshots), get, and watch (chunked JSON lines,
  replay from ``resourceVersion``, bookmarks, ``410 Expired`` after compaction,
  ``timeoutSeconds``);
* enough discovery (``/version``, ``/api``, ``/apis``, ...) and Table output for kubectl;
* a plain-HTTP control API on a second port to change slices, inject faults
  (status codes, garbage, hangs, dropped watches, delays), rotate tokens, compact the
  event history and read the log of requests the API port saw.

Run ``fakeapi.py --help``; the control API is documented in README.md beside this file.
Python standard library only.
"""

import argparse
import base64
import copy
import json
import os
import re
import secrets
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GROUP = "discovery.k8s.io"
GROUP_VERSION = "discovery.k8s.io/v1"
KIND = "EndpointSlice"
RESOURCE = "endpointslices"
SERVER_VERSION = "v1.32.4"

# The first resourceVersion handed out. Real clusters start far above 1; starting at a
# recognisable number makes accidental use of small literals in tests fail loudly.
INITIAL_RV = 1000
# Keep at most this many watch events; older ones are compacted away (410 for watchers).
HISTORY_LIMIT = 100_000
# How often blocked handlers wake up to notice a vanished client or a stopping server.
POLL_S = 0.25
HANDSHAKE_TIMEOUT_S = 10

LOG_LOCK = threading.Lock()
QUIET = False


def log(msg):
    if not QUIET:
        with LOG_LOCK:
            sys.stderr.write(f"fakeapi: {msg}\n")
            sys.stderr.flush()


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(obj):
    """Compact JSON as the apiserver writes it."""
    return json.dumps(obj, separators=(",", ":"))


# --------------------------------------------------------------------------------------
# Status objects (the body of every API error)
# --------------------------------------------------------------------------------------

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_obj(code, message, reason=None, details=None):
    """A ``v1 Status`` failure object exactly as the apiserver serializes it."""
    obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or REASONS.get(code, ""),
    }
    if details is not None:
        obj["details"] = details
    obj["code"] = code
    return obj


def unauthorized_status():
    return status_obj(401, "Unauthorized", "Unauthorized")


def not_found_status():
    return status_obj(404, "the server could not find the requested resource", "NotFound", {})


def expired_status(rv, compacted):
    return status_obj(410, f"too old resource version: {rv} ({compacted})", "Expired")


def fault_status(code, req, fault):
    """The Status body a real apiserver would send for ``code`` on request ``req``."""
    msg = fault.get("message")
    details = None
    if code == 401:
        return status_obj(401, msg or "Unauthorized", "Unauthorized")
    if code == 403:
        if not msg:
            user = fault.get("user", "system:serviceaccount:default:web")
            scope = (f'in the namespace "{req.namespace}"' if req.namespace
                     else "at the cluster scope")
            msg = (f'{RESOURCE}.{GROUP} is forbidden: User "{user}" cannot {req.verb} '
                   f'resource "{RESOURCE}" in API group "{GROUP}" {scope}')
        details = {"group": GROUP, "kind": RESOURCE}
        if req.name:
            details["name"] = req.name
        return status_obj(403, msg, "Forbidden", details)
    if code == 404:
        if req.name:
            return status_obj(404, msg or f'{RESOURCE}.{GROUP} "{req.name}" not found',
                              "NotFound", {"name": req.name, "group": GROUP, "kind": RESOURCE})
        return status_obj(404, msg or "the server could not find the requested resource",
                          "NotFound", {})
    if code == 410:
        rv = req.query.get("resourceVersion") or "1"
        return status_obj(410, msg or f"too old resource version: {rv} ({rv})", "Expired")
    if code == 429:
        return status_obj(429, msg or "Too many requests, please try again later.",
                          "TooManyRequests", {"retryAfterSeconds": fault.get("retry_after", 1)})
    if code == 500:
        return status_obj(500, msg or "Internal error occurred: injected fault",
                          "InternalError", {"causes": [{"message": "injected fault"}]})
    if code == 503:
        return status_obj(503, msg or "the server is currently unable to handle the request",
                          "ServiceUnavailable", {})
    if code == 504:
        return status_obj(504, msg or "Timeout: request did not complete within requested timeout",
                          "Timeout", {})
    return status_obj(code, msg or f"injected fault {code}", REASONS.get(code, "Unknown"))


class ApiError(Exception):
    """Raised by request parsing/handling; rendered as a Status response."""

    def __init__(self, status, headers=None):
        super().__init__(status.get("message"))
        self.status = status
        self.headers = headers or {}


def bad_request(message):
    return ApiError(status_obj(400, message, "BadRequest"))


# --------------------------------------------------------------------------------------
# Label and field selectors
# --------------------------------------------------------------------------------------

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(notin|in)\s*\((.*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


def _split_top_level(text):
    """Split ``text`` on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_label_selector(text):
    """Parse a label selector into a list of ``(op, key, values)`` requirements.

    Supports ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``,
    ``!k`` and comma-joined combinations (all must hold).
    """
    reqs = []
    if not text or not text.strip():
        return reqs
    for part in _split_top_level(text):
        m = _EQ_RE.match(part)
        if m:
            key, op, value = m.groups()
            reqs.append(("!=" if op == "!=" else "=", key, {value}))
            continue
        m = _SET_RE.match(part)
        if m:
            neg, key, op, values = m.groups()
            if op:
                if neg:
                    raise bad_request(f"unable to parse requirement: {part!r}")
                vals = {v.strip() for v in values.split(",") if v.strip()}
                if not vals:
                    raise bad_request(
                        f"unable to parse requirement: for '{op}', 'notin' operators, "
                        "values set can't be empty")
                reqs.append((op, key, vals))
            else:
                reqs.append(("!exists" if neg else "exists", key, set()))
            continue
        raise bad_request(f"unable to parse requirement: found '{part.strip()}', "
                          "expected: identifier")
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for op, key, values in reqs:
        present = key in labels
        value = labels.get(key)
        if op == "=" and not (present and value in values):
            return False
        if op == "!=" and present and value in values:
            return False
        if op == "in" and not (present and value in values):
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True


def parse_field_selector(text):
    """Field selectors EndpointSlices support: ``metadata.name`` and ``metadata.namespace``."""
    reqs = []
    if not text or not text.strip():
        return reqs
    for part in text.split(","):
        m = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.groups()
        if field not in ("metadata.name", "metadata.namespace"):
            raise bad_request(f'field label not supported: {field}')
        reqs.append((field, op != "!=", value))
    return reqs


def fields_match(reqs, obj):
    meta = obj.get("metadata", {})
    for field, equal, value in reqs:
        actual = meta.get(field.split(".", 1)[1], "")
        if (actual == value) != equal:
            return False
    return True


# --------------------------------------------------------------------------------------
# The object store with its event history
# --------------------------------------------------------------------------------------

class Event:
    """One change. ``obj`` is the object after it (for DELETED: the last state, with the
    deletion's resourceVersion); ``prev`` the object before it (None for ADDED)."""

    __slots__ = ("rv", "type", "obj", "prev")

    def __init__(self, rv, type_, obj, prev):
        self.rv, self.type, self.obj, self.prev = rv, type_, obj, prev


def _key(obj):
    meta = obj["metadata"]
    return (meta["namespace"], meta["name"])


def _comparable(obj):
    """The object without the fields the server owns, to detect no-op updates."""
    o = copy.deepcopy(obj)
    for f in ("resourceVersion", "generation", "uid", "creationTimestamp", "managedFields"):
        o["metadata"].pop(f, None)
    return o


class Store:
    """EndpointSlices, a global resourceVersion and the event history watches replay.

    Stored objects are never mutated once stored (every change stores a new dict), so
    handlers may read them outside the lock.
    """

    def __init__(self):
        self.cond = threading.Condition()
        self.rv = INITIAL_RV
        self.objects = {}          # (namespace, name) -> object
        self.history = []          # Events with contiguous, increasing rv
        self.compacted = INITIAL_RV  # watching/continuing from an rv below this -> 410
        self.bookmark_interval = 0.0  # seconds; 0 = no bookmarks
        self.watch_generation = 0  # bumped by POST /watches/close
        self.close_abruptly = False
        self.stopping = False
        self.start_time = time.time()

    # -- mutations (call with self.cond held) ------------------------------------------

    def _record(self, type_, obj, prev):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append(Event(self.rv, type_, obj, prev))
        if len(self.history) > HISTORY_LIMIT:
            drop = len(self.history) - HISTORY_LIMIT
            del self.history[:drop]
            self.compacted = self.history[0].rv - 1
        self.cond.notify_all()
        return self.rv

    def _normalize(self, body):
        if not isinstance(body, dict):
            raise ValueError("a slice must be a JSON object")
        obj = copy.deepcopy(body)
        obj["kind"] = KIND
        obj["apiVersion"] = GROUP_VERSION
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            raise ValueError("metadata.name is required")
        meta.setdefault("namespace", "default")
        obj.setdefault("addressType", "IPv4")
        obj.setdefault("endpoints", [])
        return obj

    def upsert(self, body):
        """Create or update one slice; returns the event type or None for a no-op."""
        obj = self._normalize(body)
        key = _key(obj)
        prev = self.objects.get(key)
        meta = obj["metadata"]
        if prev is None:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_rfc3339())
            meta["generation"] = 1
            type_ = "ADDED"
        else:
            if _comparable(prev) == _comparable(obj):
                return None
            pmeta = prev["metadata"]
            meta["uid"] = pmeta["uid"]
            meta["creationTimestamp"] = pmeta["creationTimestamp"]
            meta["generation"] = pmeta.get("generation", 1) + 1
            type_ = "MODIFIED"
        self.objects[key] = obj
        self._record(type_, obj, prev)
        return type_

    def delete(self, namespace, name):
        prev = self.objects.pop((namespace, name), None)
        if prev is None:
            return False
        gone = copy.deepcopy(prev)
        self._record("DELETED", gone, prev)
        return True

    def replace_all(self, bodies):
        objs = [self._normalize(b) for b in bodies]
        wanted = {_key(o) for o in objs}
        counts = {"ADDED": 0, "MODIFIED": 0, "DELETED": 0}
        for key in sorted(k for k in self.objects if k not in wanted):
            self.delete(*key)
            counts["DELETED"] += 1
        for obj in sorted(objs, key=_key):
            t = self.upsert(obj)
            if t:
                counts[t] += 1
        return counts

    def compact(self):
        self.history.clear()
        self.compacted = self.rv

    # -- reads (call with self.cond held) ------------------------------------------------

    def state_at(self, rv):
        """The objects as they were at ``rv`` (undo the newer history), or raise Expired."""
        if rv < self.compacted:
            raise ApiError(expired_status(rv, self.compacted))
        state = dict(self.objects)
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            key = _key(ev.obj)
            if ev.type == "ADDED":
                state.pop(key, None)
            else:
                state[key] = ev.prev
        return state

    def events_after(self, rv):
        """History events newer than ``rv`` (caller checked ``rv >= compacted``)."""
        if not self.history or rv >= self.rv:
            return []
        first = self.history[0].rv
        return self.history[max(0, rv + 1 - first):]


# --------------------------------------------------------------------------------------
# Faults and the request log
# --------------------------------------------------------------------------------------

FAULT_KINDS = ("status", "garbage", "hang", "drop", "expired", "delay")
FAULT_TARGETS = ("list", "watch", "any", "discovery", "all")


class Faults:
    """An ordered queue of faults; each matching API request consumes one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def push(self, fault):
        kind = fault.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        on = fault.setdefault("on", "any")
        if on not in FAULT_TARGETS:
            raise ValueError(f"unknown fault target {on!r}; one of {', '.join(FAULT_TARGETS)}")
        count = int(fault.setdefault("count", 1))
        if count == 0 or count < -1:
            raise ValueError("count must be positive or -1 (forever)")
        if kind == "status":
            fault["code"] = int(fault.get("code", 500))
        with self.lock:
            self.items.append(fault)

    def take(self, category):
        """Consume the first fault matching ``category`` ("list", "watch", "discovery")."""
        with self.lock:
            for i, f in enumerate(self.items):
                on = f["on"]
                if (on == category or on == "all"
                        or (on == "any" and category in ("list", "watch"))):
                    if f["count"] > 0:
                        f["count"] -= 1
                        if f["count"] == 0:
                            del self.items[i]
                    return dict(f)
        return None

    def clear(self):
        with self.lock:
            self.items.clear()

    def snapshot(self):
        with self.lock:
            return [dict(f) for f in self.items]


class RequestLog:
    LIMIT = 100_000  # keep the newest entries of a long-running demo

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, entry):
        with self.lock:
            self.items.append(entry)
            if len(self.items) > self.LIMIT:
                del self.items[: len(self.items) - self.LIMIT]

    def snapshot(self):
        with self.lock:
            return [dict(e) for e in self.items]

    def clear(self):
        with self.lock:
            self.items.clear()


# --------------------------------------------------------------------------------------
# Discovery documents and Table output
# --------------------------------------------------------------------------------------

def version_doc():
    major, minor = SERVER_VERSION.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": SERVER_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T00:00:00Z",
        "goVersion": "go1.23.8",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def group_doc():
    gv = {"groupVersion": GROUP_VERSION, "version": "v1"}
    return {"name": GROUP, "versions": [gv], "preferredVersion": gv}


def resource_list_doc():
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [{
            "name": RESOURCE,
            "singularName": "endpointslice",
            "namespaced": True,
            "kind": KIND,
            "verbs": ["get", "list", "watch"],
            "storageVersionHash": "Nx3SIv6I0mE=",
        }],
    }


TABLE_COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "priority": 0,
     "description": "Name must be unique within a namespace."},
    {"name": "AddressType", "type": "string", "format": "", "priority": 0,
     "description": "addressType specifies the type of address carried by this EndpointSlice."},
    {"name": "Ports", "type": "string", "format": "", "priority": 0,
     "description": "ports specifies the list of network ports exposed by each endpoint."},
    {"name": "Endpoints", "type": "string", "format": "", "priority": 0,
     "description": "endpoints is a list of unique endpoints in this slice."},
    {"name": "Age", "type": "string", "format": "", "priority": 0,
     "description": "CreationTimestamp is a timestamp representing the server time when "
                    "this object was created."},
]


def human_duration(seconds):
    """k8s.io/apimachinery duration.HumanDuration, as kubectl's AGE column shows it."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    y = d // 365
    if d < 365 * 8:
        return f"{y}y{d % 365}d" if d % 365 else f"{y}y"
    return f"{y}y"


def _more(items, total, limit=3):
    text = ",".join(items)
    return f"{text} + {total - limit} more..." if total > limit else text


def table_cells(obj):
    """The printer columns of pkg/printers/internalversion for an EndpointSlice."""
    ports = obj.get("ports") or []
    port_strs = []
    for p in ports[:3]:
        port_strs.append(str(p["port"]) if p.get("port") is not None
                         else (p.get("name") or "<unset>"))
    addrs = [a for ep in (obj.get("endpoints") or []) for a in ep.get("addresses", [])]
    created = obj["metadata"].get("creationTimestamp")
    age = "<unknown>"
    if created:
        try:
            t = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            age = human_duration(time.time() - t.timestamp())
        except ValueError:
            pass
    return [
        obj["metadata"]["name"],
        obj.get("addressType", ""),
        _more(port_strs, len(ports)) if ports else "<unset>",
        _more(addrs[:3], len(addrs)) if addrs else "<unset>",
        age,
    ]


def table_row(obj, include):
    row = {"cells": table_cells(obj)}
    if include == "Object":
        row["object"] = with_type(obj)
    elif include != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": copy.deepcopy(obj["metadata"]),
        }
    return row


def table_doc(objs, include, meta, version="v1"):
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": meta,
        "columnDefinitions": TABLE_COLUMNS,
        "rows": [table_row(o, include) for o in objs],
    }


def wants_table(accept):
    """The Table version kubectl asked for in ``Accept`` ("v1"/"v1beta1"), or None."""
    for part in (accept or "").split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return params.get("v", "v1")
    return None


def with_type(obj):
    o = dict(obj)
    o["kind"] = KIND
    o["apiVersion"] = GROUP_VERSION
    return o


def without_type(obj):
    """List items lack kind/apiVersion on the wire, exactly like a real apiserver's."""
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def bookmark_obj(rv, initial_events_end=False):
    """A BOOKMARK's object: an empty EndpointSlice with only resourceVersion set.

    Go serializes the non-omitempty fields of the empty struct too, hence
    ``"addressType": ""``, ``"endpoints": null`` and ``"ports": null`` -- clients must cope.
    """
    meta = {"resourceVersion": str(rv), "creationTimestamp": None}
    if initial_events_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": KIND, "apiVersion": GROUP_VERSION, "metadata": meta,
            "addressType": "", "endpoints": None, "ports": None}


# --------------------------------------------------------------------------------------
# Continue tokens
# --------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------
# The API request handler
# --------------------------------------------------------------------------------------

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


class ClientGone(Exception):
    """The client closed the connection (or a write to it failed)."""


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi"
    sys_version = ""
    entry = None  # this request's entry in the request log

    # -- plumbing ------------------------------------------------------------------------

    def log_message(self, fmt, *args):
        log(f"api {self.address_string()} " + (fmt % args))

    def send_response(self, code, message=None):
        if self.entry is not None:
            self.entry["status"] = code
        super().send_response(code, message)

    def _send_json(self, code, obj, headers=None, body=None):
        data = body if body is not None else dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_status(self, status, headers=None):
        self._send_json(status["code"], status, headers)

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
            "status": 0,
            "watch": is_watch,
            "fault": None,
        }
        self.server.requests.add(self.entry)
        try:
            self._read_body()
            if token not in self.server.tokens():
                raise ApiError(unauthorized_status())
            self._route(method, path, query)
        except ApiError as e:
            self._send_status(e.status, e.headers)
        except ClientGone:
            self.close_connection = True
        except (OSError, ssl.SSLError):  # the client went away mid-request
            self.close_connection = True
        except Exception as e:  # a bug in the fake: say so loudly, keep serving others
            import traceback
            log(f"internal error on {method} {self.path}:\n{traceback.format_exc()}")
            if self.entry["status"] == 0:
                self._send_status(status_obj(500, f"fakeapi internal error: {e}", "InternalError"))
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
            doc = self._discovery(path)
            if doc is not None:
                fault = self.server.faults.take("discovery")
                if fault and self._apply_fault(fault, None):
                    return
                self._send_json(200, doc)
                return
        raise ApiError(not_found_status())

    def _discovery(self, path):
        path = path.rstrip("/") or "/"
        host = self.server.public_hostport
        if path == "/version":
            return version_doc()
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                    "serverAddress": host}]}
        if path == "/api/v1":
            return {"kind": "APIResourceList", "groupVersion": "v1", "resources": []}
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_doc()]}
        if path == f"/apis/{GROUP}":
            return dict({"kind": "APIGroup", "apiVersion": "v1"}, **group_doc())
        if path == f"/apis/{GROUP_VERSION}":
            return resource_list_doc()
        return None

    def do_HEAD(self):
        self.send_error(405)

    # -- faults --------------------------------------------------------------------------

    def _apply_fault(self, fault, req):
        """Act out ``fault``. Returns True if the request was fully answered by it."""
        kind = fault["kind"]
        self.entry["fault"] = kind
        log(f"fault {kind} on {self.command} {self.path}")
        if kind == "delay":
            deadline = time.monotonic() + fault.get("ms", 1000) / 1000.0
            while time.monotonic() < deadline:
                if self.client_gone():
                    raise ClientGone()
                time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
            return False
        if kind == "hang":
            self.hang()
            return True
        if kind == "status":
            code = fault["code"]
            headers = {}
            if code == 429 or "retry_after" in fault:
                headers["Retry-After"] = str(fault.get("retry_after", 1))
            self._send_status(fault_status(code, req or ApiRequest(None, None, {}), fault), headers)
            return True
        watching = req is not None and req.watch
        if kind == "garbage" and not watching:
            body = fault.get("body", '{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","items":[{"metadata":')
            self._send_json(200, None, body=body.encode())
            return True
        if kind == "expired" and not watching:
            rv = (req.query.get("resourceVersion") if req else None) or str(INITIAL_RV)
            self._send_status(expired_status(rv, self.server.store.compacted))
            return True
        if kind == "drop" and not watching:
            # Promise a body, send half of it, then cut the connection.
            body = dumps({"kind": "EndpointSliceList", "apiVersion": GROUP_VERSION,
                          "metadata": {"resourceVersion": str(self.server.store.rv)},
                          "items": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.abort_connection()
            return True
        return False  # watch-stream faults are acted out by _watch

    # -- EndpointSlice reads -------------------------------------------------------------

    def _serve_resource(self, req):
        fault = self.server.faults.take("watch" if req.watch else "list")
        if fault and self._apply_fault(fault, req):
            return
        labels = parse_label_selector(req.query.get("labelSelector", ""))
        fields = parse_field_selector(req.query.get("fieldSelector", ""))
        if req.name:
            fields.append(("metadata.name", True, req.name))
        if req.namespace:
            fields.append(("metadata.namespace", True, req.namespace))

        def matches(obj):
            return obj is not None and labels_match(labels, obj["metadata"].get("labels")) \
                and fields_match(fields, obj)

        if req.watch:
            self._watch(req, matches, fault)
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
        table = wants_table(self.headers.get("Accept"))
        if table:
            include = req.query.get("includeObject", "Metadata")
            self._send_json(200, table_doc([obj], include,
                                           {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                           table))
        else:
            self._send_json(200, with_type(obj))

    def _list(self, req, matches):
        store = self.server.store
        q = req.query
        limit_param = q.get("limit") or "0"
        if not limit_param.isdigit():
            raise bad_request(f"invalid limit: {limit_param!r}")
        limit = int(limit_param)
        cont = q.get("continue", "")
        rv_param = q.get("resourceVersion", "")
        with store.cond:
            if cont:
                if rv_param:
                    raise bad_request("specifying resource version is not allowed when using continue")
                list_rv, start = decode_continue(cont)
                if list_rv < store.compacted:
                    raise ApiError(status_obj(
                        410,
                        "The provided continue parameter is too old to display a consistent "
                        "list result. You can start a new list without the continue parameter, "
                        "or use the continue token in this response to retrieve the remainder "
                        "of the results. Continuing with the provided token results in an "
                        "inconsistent list - objects that were created, modified, or deleted "
                        "between the time the first chunk was returned and now may show up in "
                        "the list.", "Expired"))
                state = store.state_at(list_rv)
            elif rv_param and rv_param != "0" and q.get("resourceVersionMatch") == "Exact":
                try:
                    list_rv = int(rv_param)
                except ValueError:
                    raise bad_request(f"invalid resource version: {rv_param}") from None
                state = store.state_at(list_rv)
                start = None
            else:
                if rv_param and rv_param != "0":
                    try:
                        int(rv_param)
                    except ValueError:
                        raise bad_request(f"invalid resource version: {rv_param}") from None
                list_rv, state, start = store.rv, dict(store.objects), None

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

        table = wants_table(self.headers.get("Accept"))
        if table:
            include = q.get("includeObject", "Metadata")
            self._send_json(200, table_doc(items, include, meta, table))
        else:
            self._send_json(200, {"kind": "EndpointSliceList", "apiVersion": GROUP_VERSION,
                                  "metadata": meta, "items": [without_type(o) for o in items]})

    # -- watch ---------------------------------------------------------------------------

    def _write_chunk(self, data):
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except (OSError, ValueError):
            raise ClientGone() from None

    def _watch(self, req, matches, fault):
        store = self.server.store
        q = req.query
        rv_param = q.get("resourceVersion", "")
        bookmarks = q.get("allowWatchBookmarks", "").lower() in ("1", "true")
        send_initial = q.get("sendInitialEvents", "").lower() in ("1", "true")
        timeout = q.get("timeoutSeconds")
        deadline = None
        if timeout:
            try:
                deadline = time.monotonic() + float(timeout)
            except ValueError:
                raise bad_request(f"invalid timeoutSeconds: {timeout}") from None
        table = wants_table(self.headers.get("Accept"))
        include = q.get("includeObject", "Metadata")
        if rv_param and rv_param != "0":
            try:
                start_rv = int(rv_param)
            except ValueError:
                raise bad_request(f"invalid resource version: {rv_param}") from None
        else:
            start_rv = None
        if send_initial and not bookmarks:
            raise ApiError(status_obj(
                422, "sendInitialEvents is forbidden for watch unless the "
                "WatchList feature gate is enabled and allowWatchBookmarks is set", "Invalid"))

        # Headers first, like the apiserver: from here on errors are ERROR events.
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        kind = fault["kind"] if fault else None
        sent = 0              # events written (for the drop fault)
        drop_after = int(fault.get("after", 0)) if kind == "drop" else None

        def check_drop():
            """The drop fault: after N events, cut the connection mid-stream."""
            if drop_after is not None and sent >= drop_after:
                log(f"dropping watch after {sent} events")
                self.abort_connection()
                raise ClientGone()

        def emit(type_, obj):
            nonlocal sent
            check_drop()
            if table and type_ not in ("ERROR", "BOOKMARK"):
                obj = table_doc([obj], include, {"resourceVersion": obj["metadata"]["resourceVersion"]}, table)
            self._write_chunk(dumps({"type": type_, "object": obj}).encode() + b"\n")
            sent += 1

        def finish():
            self._write_chunk(b"")  # the terminating zero-length chunk

        if kind == "expired":
            emit("ERROR", expired_status(rv_param or str(store.rv), store.compacted))
            finish()
            return
        if kind == "garbage":
            self._write_chunk(fault.get("body", '{"type":"ADDED","object":{"kind":"EndpointSl').encode() + b"\n")

        with store.cond:
            generation = store.watch_generation
            if start_rv is None or send_initial:
                initial = sorted((o for o in store.objects.values() if matches(o)), key=_key)
                cursor = store.rv
                backlog = []
            else:
                initial = []
                if start_rv < store.compacted:
                    backlog = None
                else:
                    backlog = list(store.events_after(start_rv))
                cursor = start_rv
            compacted = store.compacted
        if backlog is None:
            emit("ERROR", expired_status(start_rv, compacted))
            finish()
            return
        for obj in initial:
            emit("ADDED", with_type(obj))
        if send_initial:
            emit("BOOKMARK", bookmark_obj(cursor, initial_events_end=True))

        last_bookmark = time.monotonic()
        check_drop()

        while True:
            for ev in backlog:
                self._emit_event(ev, matches, emit)
                cursor = ev.rv
            check_drop()
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                finish()
                return
            interval = store.bookmark_interval
            if bookmarks and interval > 0 and now - last_bookmark >= interval:
                emit("BOOKMARK", bookmark_obj(cursor))
                last_bookmark = now
            if self.client_gone():
                raise ClientGone()
            # Wait for new events, the deadline, the next bookmark or a poll tick.
            wait = POLL_S
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - now))
            if bookmarks and interval > 0:
                wait = min(wait, max(0.0, last_bookmark + interval - now))
            with store.cond:
                if store.rv == cursor and not store.stopping and store.watch_generation == generation:
                    store.cond.wait(wait)
                if store.stopping or store.watch_generation != generation:
                    abrupt = store.close_abruptly
                    backlog = None
                elif cursor < store.compacted:
                    backlog = "expired"
                    compacted = store.compacted
                else:
                    backlog = list(store.events_after(cursor))
            if backlog is None:
                # Server stopping or POST /watches/close: end like an apiserver restart.
                if abrupt and not store.stopping:
                    self.abort_connection()
                    raise ClientGone()
                finish()
                return
            if backlog == "expired":
                emit("ERROR", expired_status(cursor, compacted))
                finish()
                return

    @staticmethod
    def _emit_event(ev, matches, emit):
        """Translate one history event for a filtered watcher, like the watch cache does."""
        now_ok = matches(ev.obj)
        if ev.type == "ADDED":
            if now_ok:
                emit("ADDED", with_type(ev.obj))
        elif ev.type == "DELETED":
            if now_ok:
                emit("DELETED", with_type(ev.obj))
        else:
            was_ok = matches(ev.prev)
            if now_ok and was_ok:
                emit("MODIFIED", with_type(ev.obj))
            elif now_ok:
                emit("ADDED", with_type(ev.obj))
            elif was_ok:
                # Left the selector: a DELETED of the old state at the new resourceVersion.
                gone = copy.deepcopy(ev.prev)
                gone["metadata"]["resourceVersion"] = str(ev.rv)
                emit("DELETED", with_type(gone))


# --------------------------------------------------------------------------------------
# The control API (plain HTTP, no auth)
# --------------------------------------------------------------------------------------

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
        srv = self.server.api
        store = srv.store
        if path == "/health" and method == "GET":
            # Threads: one per open connection plus a few; lets tests spot leaked handlers.
            return 200, {"ok": True, "threads": threading.active_count(),
                         "resourceVersion": str(store.rv)}
        if path == "/slices":
            with store.cond:
                if method == "GET":
                    return 200, {"resourceVersion": str(store.rv),
                                 "items": [store.objects[k] for k in sorted(store.objects)]}
                if method == "PUT":
                    if not isinstance(body, list):
                        raise ValueError("PUT /slices wants a JSON list of slices")
                    counts = store.replace_all(body)
                    return 200, {"resourceVersion": str(store.rv), "events": counts}
                if method == "POST":
                    event = store.upsert(body)
                    return 200, {"resourceVersion": str(store.rv), "event": event}
        m = re.match(r"^/slices/([^/]+)/([^/]+)$", path)
        if m and method == "DELETE":
            with store.cond:
                found = store.delete(urllib.parse.unquote(m.group(1)), urllib.parse.unquote(m.group(2)))
                return (200 if found else 404), {"resourceVersion": str(store.rv), "deleted": found}
        if path == "/faults":
            if method == "GET":
                return 200, srv.faults.snapshot()
            if method == "POST":
                for f in (body if isinstance(body, list) else [body]):
                    srv.faults.push(dict(f))
                return 200, srv.faults.snapshot()
            if method == "DELETE":
                srv.faults.clear()
                return 200, []
        if path == "/tokens" and method == "POST":
            tokens = body.get("tokens") if isinstance(body, dict) else None
            if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                raise ValueError('POST /tokens wants {"tokens": ["...", ...]}')
            srv.set_tokens(tokens)
            return 200, {"tokens": len(tokens)}
        if path == "/compact" and method == "POST":
            with store.cond:
                store.compact()
                return 200, {"compacted": str(store.compacted)}
        if path == "/bookmarks" and method == "POST":
            interval = float((body or {}).get("interval_ms", 0)) / 1000.0
            with store.cond:
                store.bookmark_interval = max(0.0, interval)
                store.cond.notify_all()
            return 200, {"interval_ms": interval * 1000}
        if path == "/watches/close" and method == "POST":
            with store.cond:
                store.close_abruptly = bool((body or {}).get("abrupt", False))
                store.watch_generation += 1
                store.cond.notify_all()
            return 200, {"closed": True}
        if path == "/requests":
            if method == "GET":
                return 200, srv.requests.snapshot()
            if method == "DELETE":
                srv.requests.clear()
                return 200, []
        return 404, {"error": f"no control endpoint {method} {path}"}


# --------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------

class TlsApiServer(ThreadingHTTPServer):
    """HTTPS server doing each TLS handshake in the connection's own thread, so that a
    client that connects and stalls cannot block the accept loop."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, addr, ssl_context, family):
        self.address_family = family
        self.ssl_context = ssl_context
        self.store = Store()
        self.faults = Faults()
        self.requests = RequestLog()
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
        super().process_request_thread(tls, client_address)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout)):
            return  # a client hanging up is not a server error
        super().handle_error(request, client_address)


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, addr, api):
        self.api = api
        super().__init__(addr, ControlHandler)


# --------------------------------------------------------------------------------------
# Certificates and credentials
# --------------------------------------------------------------------------------------

SERVER_SANS = "IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default," \
              "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"


def _openssl(*args, cwd):
    res = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {res.stderr.strip()}")


def ensure_certs(d, key_type="rsa"):
    """A CA (ca.crt/ca.key) and a serving cert (server.crt/server.key) signed by it."""
    names = ("ca.crt", "ca.key", "server.crt", "server.key")
    if all(os.path.exists(os.path.join(d, n)) for n in names):
        return
    newkey = (["-newkey", "rsa:2048"] if key_type == "rsa"
              else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
    # Build in a scratch dir and move into place, so a half-made set never gets reused.
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        _openssl("req", "-x509", *newkey, "-nodes", "-sha256", "-days", "3650",
                 "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=fakeapi-ca",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign", cwd=tmp)
        _openssl("req", "-new", *newkey, "-nodes", "-sha256", "-keyout", "server.key",
                 "-out", "server.csr", "-subj", "/CN=kube-apiserver", cwd=tmp)
        with open(os.path.join(tmp, "ext.cnf"), "w") as f:
            f.write(f"subjectAltName={SERVER_SANS}\n"
                    "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n")
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-sha256", "-days", "3650", "-extfile", "ext.cnf",
                 "-out", "server.crt", cwd=tmp)
        for n in names:
            os.replace(os.path.join(tmp, n), os.path.join(d, n))


def write_atomic(path, text, mode=0o644):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def ensure_credentials(d):
    """DIR/token (kept if present) and DIR/namespace, like a service-account volume."""
    token_path = os.path.join(d, "token")
    token = ""
    if os.path.exists(token_path):
        with open(token_path) as f:
            token = f.read().strip()
    if not token:
        token = "fakeapi-" + secrets.token_urlsafe(32)
        write_atomic(token_path, token)
    ns_path = os.path.join(d, "namespace")
    if not os.path.exists(ns_path):
        write_atomic(ns_path, "default")
    return token


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------

def main(argv=None):
    global QUIET
    p = argparse.ArgumentParser(description="Fake Kubernetes API server (EndpointSlices).")
    p.add_argument("--dir", required=True, help="where ca.crt, token, namespace, ready.json go")
    p.add_argument("--host", default="127.0.0.1", help="API listen address (127.0.0.1 or ::1)")
    p.add_argument("--port", type=int, default=0, help="API port (0 = pick a free one)")
    p.add_argument("--control-port", type=int, default=0, help="control port (0 = pick)")
    p.add_argument("--key-type", choices=("rsa", "ec"), default="rsa")
    p.add_argument("--quiet", action="store_true", help="no per-request log on stderr")
    args = p.parse_args(argv)
    QUIET = args.quiet

    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    ready_path = os.path.join(d, "ready.json")
    if os.path.exists(ready_path):
        os.unlink(ready_path)
    ensure_certs(d, args.key_type)
    token = ensure_credentials(d)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
    ctx.set_alpn_protocols(["http/1.1"])  # no h2: clients fall back to HTTP/1.1

    host = args.host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    api = TlsApiServer((host, args.port), ctx, family)
    api.set_tokens([token])
    control = ControlServer(("127.0.0.1", args.control_port), api)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    # A short poll interval makes shutdown() (and so SIGTERM) quick.
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05},
                                daemon=True) for s in (api, control)]
    for t in threads:
        t.start()

    port = api.server_address[1]
    url_host = f"[{host}]" if family == socket.AF_INET6 else host
    ready = {"url": f"https://{url_host}:{port}",
             "control": f"http://127.0.0.1:{control.server_address[1]}",
             "pid": os.getpid()}
    write_atomic(ready_path, dumps(ready) + "\n")
    print(json.dumps(ready), flush=True)
    log(f"serving {ready['url']} (control {ready['control']})")

    stop.wait()  # the signal handler runs in this thread and sets the event
    log("stopping")
    with api.store.cond:
        api.store.stopping = True
        api.store.cond.notify_all()
    api.shutdown()
    control.shutdown()
    api.server_close()
    control.server_close()
    try:
        os.unlink(ready_path)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
