#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Real TCP for the traffic-wait tests (test_traffic.py): an app and its clients.

    tcp_peer.py serve PORT...      the app: prints "ready", answers every line with "ok";
                                   a line "CLOSE" is answered, then the app closes the
                                   connection first (an HTTP probe with Connection: close);
                                   on SIGTERM prints "stop <CLOCK_MONOTONIC>" and exits 0
    tcp_peer.py MODE HOST PORT [--interval S] [--duration S] [--source IP]
                               [--source-port N] [--hold]
        short   a new connection per request, closed by the client at once
        probe   a new connection per request from --source, closed by the app first
        pooled  one connection, a request every --interval (keep-alive), from --source
      Requests go on for --duration seconds (-1: until killed); each prints
      "sent <CLOCK_MONOTONIC>". --hold keeps a pooled connection open, idle, afterwards.
      --source-port: every connection from this port (SO_REUSEADDR), so each uses the
      4-tuple of the last one again (a probe: the SYN ends the Pod's TIME_WAIT).
"""

import argparse
import signal
import socket
import sys
import threading
import time


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def serve(ports):
    def on_term(_sig, _frame):
        say(f"stop {time.monotonic():.6f}")
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)

    def handle(conn):
        with conn:
            buffered = b""
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buffered += data
                while b"\n" in buffered:
                    line, buffered = buffered.split(b"\n", 1)
                    try:
                        conn.sendall(b"ok\n")
                    except OSError:
                        return
                    if line == b"CLOSE":
                        return

    def accept_loop(listener):
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    for port in ports:
        listener = socket.socket(socket.AF_INET6)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(("::", port))
        listener.listen(128)
        threading.Thread(target=accept_loop, args=(listener,), daemon=True).start()
    say("ready")
    # Not signal.pause(): the kernel may hand SIGTERM to a connection's thread, and Python
    # runs handlers only in the main thread, when it next runs Python code.
    while True:
        time.sleep(0.02)


def request(conn, line):
    conn.sendall(line + b"\n")
    got = b""
    while not got.endswith(b"\n"):
        data = conn.recv(100)
        if not data:
            break
        got += data


def connect(args):
    conn = socket.socket(socket.AF_INET)
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        conn.settimeout(5)
        if args.source:
            conn.bind((args.source, args.source_port))
        conn.connect((args.host, args.port))
    except OSError:
        conn.close()
        raise
    return conn


def client(args):
    end = None if args.duration < 0 else time.monotonic() + args.duration
    pooled = None
    while end is None or time.monotonic() < end:
        try:
            if args.mode == "pooled":
                if pooled is None:
                    pooled = connect(args)
                request(pooled, b"REQ" + b"x" * 200)
            else:
                with connect(args) as conn:
                    if args.mode == "probe":
                        request(conn, b"CLOSE")
                        conn.recv(100)  # the app's FIN
                    else:
                        request(conn, b"REQ")
            say(f"sent {time.monotonic():.6f}")
        except OSError as e:
            say(f"error {time.monotonic():.6f} {e}")
            pooled = None
        time.sleep(args.interval)
    if pooled is not None and args.hold:
        while True:
            time.sleep(60)


def main():
    if sys.argv[1] == "serve":
        serve([int(p) for p in sys.argv[2:]])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["short", "probe", "pooled"])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--duration", type=float, default=-1)
    parser.add_argument("--source")
    parser.add_argument("--source-port", type=int, default=0)
    parser.add_argument("--hold", action="store_true")
    client(parser.parse_args())


if __name__ == "__main__":
    main()
