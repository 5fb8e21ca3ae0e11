# SPDX-License-Identifier: Apache-2.0
"""Process helpers of the demo: every process it starts is tracked and stopped,
even on errors and Ctrl-C; durations in lameduck's syntax. (Polling with a deadline:
support.wait.wait_for.)"""

import http.client
import os
import signal
import subprocess
import sys

import _repo  # noqa: F401 -- tests/ on sys.path
from support.procfs import descendant_pids


def log(msg):
    sys.stderr.write(f"demo: {msg}\n")
    sys.stderr.flush()


def fmt_s(seconds):
    """Seconds as lameduck's duration syntax, exact to the millisecond."""
    ms = int(round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


# --------------------------------------------------------------------------------------
# Processes: everything started is tracked and stopped, even on errors and Ctrl-C
# --------------------------------------------------------------------------------------

class Procs:
    """Popen registry; ``stop_all`` ends every process started (and its descendants)."""

    def __init__(self):
        self.procs = []

    def start(self, name, cmd, log_path, extra_env=None, **kw):
        logf = open(log_path, "ab")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KUBERNETES_", "LAMEDUCK_", "POD_", "HOST_IP"))}
        env.update(extra_env or {})
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True, env=env, **kw)
        logf.close()
        p.demo_name = name
        self.procs.append(p)
        return p

    @staticmethod
    def kill_tree(p, sig=signal.SIGKILL):
        if p.poll() is not None:
            return
        for pid in reversed(descendant_pids(p.pid)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass

    def stop(self, p, grace=3.0):
        """SIGTERM, then SIGKILL of the whole tree after ``grace``."""
        if p.poll() is None and grace > 0:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill_tree(p)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            log(f"{p.demo_name} (pid {p.pid}) did not exit after SIGKILL")

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                self.kill_tree(p)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []


def pidns_available():
    try:
        r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "true"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def http_ok(host, port, timeout=1.0):
    """The kubelet's HTTP probe: GET / answers 200 (http.client: no proxy from the
    environment). ``Connection: close`` as the kubelet sends it (its probes never reuse a
    connection), so the Pod closes first, as with a real kubelet."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()

