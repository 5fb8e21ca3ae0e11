# SPDX-License-Identifier: Apache-2.0
"""``main``: make the files, start the API and control servers, write ready.json, run
until SIGTERM/SIGINT. Run it as ``PYTHONPATH=tests /usr/bin/python3 -m fakeapi --help``."""

import argparse
import json
import os
import signal
import socket
import ssl
import threading

from .api import TlsApiServer
from .certs import ensure_certs, ensure_credentials, write_atomic
from .common import dumps, log, set_quiet
from .control import ControlServer


def parse_args(argv):
    p = argparse.ArgumentParser(prog="fakeapi",
                                description="Fake Kubernetes API server (EndpointSlices).")
    p.add_argument("--dir", required=True, help="where ca.crt, token, namespace, ready.json go")
    p.add_argument("--host", default="127.0.0.1", help="API listen address (127.0.0.1 or ::1)")
    p.add_argument("--port", type=int, default=0, help="API port (0 = pick a free one)")
    p.add_argument("--control-port", type=int, default=0, help="control port (0 = pick)")
    p.add_argument("--key-type", choices=("rsa", "ec"), default="rsa")
    p.add_argument("--quiet", action="store_true", help="no per-request log on stderr")
    p.add_argument("--gzip-min-bytes", type=int, default=None, metavar="N",
                   help="gzip list/get responses of at least N bytes when the client accepts "
                        "gzip (kube-apiserver: 131072); default: never")
    return p.parse_args(argv)


def tls_context(d):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
    ctx.set_alpn_protocols(["http/1.1"])  # no h2: clients fall back to HTTP/1.1
    return ctx


def main(argv=None):
    args = parse_args(argv)
    set_quiet(args.quiet)

    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    ready_path = os.path.join(d, "ready.json")
    if os.path.exists(ready_path):
        os.unlink(ready_path)
    ensure_certs(d, args.key_type)
    token = ensure_credentials(d)

    host = args.host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    api = TlsApiServer((host, args.port), tls_context(d), family)
    api.set_tokens([token])
    api.gzip_min_bytes = args.gzip_min_bytes
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
