# SPDX-License-Identifier: Apache-2.0
"""Faults (queued by the control API, acted out by the API port) and the request log.

A fault is a JSON object ``{"kind": K, "on": T, "count": N, ...}`` (README.md, "Faults").
Each kind is one ``Fault`` subclass below, registered with ``@fault_kind``: adding a fault
is adding one class here (and a row to README.md's table). A queued fault is taken by the
first API request it matches; the handler then calls the taken fault's hooks:

* ``check(spec)`` (class method): validate/normalise the spec when it is queued;
  raise ``ValueError`` (the control API answers 400);
* ``answer(h, req)``: before the normal answer of a list, get, watch or discovery request
  (discovery: ``req`` has no namespace, name or query). Return True if the fault answered
  the request itself, False to go on;
* ``watch_started(stream)``: a watch's 200 header is sent; return True if the fault ended
  the stream;
* ``before_event(stream)``: before each watch event and each wake-up of the watch loop.

``h`` is the ``api.ApiHandler``: ``h.send_status(status, headers)``, ``h.send_json(code,
obj, body=bytes)``, ``h.hang()``, ``h.abort_connection()``, ``h.client_gone()``,
``h.server.store``. ``stream`` is the ``watch.WatchStream``: ``stream.emit(type, obj)``,
``stream.write_line(bytes)``, ``stream.finish()``, ``stream.cut()``, ``stream.sent``,
``stream.req``, ``stream.store``. ``self.spec`` is this request's copy of the spec.
"""

import threading
import time

from .common import GROUP_VERSION, POLL_S, ClientGone, dumps, log
from .slices import endpoint
from .slices import slice as make_slice
from .status import expired_status, fault_status
from .store import INITIAL_RV

FAULT_TARGETS = ("list", "watch", "any", "discovery", "all")

KINDS = {}  # kind name -> Fault subclass, in definition order


def fault_kind(cls):
    KINDS[cls.kind] = cls
    return cls


class Fault:
    kind = None

    def __init__(self, spec):
        self.spec = spec

    @classmethod
    def check(cls, spec):
        pass

    def answer(self, h, req):
        return False

    def watch_started(self, stream):
        return False

    def before_event(self, stream):
        pass


@fault_kind
class Status(Fault):
    """That HTTP status with a real Status body (also instead of a watch stream)."""
    kind = "status"

    @classmethod
    def check(cls, spec):
        spec["code"] = int(spec.get("code", 500))

    def answer(self, h, req):
        code = self.spec["code"]
        headers = {}
        if code == 429 or "retry_after" in self.spec:
            headers["Retry-After"] = str(self.spec.get("retry_after", 1))
        h.send_status(fault_status(code, req, self.spec), headers)
        return True


@fault_kind
class Garbage(Fault):
    """list/get: 200 with malformed JSON; watch: a garbage first line, then the stream."""
    kind = "garbage"

    def answer(self, h, req):
        if req.watch:
            return False
        body = self.spec.get("body", '{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","items":[{"metadata":')
        h.send_json(200, None, body=body.encode())
        return True

    def watch_started(self, stream):
        stream.write_line(self.spec.get("body", '{"type":"ADDED","object":{"kind":"EndpointSl').encode())
        return False


@fault_kind
class Hang(Fault):
    """Accept, send nothing until the client leaves or the server stops."""
    kind = "hang"

    def answer(self, h, req):
        h.hang()
        return True


@fault_kind
class Drop(Fault):
    """watch: ``after`` events, then cut the connection; list: half a body, then cut."""
    kind = "drop"

    def answer(self, h, req):
        if req.watch:
            return False
        # Promise a body, send half of it, then cut the connection.
        body = dumps({"kind": "EndpointSliceList", "apiVersion": GROUP_VERSION,
                      "metadata": {"resourceVersion": str(h.server.store.rv)},
                      "items": []}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[: len(body) // 2])
        h.abort_connection()
        return True

    def before_event(self, stream):
        if stream.sent >= int(self.spec.get("after", 0)):
            log(f"dropping watch after {stream.sent} events")
            stream.cut()


@fault_kind
class Expired(Fault):
    """watch: one ERROR event (410 Expired), end; list: 410 Expired Status."""
    kind = "expired"

    def answer(self, h, req):
        if req.watch:
            return False
        rv = req.query.get("resourceVersion") or str(INITIAL_RV)
        h.send_status(expired_status(rv, h.server.store.compacted))
        return True

    def watch_started(self, stream):
        store = stream.store
        stream.emit("ERROR", expired_status(stream.req.query.get("resourceVersion", "")
                                            or str(store.rv), store.compacted))
        stream.finish()
        return True


@fault_kind
class Delay(Fault):
    """Wait ``ms`` (default 1000), then answer normally."""
    kind = "delay"

    def answer(self, h, req):
        deadline = time.monotonic() + self.spec.get("ms", 1000) / 1000.0
        while time.monotonic() < deadline:
            if h.client_gone():
                raise ClientGone()
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        return False


@fault_kind
class Flood(Fault):
    """watch: ``events`` (default 3000) ADDED events, each for a new slice of Service
    ``service`` (default web) that does not name the Pod, as fast as the socket takes
    them; then the normal stream. The slices are not stored."""
    kind = "flood"

    @classmethod
    def check(cls, spec):
        spec["events"] = int(spec.get("events", 3000))
        spec.setdefault("service", "web")

    def watch_started(self, stream):
        svc = self.spec["service"]
        rv = stream.store.rv
        template = make_slice(f"{svc}-flood-NNNNNN", svc,
                              [endpoint("10.250.0.1", pod=f"{svc}-flood")])
        template["metadata"]["resourceVersion"] = str(rv)
        line = dumps({"type": "ADDED", "object": template}).encode()
        for i in range(self.spec["events"]):
            stream.write_line(line.replace(b"NNNNNN", b"%06d" % i))
        log(f"flooded the watch with {self.spec['events']} ADDED events")
        return False


@fault_kind
class EndlessPages(Fault):
    """list: an empty page whose ``metadata.continue`` always asks for one more page
    (a broken or hostile apiserver); the list never ends."""
    kind = "endless_pages"

    def answer(self, h, req):
        if req.watch:
            return False
        token = req.query.get("continue", "")
        n = int(token[5:]) + 1 if token.startswith("page-") and token[5:].isdigit() else 1
        h.send_json(200, {"kind": "EndpointSliceList", "apiVersion": GROUP_VERSION,
                          "metadata": {"resourceVersion": str(h.server.store.rv),
                                       "continue": f"page-{n}", "remainingItemCount": 1},
                          "items": []})
        return True


class Faults:
    """An ordered queue of fault specs; each matching API request consumes one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def push(self, spec):
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(KINDS)}")
        on = spec.setdefault("on", "any")
        if on not in FAULT_TARGETS:
            raise ValueError(f"unknown fault target {on!r}; one of {', '.join(FAULT_TARGETS)}")
        count = int(spec.setdefault("count", 1))
        if count == 0 or count < -1:
            raise ValueError("count must be positive or -1 (forever)")
        KINDS[kind].check(spec)
        with self.lock:
            self.items.append(spec)

    def take(self, category):
        """Consume the first fault matching ``category`` ("list", "watch", "discovery");
        returns a ``Fault`` holding a copy of its spec, or None."""
        with self.lock:
            for i, f in enumerate(self.items):
                on = f["on"]
                if (on == category or on == "all"
                        or (on == "any" and category in ("list", "watch"))):
                    if f["count"] > 0:
                        f["count"] -= 1
                        if f["count"] == 0:
                            del self.items[i]
                    return KINDS[f["kind"]](dict(f))
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
