# SPDX-License-Identifier: Apache-2.0
"""lameduck's own resolver (src/kube/resolver.h) for a host name in --api-server, against a
small DNS server on a loopback address of this test's own, with /etc/resolv.conf and
/etc/hosts bind-mounted in a private mount namespace:

* a Kubernetes resolv.conf (ndots:5, three search domains): `kubernetes.default.svc` is
  asked as `kubernetes.default.svc.default.svc.cluster.local`, then
  `kubernetes.default.svc.svc.cluster.local`, then `kubernetes.default.svc.cluster.local`,
  which answers (through a CNAME), like glibc would; the drain then talks to the fake API;
* NXDOMAIN for every name, and a server that never answers: the drain falls back to
  --delay with a log line that says why (the same fallback as any unusable API).

    LAMEDUCK_BIN=build/lameduck SIGECHO_BIN=build/tests/sigecho \\
        /usr/bin/python3 -m pytest -q tests/integration/test_resolver.py
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from fakeapi.slices import pod_slice
from support.env import base_env, lameduck_argv, needs_root_mounts
from support.sigecho import Sigecho
from support.wait import EPSILON, SLACK, TIMEOUT, wait_for

DNS_ADDR = "127.53.0.21"  # a loopback address of this test's own
POD_IP = "10.1.2.3"
CHILD_EXIT = 7
FALLBACK = "EndpointSlice API unusable, falling back to --delay: "
K8S_RESOLV = (f"nameserver {DNS_ADDR}\n"
              "search default.svc.cluster.local svc.cluster.local cluster.local\n"
              "options ndots:5 timeout:2 attempts:2\n")


def wire(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def read_name(msg: bytes, at: int) -> tuple[str, int]:
    labels = []
    while msg[at]:
        labels.append(msg[at + 1:at + 1 + msg[at]].decode())
        at += 1 + msg[at]
    return ".".join(labels), at + 1


class FakeDns:
    """UDP DNS on DNS_ADDR:53. records: name -> ("A", "1.2.3.4") or ("CNAME", "other");
    everything else is NXDOMAIN (AAAA of a known name: no records). silent: never answers."""

    def __init__(self, records=None, silent=False):
        self.records = records or {}
        self.silent = silent
        self.asked: list[tuple[str, int]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((DNS_ADDR, 53))
        self.sock.settimeout(0.1)
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def names_asked(self, qtype=1):
        return [name for name, t in self.asked if t == qtype]

    def _answer(self, query: bytes) -> bytes:
        qid, = struct.unpack("!H", query[:2])
        name, end = read_name(query, 12)
        qtype, = struct.unpack("!H", query[end:end + 2])
        self.asked.append((name, qtype))
        question = query[12:end + 4]
        answers = []
        owner_at = 12
        current = name
        rcode = 3
        for _ in range(8):
            record = self.records.get(current.lower())
            if record is None:
                break
            rcode = 0
            kind, value = record
            if kind == "CNAME":
                answers.append(struct.pack("!HHHIH", 0xC000 | owner_at, 5, 1, 30, len(wire(value)))
                               + wire(value))
                current = value
                owner_at = None
                break
            if kind == "A" and qtype == 1:
                answers.append(struct.pack("!HHHIH", 0xC000 | owner_at, 1, 1, 30, 4)
                               + socket.inet_aton(value))
            break
        if owner_at is None:  # after a CNAME: the target's address, named in full
            record = self.records.get(current.lower())
            if record and record[0] == "A" and qtype == 1:
                answers.append(wire(current) + struct.pack("!HHIH", 1, 1, 30, 4)
                               + socket.inet_aton(record[1]))
        header = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
        return header + question + b"".join(answers)

    def _serve(self):
        while not self.stopped:
            try:
                query, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if self.silent:
                self.asked.append(read_name(query, 12)[0:1] + (0,))
                continue
            try:
                self.sock.sendto(self._answer(query), peer)
            except (OSError, IndexError, struct.error):
                continue

    def close(self):
        self.stopped = True
        self.thread.join()  # the port is free once no thread is in recvfrom
        self.sock.close()


@pytest.fixture
def dns():
    needs_root_mounts()
    servers = []

    def start(**kw):
        try:
            server = FakeDns(**kw)
        except OSError as e:
            pytest.skip(f"cannot bind a fake DNS server on {DNS_ADDR}:53: {e}")
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.close()


class Run:
    """lameduck ARGS -- sigecho in its own mount namespace, where /etc/resolv.conf and
    /etc/hosts are the given texts."""

    def __init__(self, tmp_path, api, *, resolv, hosts="127.0.0.1 localhost\n", delay="1s",
                 max_delay="20s"):
        (tmp_path / "resolv.conf").write_text(resolv)
        (tmp_path / "hosts").write_text(hosts)
        self.echo = Sigecho(tmp_path / "sigecho.log")
        self.err_path = tmp_path / "lameduck.err"
        args = ["--api-server", f"https://kubernetes.default.svc:{api.port}",
                "--token-file", api.token_file, "--ca-file", api.ca_file,
                "--namespace", "default", "--pod-ip", POD_IP, "--pod-name", "web-1",
                "--settle", "0ms", "--delay", delay, "--max-delay", max_delay,
                "--log-level", "debug"]
        script = ('mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts '
                  '&& shift 2 && exec "$@"')
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                str(tmp_path / "resolv.conf"), str(tmp_path / "hosts"), *lameduck_argv(*args),
                "--", *self.echo.command("--exit-on", f"TERM:{CHILD_EXIT}")]
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         env=base_env(), start_new_session=True)
        self.echo.wait_ready()

    def stderr(self):
        return pathlib.Path(self.err_path).read_text(errors="replace")

    def sigterm(self):
        t = time.monotonic()
        os.kill(self.proc.pid, signal.SIGTERM)
        return t

    def expect_stop_at(self, t0, low, high):
        got = self.echo.wait_signal(signal.SIGTERM, timeout=high + SLACK + 10)
        assert got.t >= t0 + low - EPSILON, f"too early: {got.t - t0:.2f}s\n{self.stderr()}"
        assert got.t < t0 + high + SLACK, f"too late: {got.t - t0:.2f}s\n{self.stderr()}"
        assert self.proc.wait(timeout=TIMEOUT) == CHILD_EXIT, self.stderr()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_search_domains_and_ndots_like_glibc(dns, fake_api, tmp_path):
    """kubernetes.default.svc has 2 dots, fewer than ndots:5: the search domains first, in
    order, until one answers (through a CNAME here); the drain then uses the address."""
    server = dns(records={
        "kubernetes.default.svc.cluster.local": ("CNAME", "api.cluster.local"),
        "api.cluster.local": ("A", "127.0.0.1"),
    })
    fake_api.set_slices([pod_slice()])
    run = Run(tmp_path, fake_api, resolv=K8S_RESOLV, delay="20s", max_delay="25s")
    try:
        wait_for(lambda: len(server.names_asked()) >= 3 and len(server.names_asked(28)) >= 3,
                 timeout=TIMEOUT, message="three names asked, A and AAAA")
        assert server.names_asked() == ["kubernetes.default.svc.default.svc.cluster.local",
                                        "kubernetes.default.svc.svc.cluster.local",
                                        "kubernetes.default.svc.cluster.local"]
        assert server.names_asked(28) == server.names_asked(), "AAAA asked too"
        t0 = run.sigterm()
        fake_api.wait_for_request(lambda r: r["watch"] and r["t"] >= t0)
        t1 = time.monotonic()
        fake_api.upsert(pod_slice(ready=False))
        run.expect_stop_at(t1, 0.0, 0.0)
        assert FALLBACK not in run.stderr()
    finally:
        run.close()


def test_the_hosts_file_comes_before_dns(dns, fake_api, tmp_path):
    server = dns(records={})
    fake_api.set_slices([pod_slice()])
    run = Run(tmp_path, fake_api, resolv=K8S_RESOLV,
              hosts="127.0.0.1 localhost\n127.0.0.1 kubernetes.default.svc\n", delay="20s",
              max_delay="25s")
    try:
        t0 = run.sigterm()
        fake_api.wait_for_request(lambda r: r["watch"] and r["t"] >= t0)
        t1 = time.monotonic()
        fake_api.upsert(pod_slice(ready=False))
        run.expect_stop_at(t1, 0.0, 0.0)
        assert server.asked == []
    finally:
        run.close()


def test_nxdomain_everywhere_falls_back_to_the_delay_and_says_so(dns, fake_api, tmp_path):
    dns(records={})
    fake_api.set_slices([pod_slice()])
    run = Run(tmp_path, fake_api, resolv=K8S_RESOLV, delay="1s", max_delay="5s")
    try:
        t0 = run.sigterm()
        run.expect_stop_at(t0, 1.0, 1.0)
        err = run.stderr()
        assert FALLBACK in err, err
        assert re.search(
            r"listing EndpointSlices failed: cannot resolve the API server's host name "
            r"kubernetes\.default\.svc: not in /etc/hosts, and DNS \(127\.53\.0\.21\) has no "
            r"address: NXDOMAIN for kubernetes\.default\.svc\.default\.svc\.cluster\.local, "
            r"kubernetes\.default\.svc\.svc\.cluster\.local, kubernetes\.default\.svc\.cluster\.local, "
            r"kubernetes\.default\.svc \(https://", err), err
        assert not fake_api.requests(), "no address, so no request"
    finally:
        run.close()


def test_a_silent_server_times_out_and_says_so(dns, fake_api, tmp_path):
    """timeout:1 attempts:1: the first name gets no answer within 1 s, which ends the
    search (like glibc); the drain falls back to --delay, naming the server."""
    server = dns(silent=True)
    fake_api.set_slices([pod_slice()])
    run = Run(tmp_path, fake_api, resolv=f"nameserver {DNS_ADDR}\n"
              "search default.svc.cluster.local\noptions ndots:5 timeout:1 attempts:1\n",
              delay="2s", max_delay="5s")
    try:
        time.sleep(1.5)  # the lookup started at start-up and has given up by now
        t0 = run.sigterm()
        run.expect_stop_at(t0, 2.0, 2.0)
        err = run.stderr()
        assert FALLBACK in err, err
        assert re.search(
            r"listing EndpointSlices failed: cannot resolve the API server's host name "
            r"kubernetes\.default\.svc: no answer from nameserver 127\.53\.0\.21 for "
            r"kubernetes\.default\.svc\.default\.svc\.cluster\.local \(options timeout:1 "
            r"attempts:1\)",
            err), err
        # A and AAAA of the first name, at start-up and again at the drain (a failed lookup
        # is asked again once)
        assert {n for n, _ in server.asked} == {"kubernetes.default.svc.default.svc.cluster.local"}
    finally:
        run.close()
