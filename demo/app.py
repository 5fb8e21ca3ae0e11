#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A deliberately naive web app: the "container" of every demo Pod.

* HTTP/1.1 with keep-alive (ThreadingHTTPServer, one thread per connection);
* every request costs ``--work-ms`` milliseconds (default 5) and answers 200 with the
  Pod's name and IP;
* on SIGTERM it exits **at once**: the listener and every open connection are closed
  by the process exit, requests in flight are cut. This is what most apps do (and what
  any app does when its framework's graceful shutdown is not wired up) -- the behaviour
  lameduck is there to make harmless.

The SIGTERM handler is installed explicitly: without one, an app that is PID 1 of its
PID namespace (configuration "none" of the demo) would not die from SIGTERM at all.

Standard library only.
"""

import argparse
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive
    server_version = "demo-app"
    sys_version = ""
    timeout = 60                    # idle keep-alive connections end eventually

    def do_GET(self):
        time.sleep(self.server.work_s)
        body = f"hello from {self.server.pod_name} ({self.server.pod_ip})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024       # the default backlog of 5 drops connections under load

    def handle_error(self, request, client_address):
        # HAProxy resets idle keep-alive connections it no longer needs: not news.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", required=True, help="listen address: the Pod IP")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--name", default="web", help="Pod name (in responses and logs)")
    p.add_argument("--work-ms", type=float, default=5.0, help="time spent per request")
    a = p.parse_args()

    srv = Server((a.host, a.port), Handler)
    srv.work_s = a.work_ms / 1000.0
    srv.pod_name, srv.pod_ip = a.name, a.host

    def on_term(signum, frame):
        # The naive part: no draining, no waiting for requests in flight.
        sys.stderr.write(f"app {a.name}: SIGTERM, exiting now\n")
        sys.stderr.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    sys.stderr.write(f"app {a.name}: pid {os.getpid()}, serving on {a.host}:{a.port}\n")
    sys.stderr.flush()
    srv.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
