# SPDX-License-Identifier: Apache-2.0
"""What only kubectl needs: discovery documents and server-side Table output.

lameduck never asks for these; they exist so that kubectl (v1.32) works against the fake,
which cross-checks the fake's wire format against a real client (the kubectl tests in
tests/integration/test_fakeapi.py, skipped when kubectl is not installed). The API handler
calls ``discovery_doc`` for GETs outside the EndpointSlice paths and ``table_renderer``
for every list, get and watch.
"""

import copy
import time
from datetime import datetime, timezone

from .common import GROUP, GROUP_VERSION, KIND, RESOURCE, SERVER_VERSION, with_type


def discovery_doc(path, hostport):
    """The discovery document at ``path``, or None if ``path`` is not one."""
    path = path.rstrip("/") or "/"
    if path == "/version":
        return version_doc()
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                "serverAddress": hostport}]}
    if path == "/api/v1":
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": []}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_doc()]}
    if path == f"/apis/{GROUP}":
        return dict({"kind": "APIGroup", "apiVersion": "v1"}, **group_doc())
    if path == f"/apis/{GROUP_VERSION}":
        return resource_list_doc()
    return None


def table_renderer(accept, query):
    """If ``Accept`` asks for a Table: ``render(objs, list_metadata)`` -> the Table;
    else None."""
    version = wants_table(accept)
    if not version:
        return None
    include = query.get("includeObject", "Metadata")
    return lambda objs, meta: table_doc(objs, include, meta, version)


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
