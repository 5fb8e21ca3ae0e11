# SPDX-License-Identifier: Apache-2.0
"""What every part of the server shares: the resource's names, tunables, logging, and
JSON as the apiserver writes it."""

import json
import sys
import threading
from datetime import datetime, timezone

GROUP = "discovery.k8s.io"
GROUP_VERSION = "discovery.k8s.io/v1"
KIND = "EndpointSlice"
RESOURCE = "endpointslices"
SERVER_VERSION = "v1.32.4"

# How often blocked handlers wake up to notice a vanished client or a stopping server.
POLL_S = 0.25
HANDSHAKE_TIMEOUT_S = 10

_LOG_LOCK = threading.Lock()
_quiet = False


def set_quiet(quiet):
    """``--quiet``: no log lines on stderr."""
    global _quiet
    _quiet = quiet


def log(msg):
    if not _quiet:
        with _LOG_LOCK:
            sys.stderr.write(f"fakeapi: {msg}\n")
            sys.stderr.flush()


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def dumps(obj):
    """Compact JSON as the apiserver writes it."""
    return json.dumps(obj, separators=(",", ":"))


def with_type(obj):
    o = dict(obj)
    o["kind"] = KIND
    o["apiVersion"] = GROUP_VERSION
    return o


def without_type(obj):
    """List items lack kind/apiVersion on the wire, exactly like a real apiserver's."""
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


class ClientGone(Exception):
    """The client closed the connection (or a write to it failed)."""
