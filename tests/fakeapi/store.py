# SPDX-License-Identifier: Apache-2.0
"""The object store: EndpointSlices, the global resourceVersion and the event history
that watches replay."""

import copy
import threading
import time
import uuid

from .common import GROUP_VERSION, KIND, now_rfc3339
from .status import ApiError, expired_status

# The first resourceVersion handed out. Real clusters start far above 1; starting at a
# recognisable number makes accidental use of small literals in tests fail loudly.
INITIAL_RV = 1000
# Keep at most this many watch events; older ones are compacted away (410 for watchers).
HISTORY_LIMIT = 100_000


class Event:
    """One change. ``obj`` is the object after it (for DELETED: the last state, with the
    deletion's resourceVersion); ``prev`` the object before it (None for ADDED)."""

    __slots__ = ("rv", "type", "obj", "prev")

    def __init__(self, rv, type_, obj, prev):
        self.rv, self.type, self.obj, self.prev = rv, type_, obj, prev


def object_key(obj):
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
        key = object_key(obj)
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
        wanted = {object_key(o) for o in objs}
        counts = {"ADDED": 0, "MODIFIED": 0, "DELETED": 0}
        for key in sorted(k for k in self.objects if k not in wanted):
            self.delete(*key)
            counts["DELETED"] += 1
        for obj in sorted(objs, key=object_key):
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
            key = object_key(ev.obj)
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
