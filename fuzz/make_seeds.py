#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the fuzzers' seed corpora into DIR/<target>/: the fake API's real wire format
(tests/fakeapi: slices, lists, watch events, Status bodies) and tests/fixtures.

    fuzz/make_seeds.py build-fuzz/corpus
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakeapi.common import dumps  # noqa: E402
from fakeapi.slices import endpoint, service_slices, slice, terminating  # noqa: E402
from fakeapi.status import expired_status, status_obj  # noqa: E402


def main(out):
    seeds = {t: [] for t in ("fuzz_slice_list", "fuzz_watch_stream", "fuzz_status",
                             "fuzz_control", "fuzz_cli_values", "fuzz_text", "fuzz_dns",
                             "fuzz_cli_args")}
    fixture = json.loads((ROOT / "tests/fixtures/endpointslice-terminating.json").read_text())
    web = slice("web-abc12", "web", [endpoint("10.1.2.3", pod="web-1"),
                                     endpoint("10.1.2.4", pod="web-2")])
    gone = slice("web-abc12", "web", [terminating(endpoint("10.1.2.3", pod="web-1"))])
    v6 = slice("web-v6", "web", [endpoint("fd00::5", pod="web-1")], address_type="IPv6")
    many = service_slices("api", [{"name": f"api-{i}", "ips": [f"10.2.0.{i}"]}
                                  for i in range(1, 30)])

    def page(items, rv="100", cont=None):
        meta = {"resourceVersion": rv}
        if cont:
            meta["continue"] = cont
        return dumps({"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1",
                      "metadata": meta, "items": items})

    seeds["fuzz_slice_list"] += [page([web, v6]), page([fixture]), page([], cont="eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"),
                                 page(many[:3]), page([gone])]
    events = [dumps({"type": t, "object": o}) for t, o in
              (("ADDED", web), ("MODIFIED", gone), ("DELETED", web), ("ADDED", fixture))]
    events.append(dumps({"type": "BOOKMARK", "object": {"kind": "EndpointSlice",
                                                         "apiVersion": "discovery.k8s.io/v1",
                                                         "metadata": {"resourceVersion": "120"}}}))
    events.append(dumps({"type": "ERROR", "object": expired_status("5", "100")}))
    for cut in (b"\x00\x00", b"\x07\x00", b"\xff\x0f"):
        seeds["fuzz_watch_stream"].append(cut + ("\n".join(events) + "\n").encode())
    for code, msg, reason in ((403, "endpointslices.discovery.k8s.io is forbidden: User "
                               "\"system:serviceaccount:default:web\" cannot list resource",
                               "Forbidden"), (429, "Too many requests", "TooManyRequests"),
                              (500, "Internal error occurred: etcdserver: request timed out",
                               "InternalError"), (410, "too old resource version", "Expired")):
        seeds["fuzz_status"].append(bytes([code % 8]) + dumps(status_obj(code, msg, reason)).encode())
    seeds["fuzz_status"] += [b"\x05<html><body>502 Bad Gateway</body></html>", b"\x04Retry-After: 3\r\n",
                             b"\x05" + b"x" * 119 + "\u20ac".encode()]
    seeds["fuzz_control"] += [b"\x00drain\n", b"\x03draining phase=endpoints t=+1200ms\ndone after 4s\n",
                              b"\x10refused uid 65534 is neither root nor lameduck's uid 0\n"]
    seeds["fuzz_cli_values"] += [b"1500ms", b"15s", b"2m", b"1h", b"SIGTERM", b"TERM", b"15",
                                 b"TERM:QUIT", b"WINCH:0", b"RTMIN+3", b"SIGRTMAX-1"]
    seeds["fuzz_text"] += [b"\x78pod web-1 in shop", b"\xffcaf\xc3\xa9\n\x1b[2J", b"\x05\xe2\x82\xac\xe2\x82\xac"]
    seeds["fuzz_dns"] += dns_seeds()
    seeds["fuzz_cli_args"] += [b"--delay\x003s\x00--\x00x", b"prestop\x00--bogus\x00--help",
                               b"install\x00--\x00/d", b"-ge3\x00--rewrite\x00TERM:QUIT,USR1:0\x00sh",
                               b"endpoints\x00-ojson\x00--no-wait-pooled", b"--log-level\x00debug\x00prestop",
                               b"--subreaper=no\x00--port\x0080,443\x00--pod-ip=10.0.0.1\x00app"]
    for target, items in seeds.items():
        d = pathlib.Path(out) / target
        d.mkdir(parents=True, exist_ok=True)
        for i, item in enumerate(items):
            (d / f"seed-{i}").write_bytes(item if isinstance(item, bytes) else item.encode())


def dns_seeds():
    """Replies for kubernetes.default.svc (A: a CNAME chain with compression, AAAA, NXDOMAIN,
    truncated) and the resolver's files; the first byte picks the type (odd: AAAA)."""
    import socket
    import struct

    def wire(name):
        return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"

    def reply(qid, qtype, flags, answers):
        q = wire("kubernetes.default.svc") + struct.pack("!HH", qtype, 1)
        return struct.pack("!HHHHHH", qid, flags, 1, len(answers), 0, 0) + q + b"".join(answers)

    cname = struct.pack("!HHHIH", 0xC00C, 5, 1, 30, 6) + b"\x03api\xc0\x17"
    a = struct.pack("!HHHIH", 0xC034, 1, 1, 30, 4) + socket.inet_aton("10.96.0.1")
    aaaa = struct.pack("!HHHIH", 0xC00C, 28, 1, 30, 16) + socket.inet_pton(socket.AF_INET6, "fd00::1")
    return [b"\x00" + reply(0x1234, 1, 0x8180, [cname, a]),
            b"\x01" + reply(0xBEEF, 28, 0x8180, [aaaa]),
            b"\x00" + reply(0x0001, 1, 0x8183, []),
            b"\x00" + reply(0x0002, 1, 0x8380, [cname]),
            b"\x00nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local "
            b"cluster.local\noptions ndots:5 timeout:2 attempts:3\n",
            b"\x00127.0.0.1 localhost\nfd00::1 kubernetes.default.svc api # the API\n"]


if __name__ == "__main__":
    main(sys.argv[1])
