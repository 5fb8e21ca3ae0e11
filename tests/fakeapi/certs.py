# SPDX-License-Identifier: Apache-2.0
"""The CA, the serving certificate (made by the ``openssl`` CLI) and the service-account
files (token, namespace) in the server's directory."""

import os
import secrets
import subprocess
import tempfile

SERVER_SANS = "IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default," \
              "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"


def _openssl(*args, cwd):
    res = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {res.stderr.strip()}")


def ensure_certs(d, key_type="rsa"):
    """A CA (ca.crt/ca.key) and a serving cert (server.crt/server.key) signed by it."""
    names = ("ca.crt", "ca.key", "server.crt", "server.key")
    if all(os.path.exists(os.path.join(d, n)) for n in names):
        return
    newkey = (["-newkey", "rsa:2048"] if key_type == "rsa"
              else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
    # Build in a scratch dir and move into place, so a half-made set never gets reused.
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        _openssl("req", "-x509", *newkey, "-nodes", "-sha256", "-days", "3650",
                 "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=fakeapi-ca",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign", cwd=tmp)
        _openssl("req", "-new", *newkey, "-nodes", "-sha256", "-keyout", "server.key",
                 "-out", "server.csr", "-subj", "/CN=kube-apiserver", cwd=tmp)
        with open(os.path.join(tmp, "ext.cnf"), "w") as f:
            f.write(f"subjectAltName={SERVER_SANS}\n"
                    "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n")
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-sha256", "-days", "3650", "-extfile", "ext.cnf",
                 "-out", "server.crt", cwd=tmp)
        for n in names:
            os.replace(os.path.join(tmp, n), os.path.join(d, n))


def write_atomic(path, text, mode=0o644):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def ensure_credentials(d):
    """DIR/token (kept if present) and DIR/namespace, like a service-account volume."""
    token_path = os.path.join(d, "token")
    token = ""
    if os.path.exists(token_path):
        with open(token_path) as f:
            token = f.read().strip()
    if not token:
        token = "fakeapi-" + secrets.token_urlsafe(32)
        write_atomic(token_path, token)
    ns_path = os.path.join(d, "namespace")
    if not os.path.exists(ns_path):
        write_atomic(ns_path, "default")
    return token
