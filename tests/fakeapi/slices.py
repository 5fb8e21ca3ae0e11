# SPDX-License-Identifier: Apache-2.0
"""Builders for EndpointSlice JSON shaped exactly like the Kubernetes API serves it.

The endpoint-slice controller (``endpointslice-controller.k8s.io``) writes slices that look
like this; tests feed them to the fake API server (``fakeapi.py``) so that lameduck parses
the real wire format, including its awkward corners:

* ``conditions.ready`` may be absent (absent means ready),
* a terminating Pod stays in the slice as ``ready: false, serving: true, terminating: true``,
* a dual-stack Pod appears in two slices (one ``IPv4``, one ``IPv6``),
* list items carry no ``kind``/``apiVersion`` (the server strips them; see fakeapi.py).

Everything returns plain dicts/lists ready for ``json.dumps``. Identifiers (uids) are
derived deterministically from names so that fixtures are reproducible.

Example::

    from fakeapi.slices import endpoint, slice
    s = slice("web-abc12", "web", [
        endpoint("10.1.2.3", pod="web-7d9f-x1"),
        endpoint("10.1.2.4", pod="web-7d9f-x2", ready=False, serving=True, terminating=True),
    ])
"""

import ipaddress
import uuid

__all__ = [
    "endpoint",
    "slice",
    "pod_slice",
    "terminating",
    "service_slices",
    "address_type_of",
    "stable_uid",
    "MANAGED_BY",
    "SERVICE_NAME_LABEL",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"

# Marker for "argument not given" where None already means "omit the field".
_DEFAULT = object()

# A fixed timestamp keeps fixtures reproducible.
DEFAULT_TIMESTAMP = "2025-01-01T00:00:00Z"


def stable_uid(*parts):
    """A UUID derived from ``parts`` (same input, same uid), formatted like Kubernetes'."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "fakeapi:" + "/".join(parts)))


def address_type_of(ip):
    """``"IPv4"`` or ``"IPv6"`` for an address string."""
    return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"


def endpoint(
    ip,
    ready=True,
    serving=_DEFAULT,
    terminating=_DEFAULT,
    pod="web-abc",
    node="node-1",
    namespace="default",
    uid=None,
    zone="zone-a",
    hostname=None,
):
    """One entry of ``EndpointSlice.endpoints``.

    ``ip`` is an address or a list of addresses. For each of ``ready``/``serving``/
    ``terminating``, ``None`` omits the field (the API treats an absent ``ready`` as true).
    Defaults follow what the controller writes for a running Pod: ``serving`` mirrors
    ``ready`` and ``terminating`` is ``False`` (both omitted when ``ready`` is ``None``).
    ``pod=None`` omits ``targetRef``; ``node=None`` omits ``nodeName``; ``zone=None``
    omits ``zone``.
    """
    addresses = [ip] if isinstance(ip, str) else list(ip)
    if serving is _DEFAULT:
        serving = ready
    if terminating is _DEFAULT:
        terminating = None if ready is None else False

    conditions = {}
    for key, value in (("ready", ready), ("serving", serving), ("terminating", terminating)):
        if value is not None:
            conditions[key] = bool(value)

    ep = {"addresses": addresses, "conditions": conditions}
    if hostname is not None:
        ep["hostname"] = hostname
    if pod is not None:
        ep["targetRef"] = {
            "kind": "Pod",
            "namespace": namespace,
            "name": pod,
            "uid": uid or stable_uid("pod", namespace, pod),
        }
    if node is not None:
        ep["nodeName"] = node
    if zone is not None:
        ep["zone"] = zone
    return ep


def terminating(ip, **kw):
    """An endpoint of a Pod being deleted, as the controller writes it.

    ``ready: false, serving: true, terminating: true`` (pass ``serving=False`` once the
    Pod also failed its readiness probe, or ``ready=True`` to imitate a Service with
    ``publishNotReadyAddresses: true``).
    """
    kw.setdefault("ready", False)
    kw.setdefault("serving", True)
    kw.setdefault("terminating", True)
    return endpoint(ip, **kw)


def slice(
    name,
    service,
    endpoints,
    address_type="IPv4",
    namespace="default",
    ports=_DEFAULT,
    labels=None,
    creation_timestamp=None,
):
    """A whole ``discovery.k8s.io/v1`` EndpointSlice of ``service``.

    Metadata is what the controller sets: ``generateName`` ``<service>-``, the
    ``kubernetes.io/service-name`` and ``managed-by`` labels, a controller ownerReference
    to the Service. The fake server fills in ``resourceVersion`` and ``generation``, and
    ``creationTimestamp`` (now) unless ``creation_timestamp`` is given.
    ``ports`` defaults to one TCP port ``http``/8080; pass ``None`` for a slice without
    ports (a Service without selector ports serializes ``ports`` as null).
    """
    if ports is _DEFAULT:
        ports = [{"name": "http", "port": 8080, "protocol": "TCP"}]
    all_labels = {
        MANAGED_BY_LABEL: MANAGED_BY,
        SERVICE_NAME_LABEL: service,
    }
    if labels:
        all_labels.update(labels)
    obj = {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "name": name,
            "generateName": service + "-",
            "namespace": namespace,
            "uid": stable_uid("endpointslice", namespace, name),
            "labels": all_labels,
            "annotations": {
                # Fixed, so that building the same slice twice gives an identical object
                # (the fake server treats identical upserts as no-ops, like the API does).
                "endpoints.kubernetes.io/last-change-trigger-time": DEFAULT_TIMESTAMP,
            },
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": service,
                    "uid": stable_uid("service", namespace, service),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": address_type,
        "endpoints": list(endpoints),
        "ports": ports,
    }
    if creation_timestamp is not None:
        obj["metadata"]["creationTimestamp"] = creation_timestamp
    return obj


def pod_slice(ep=None, *, ip="10.1.2.3", pod="web-1", ready=True, name="web-abc12",
              service="web", namespace="default", address_type="IPv4"):
    """The tests' usual slice: Service ``service`` with the Pod under test and one other.

    The Pod under test is ``ep``, or by default ``endpoint(ip, pod=pod)`` (``terminating``
    with ``ready=False``). The other Pod, ``web-other``, is ready at 10.1.2.4 (fd00::6 in an
    ``IPv6`` slice).
    """
    if ep is None:
        ep = (endpoint if ready else terminating)(ip, pod=pod, namespace=namespace)
    other = endpoint("10.1.2.4" if address_type == "IPv4" else "fd00::6", pod="web-other",
                     namespace=namespace)
    return slice(name, service, [ep, other], address_type=address_type, namespace=namespace)


def service_slices(service, pods, namespace="default", suffix="abc12", **slice_kw):
    """The slices the controller would write for ``service`` given ``pods``.

    ``pods`` is a list of dicts ``{"name", "ips": [...], "ready", "serving",
    "terminating", "node"}`` (only ``name`` and ``ips`` required). Each address goes into
    the slice of its family, so a dual-stack Pod appears once in ``<service>-<suffix>``
    (IPv4) and once in ``<service>-<suffix>-v6`` (IPv6). Families without any address
    produce no slice.
    """
    by_family = {"IPv4": [], "IPv6": []}
    for pod in pods:
        kw = {k: pod[k] for k in ("ready", "serving", "terminating", "node", "zone") if k in pod}
        for ip in pod["ips"]:
            by_family[address_type_of(ip)].append(
                endpoint(ip, pod=pod["name"], namespace=namespace, **kw)
            )
    out = []
    if by_family["IPv4"]:
        out.append(slice(f"{service}-{suffix}", service, by_family["IPv4"], "IPv4", namespace, **slice_kw))
    if by_family["IPv6"]:
        out.append(slice(f"{service}-{suffix}-v6", service, by_family["IPv6"], "IPv6", namespace, **slice_kw))
    return out
