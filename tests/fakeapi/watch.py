# SPDX-License-Identifier: Apache-2.0
"""Watches: a chunked stream of JSON event lines, replayed from the store's history and
then live, filtered like the apiserver's watch cache."""

import copy
import time
import uuid

from . import kubectl_compat
from .common import GROUP_VERSION, KIND, POLL_S, ClientGone, dumps, with_type
from .status import ApiError, bad_request, expired_status, status_obj
from .store import object_key


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


def _flag(q, name):
    return q.get(name, "").lower() in ("1", "true")


class WatchParams:
    """A watch request's query, checked before the 200 header (errors are Statuses)."""

    def __init__(self, q):
        self.bookmarks = _flag(q, "allowWatchBookmarks")
        self.send_initial = _flag(q, "sendInitialEvents")
        self.deadline = None
        timeout = q.get("timeoutSeconds")
        if timeout:
            try:
                self.deadline = time.monotonic() + float(timeout)
            except ValueError:
                raise bad_request(f"invalid timeoutSeconds: {timeout}") from None
        rv_param = q.get("resourceVersion", "")
        self.start_rv = None  # None: start with the current state
        if rv_param and rv_param != "0":
            try:
                self.start_rv = int(rv_param)
            except ValueError:
                raise bad_request(f"invalid resource version: {rv_param}") from None
        if self.send_initial and not self.bookmarks:
            raise ApiError(status_obj(
                422, "sendInitialEvents is forbidden for watch unless the "
                "WatchList feature gate is enabled and allowWatchBookmarks is set", "Invalid"))


class WatchStream:
    """The open response of one watch: writes event chunks, counts them, lets the
    request's fault act before each event."""

    def __init__(self, h, req, fault):
        self.h = h
        self.req = req
        self.store = h.server.store
        self.fault = fault
        self.sent = 0  # events written
        self.table = kubectl_compat.table_renderer(h.headers.get("Accept"), req.query)

    def send_headers(self):
        """Headers first, like the apiserver: from here on errors are ERROR events."""
        h = self.h
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Cache-Control", "no-cache, private")
        h.send_header("Audit-Id", str(uuid.uuid4()))
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

    def write_chunk(self, data):
        try:
            self.h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except (OSError, ValueError):
            raise ClientGone() from None

    def write_line(self, data):
        self.write_chunk(data + b"\n")

    def check_fault(self):
        if self.fault is not None:
            self.fault.before_event(self)

    def emit(self, type_, obj):
        self.check_fault()
        if self.table and type_ not in ("ERROR", "BOOKMARK"):
            obj = self.table([obj], {"resourceVersion": obj["metadata"]["resourceVersion"]})
        self.write_line(dumps({"type": type_, "object": obj}).encode())
        self.sent += 1
        if self.h.entry is not None:
            self.h.entry["events"] += 1

    def finish(self):
        self.write_chunk(b"")  # the terminating zero-length chunk

    def cut(self):
        """End abruptly: no terminating chunk."""
        self.h.abort_connection()
        raise ClientGone()


def serve(h, req, matches, fault):
    """Answer watch request ``req`` (``matches``: its selector) on handler ``h``."""
    params = WatchParams(req.query)
    stream = WatchStream(h, req, fault)
    stream.send_headers()
    if fault is not None and fault.watch_started(stream):
        return
    store = stream.store
    with store.cond:
        generation = store.watch_generation
        if params.start_rv is None or params.send_initial:
            initial = sorted((o for o in store.objects.values() if matches(o)), key=object_key)
            cursor = store.rv
            backlog = []
        else:
            initial = []
            backlog = (None if params.start_rv < store.compacted
                       else list(store.events_after(params.start_rv)))
            cursor = params.start_rv
        compacted = store.compacted
    if backlog is None:
        stream.emit("ERROR", expired_status(params.start_rv, compacted))
        stream.finish()
        return
    for obj in initial:
        stream.emit("ADDED", with_type(obj))
    if params.send_initial:
        stream.emit("BOOKMARK", bookmark_obj(cursor, initial_events_end=True))
    stream.check_fault()
    _follow(stream, params, matches, generation, cursor, backlog)


def _follow(stream, params, matches, generation, cursor, backlog):
    """Send ``backlog``, then live events, bookmarks and the end of the stream."""
    store = stream.store
    last_bookmark = time.monotonic()
    while True:
        for ev in backlog:
            _emit_event(ev, matches, stream.emit)
            cursor = ev.rv
        stream.check_fault()
        now = time.monotonic()
        if params.deadline is not None and now >= params.deadline:
            stream.finish()
            return
        interval = store.bookmark_interval
        bookmarks = params.bookmarks and interval > 0
        if bookmarks and now - last_bookmark >= interval:
            stream.emit("BOOKMARK", bookmark_obj(cursor))
            last_bookmark = now
        if stream.h.client_gone():
            raise ClientGone()
        # Wait for new events, the deadline, the next bookmark or a poll tick.
        wait = POLL_S
        if params.deadline is not None:
            wait = min(wait, max(0.0, params.deadline - now))
        if bookmarks:
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
                stream.cut()
            stream.finish()
            return
        if backlog == "expired":
            stream.emit("ERROR", expired_status(cursor, compacted))
            stream.finish()
            return


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
