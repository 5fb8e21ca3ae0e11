# SPDX-License-Identifier: Apache-2.0
"""The files in examples/ cannot rot: every lameduck invocation in them is checked against
the real binary's option parser, and every YAML file (and YAML block in the guides) parses.

Invocations are found in
* Dockerfiles: ``ENTRYPOINT`` (+ ``CMD``) when it runs lameduck, with the ``ENV`` lines;
* YAML: a container's ``command`` (+ ``args``), hook commands (``preStop``/``postStart``
  ``exec.command``), and a container without its own command whose image is the
  Dockerfile next to it (the image's ``ENTRYPOINT`` + the container's ``args``), each with
  the container's ``LAMEDUCK_*`` environment;
* Markdown: fenced ``yaml`` and ``dockerfile`` blocks as above, and shell lines in
  fenced blocks that start with ``lameduck``.

Each is run as ``lameduck --check ...`` / ``lameduck prestop --check ...``, which parses
exactly as the real start would and exits 0 (or 125 naming the mistake). Every
``LAMEDUCK_*`` variable must be one the parser reads. Needs python3-yaml.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Iterator, Optional

import pytest

from support.env import (LAMEDUCK_BIN, ROOT, base_env, emulated, lameduck_argv,
                         require_binaries)

try:
    import yaml
except ImportError:  # pragma: no cover - reported by test_yaml_is_installed
    yaml = None

EXAMPLES = ROOT / "examples"
SUBCOMMANDS_WITHOUT_CHECK = {"endpoints", "version", "install"}  # install: see test_inject_*


@dataclasses.dataclass
class Invocation:
    where: str             # "examples/nginx/Dockerfile: ENTRYPOINT"
    argv: list[str]        # lameduck's arguments (after the program name)
    env: dict[str, str]    # LAMEDUCK_* variables in effect

    @property
    def id(self) -> str:
        return f"{self.where} {' '.join(self.argv)[:60]}"


@dataclasses.dataclass
class Dockerfile:
    entrypoint: list[str] = dataclasses.field(default_factory=list)
    cmd: list[str] = dataclasses.field(default_factory=list)
    env: dict[str, str] = dataclasses.field(default_factory=dict)


def is_lameduck(program: object) -> bool:
    return isinstance(program, str) and os.path.basename(program) == "lameduck"


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --------------------------------------------------------------------------------------
# Dockerfiles
# --------------------------------------------------------------------------------------

def dockerfile_instructions(text: str) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            yield word.upper(), rest.strip()


def exec_form(text: str) -> list[str]:
    if text.startswith("["):
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
        return value
    return ["/bin/sh", "-c", text]


def parse_dockerfile(text: str) -> Dockerfile:
    """The final stage's ENTRYPOINT, CMD and ENV."""
    stage = Dockerfile()
    for word, rest in dockerfile_instructions(text):
        if word == "FROM":
            stage = Dockerfile()
        elif word == "ENTRYPOINT":
            stage.entrypoint = exec_form(rest)
            stage.cmd = []  # Docker resets an inherited CMD when ENTRYPOINT is set
        elif word == "CMD":
            stage.cmd = exec_form(rest)
        elif word == "ENV":
            parts = shlex.split(rest)
            if parts and "=" not in parts[0]:  # legacy "ENV NAME value with spaces"
                stage.env[parts[0]] = " ".join(parts[1:])
            else:
                for part in parts:
                    name, _, value = part.partition("=")
                    stage.env[name] = value
    return stage


def dockerfile_invocations(df: Dockerfile, where: str) -> list[Invocation]:
    if df.entrypoint and is_lameduck(df.entrypoint[0]):
        return [Invocation(f"{where}: ENTRYPOINT", df.entrypoint[1:] + df.cmd,
                           lameduck_env(df.env))]
    return []


# --------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------

def lameduck_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("LAMEDUCK_")}


def container_env(container: dict) -> dict[str, str]:
    out = {}
    for item in container.get("env") or []:
        if "value" in item:
            out[item["name"]] = item["value"]
    return out


def looks_like_container(node: dict) -> bool:
    return "name" in node and any(k in node for k in ("image", "command", "args"))


def command_dicts(node: object) -> Iterator[dict]:
    """Every mapping with a ``command`` list below node (containers, exec hooks, probes)."""
    if isinstance(node, dict):
        if isinstance(node.get("command"), list) and node["command"]:
            yield node
        for value in node.values():
            yield from command_dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from command_dicts(value)


def yaml_invocations(doc: object, where: str, image: Optional[Dockerfile]) -> list[Invocation]:
    """Invocations in one YAML document. image: the Dockerfile next to the file, if any
    (the image a container without its own command runs)."""
    found: list[Invocation] = []
    seen: set[int] = set()

    def visit(node: object, env: dict[str, str]) -> None:
        if isinstance(node, dict):
            if looks_like_container(node):
                env = {**(image.env if image else {}), **container_env(node)}
                if "command" not in node and image and image.entrypoint and \
                        is_lameduck(image.entrypoint[0]):
                    args = node.get("args")
                    found.append(Invocation(
                        f"{where}: container {node['name']} (image ENTRYPOINT + args)",
                        image.entrypoint[1:] + (args if args is not None else image.cmd),
                        lameduck_env(env)))
            command = node.get("command")
            if isinstance(command, list) and command and is_lameduck(command[0]) \
                    and id(node) not in seen:
                seen.add(id(node))
                what = f"container {node['name']}" if looks_like_container(node) else "command"
                found.append(Invocation(f"{where}: {what}",
                                        [str(a) for a in command[1:]] +
                                        [str(a) for a in node.get("args") or []],
                                        lameduck_env(env)))
            for value in node.values():
                visit(value, env)
        elif isinstance(node, list):
            for value in node:
                visit(value, env)

    visit(doc, {})
    return found


def containers(node: object) -> Iterator[dict]:
    """Every container (a mapping with a name and an image or a command) below node."""
    if isinstance(node, dict):
        if looks_like_container(node):
            yield node
        for value in node.values():
            yield from containers(value)
    elif isinstance(node, list):
        for value in node:
            yield from containers(value)


def env_entries(node: object) -> Iterator[dict]:
    """Every item of every container ``env`` list below node."""
    for container in containers(node):
        yield from (item for item in container.get("env") or [] if isinstance(item, dict))


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------

FENCE = re.compile(r"^```(?P<info>[\w-]*)[^\n]*\n(?P<body>.*?)^```", re.M | re.S)


def markdown_blocks(text: str) -> Iterator[tuple[str, str, int]]:
    """(info string, body, line number) of every fenced code block."""
    for m in FENCE.finditer(text):
        yield m["info"].lower(), m["body"], text[: m.start()].count("\n") + 1


def shell_invocations(body: str, where: str) -> list[Invocation]:
    found = []
    for line in body.splitlines():
        line = re.sub(r"^\s*[$#]\s+", "", line).strip()
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        env = {}
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if words and is_lameduck(words[0]):
            found.append(Invocation(f"{where}: shell", words[1:], lameduck_env(env)))
    return found


# --------------------------------------------------------------------------------------
# collection
# --------------------------------------------------------------------------------------

def example_files(*patterns: str) -> list[Path]:
    out: set[Path] = set()
    for pattern in patterns:
        out.update(EXAMPLES.rglob(pattern))
    return sorted(out)


def image_next_to(path: Path) -> Optional[Dockerfile]:
    dockerfile = path.parent / "Dockerfile"
    return parse_dockerfile(dockerfile.read_text()) if dockerfile.exists() else None


def collect() -> tuple[list[Invocation], list[tuple[str, dict[str, str]]]]:
    """All invocations, and every (where, env) with LAMEDUCK_* variables."""
    invocations: list[Invocation] = []
    envs: list[tuple[str, dict[str, str]]] = []
    for path in example_files("Dockerfile", "*.Dockerfile", "Dockerfile.*"):
        df = parse_dockerfile(path.read_text())
        invocations += dockerfile_invocations(df, rel(path))
        envs.append((rel(path), lameduck_env(df.env)))
    if yaml is not None:
        for path in example_files("*.yaml", "*.yml"):
            image = image_next_to(path)
            for doc in yaml.safe_load_all(path.read_text()):
                invocations += yaml_invocations(doc, rel(path), image)
                envs += [(rel(path), {e["name"]: e.get("value")}) for e in env_entries(doc)
                         if str(e.get("name", "")).startswith("LAMEDUCK_")]
        for path in example_files("*.md"):
            for info, body, line in markdown_blocks(path.read_text()):
                where = f"{rel(path)}:{line}"
                if info in ("yaml", "yml"):
                    for doc in yaml.safe_load_all(body):
                        invocations += yaml_invocations(doc, where, None)
                elif info == "dockerfile":
                    invocations += dockerfile_invocations(parse_dockerfile(body), where)
                elif info in ("", "sh", "shell", "bash", "console"):
                    invocations += shell_invocations(body, where)
    for inv in invocations:
        envs.append((inv.where, inv.env))
    return invocations, envs


INVOCATIONS, ENVS = collect() if EXAMPLES.is_dir() else ([], [])


def known_env_names() -> set[str]:
    """The LAMEDUCK_* variables the parser reads, from the help of every subcommand."""
    require_binaries()
    names: set[str] = set()
    for args in (["--help"], ["prestop", "--help"], ["endpoints", "--help"]):
        r = subprocess.run(lameduck_argv(*args), capture_output=True, text=True, timeout=30,
                           env=base_env(), stdin=subprocess.DEVNULL)
        names.update(re.findall(r"Env:(LAMEDUCK_[A-Z0-9_]+)", r.stdout))
    assert "LAMEDUCK_MAX_DELAY" in names, "lameduck --help does not name its variables"
    return names


def check_argv(argv: list[str]) -> Optional[list[str]]:
    """The --check command line for these lameduck arguments (None: nothing to check)."""
    if argv and argv[0] in SUBCOMMANDS_WITHOUT_CHECK:
        return None
    if argv and argv[0] == "prestop":
        return lameduck_argv("prestop", "--check", *argv[1:])
    return lameduck_argv("--check", *argv)


# --------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------

def test_yaml_is_installed():
    assert yaml is not None, "python3-yaml is missing: apt-get install -y python3-yaml"


def test_examples_are_found():
    """The extraction itself must not rot: each example contributes invocations."""
    assert EXAMPLES.is_dir()
    wheres = [inv.where for inv in INVOCATIONS]
    for part in ("distroless/Dockerfile", "distroless/deployment.yaml", "nginx/Dockerfile",
                 "nginx/deployment.yaml", "jvm/Dockerfile", "jvm/deployment.yaml",
                 "prestop-only/deployment.yaml", "rainbow/release.yaml", "prestop.md",
                 "inject/deployment.yaml"):
        assert any(part in w for w in wheres), f"no lameduck invocation found in {part}"
    kinds = {("prestop" if inv.argv[:1] == ["prestop"] else "run") for inv in INVOCATIONS}
    assert kinds == {"run", "prestop"}
    assert len(INVOCATIONS) >= 10


@pytest.mark.parametrize("inv", INVOCATIONS, ids=[inv.id for inv in INVOCATIONS])
def test_invocation_parses(inv: Invocation):
    argv = check_argv(inv.argv)
    if argv is None:
        pytest.skip(f"lameduck {inv.argv[0]} has no --check")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                       env=base_env(**inv.env), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (f"{inv.where}: lameduck {shlex.join(inv.argv)} "
                               f"(env {inv.env}) is rejected: {r.stderr.strip()}")


def test_every_lameduck_variable_is_an_option():
    known = known_env_names()
    for where, env in ENVS:
        for name in env:
            assert name in known, f"{where}: {name} is not an option lameduck reads"


def test_env_values_are_strings():
    """Kubernetes rejects `value: 143` (a number); it must be "143"."""
    for path in example_files("*.yaml", "*.yml"):
        for doc in yaml.safe_load_all(path.read_text()):
            for entry in env_entries(doc):
                if "value" in entry:
                    assert isinstance(entry["value"], str), (
                        f"{rel(path)}: env {entry['name']} must be a string, "
                        f"not {entry['value']!r}")


def test_every_pod_ip_comes_with_the_node_ip():
    """A container that gives lameduck its Pod IP also gives it HOST_IP: without it the
    kubelet's probes (from the node's IP) count as traffic and hold every drain to --delay
    or --max-delay."""
    checked = 0
    for path in example_files("*.yaml", "*.yml"):
        for doc in yaml.safe_load_all(path.read_text()):
            for container in containers(doc):
                fields = {item.get("name"): item.get("valueFrom", {}).get("fieldRef", {})
                          .get("fieldPath") for item in container.get("env") or []}
                if fields.get("POD_IP") != "status.podIP":
                    continue
                checked += 1
                assert fields.get("HOST_IP") == "status.hostIP", (
                    f"{rel(path)}: container {container['name']} sets POD_IP but not HOST_IP")
    assert checked >= 5, checked


@pytest.mark.parametrize("path", example_files("*.yaml", "*.yml"),
                         ids=lambda p: rel(p))
def test_yaml_files_are_kubernetes_objects(path: Path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{rel(path)} has no documents"
    for doc in docs:
        assert isinstance(doc, dict), f"{rel(path)}: a document is not a mapping"
        for key in ("apiVersion", "kind"):
            assert isinstance(doc.get(key), str), f"{rel(path)}: {key} missing"
        assert doc.get("metadata", {}).get("name"), f"{rel(path)}: metadata.name missing"


@pytest.mark.parametrize("path", example_files("*.md"), ids=lambda p: rel(p))
def test_markdown_yaml_blocks_parse(path: Path):
    for info, body, line in markdown_blocks(path.read_text()):
        if info in ("yaml", "yml"):
            try:
                list(yaml.safe_load_all(body))
            except yaml.YAMLError as e:
                pytest.fail(f"{rel(path)}:{line}: YAML block does not parse: {e}")


@pytest.mark.parametrize("path", example_files("*.md"), ids=lambda p: rel(p))
def test_markdown_links_resolve(path: Path):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
        if "://" in target:
            continue
        assert (path.parent / target).exists(), f"{rel(path)}: broken link {target}"


def test_extraction_sees_what_matters():
    """The parsers themselves, on small inputs."""
    df = parse_dockerfile(
        'FROM a AS x\nENTRYPOINT ["/x"]\nFROM b\nENV LAMEDUCK_DELAY=3s OTHER="a b"\n'
        'ENTRYPOINT ["/lameduck", \\\n  "--signal", "QUIT", "--"]\nCMD ["/app"]\n')
    assert df.entrypoint == ["/lameduck", "--signal", "QUIT", "--"]
    assert df.cmd == ["/app"]
    assert df.env == {"LAMEDUCK_DELAY": "3s", "OTHER": "a b"}
    doc = yaml.safe_load("""
spec:
  containers:
    - name: app
      image: x
      args: ["/app"]
      env: [{name: LAMEDUCK_SETTLE, value: "1s"}, {name: POD_IP, valueFrom: {}}]
      lifecycle: {preStop: {exec: {command: ["/bin/lameduck", "prestop"]}}}
""")
    found = yaml_invocations(doc, "t", df)
    assert [i.argv for i in found] == [["--signal", "QUIT", "--", "/app"], ["prestop"]]
    assert all(i.env == {"LAMEDUCK_DELAY": "3s", "LAMEDUCK_SETTLE": "1s"} for i in found)
    assert [i.argv for i in shell_invocations("$ LAMEDUCK_DELAY=1s lameduck -- x\n", "t")] \
        == [["--", "x"]]


# --------------------------------------------------------------------------------------
# examples/inject: the initContainer's `lameduck install DIR` and the app that runs the copy
# --------------------------------------------------------------------------------------

def inject_pod_spec() -> dict:
    docs = list(yaml.safe_load_all((EXAMPLES / "inject" / "deployment.yaml").read_text()))
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"], kinds
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == next(
        d for d in docs if d["kind"] == "ServiceAccount")["metadata"]["name"]
    return spec


def mount_path(container: dict, volume: str) -> str:
    paths = [m["mountPath"] for m in container.get("volumeMounts") or [] if m["name"] == volume]
    assert len(paths) == 1, f"container {container['name']} does not mount {volume}"
    return paths[0]


def test_inject_example_wires_the_volume():
    """The initContainer installs into the emptyDir; the app runs the copy from it as PID 1,
    and its preStop hook is the same copy."""
    spec = inject_pod_spec()
    [init] = spec["initContainers"]
    command = init["command"]
    assert is_lameduck(command[0]) and command[1] == "install" and len(command) == 3, command
    volume = next(m["name"] for m in init["volumeMounts"] if m["mountPath"] == command[2])
    assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == volume)
    [app] = spec["containers"]
    binary = mount_path(app, volume).rstrip("/") + "/lameduck"
    assert app["command"][0] == binary and app["command"][1] == "--", app["command"]
    assert app["lifecycle"]["preStop"]["exec"]["command"] == [binary, "prestop"]


def test_inject_example_install_runs(tmp_path):
    """The initContainer's command, for real, into a directory standing in for the volume;
    then the installed copy parses the app container's command line."""
    spec = inject_pod_spec()
    command = spec["initContainers"][0]["command"]
    volume = tmp_path / command[2].lstrip("/")
    volume.mkdir(parents=True)
    for _ in range(2):  # a second run (the Pod restarts) must do no harm
        r = subprocess.run(lameduck_argv("install", str(volume)), capture_output=True,
                           text=True, timeout=30, env=base_env(), stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
    app = spec["containers"][0]
    copy = volume / "lameduck"
    r = subprocess.run([*emulated(LAMEDUCK_BIN), str(copy), "--check", *app["command"][1:]],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                       env=base_env(**lameduck_env(container_env(app))))
    assert r.returncode == 0, r.stderr


# --------------------------------------------------------------------------------------
# examples/flowschema.yaml: the APF objects a cluster admin may give lameduck
# --------------------------------------------------------------------------------------

# The fields of flowcontrol.apiserver.k8s.io/v1 (Kubernetes API reference, FlowSchema and
# PriorityLevelConfiguration v1): a misspelt field would be dropped by the API server.
APF_FIELDS = {
    "FlowSchema.spec": {"priorityLevelConfiguration", "matchingPrecedence",
                        "distinguisherMethod", "rules"},
    "rule": {"subjects", "resourceRules", "nonResourceRules"},
    "subject": {"kind", "user", "group", "serviceAccount"},
    "resourceRule": {"verbs", "apiGroups", "resources", "clusterScope", "namespaces"},
    "PriorityLevelConfiguration.spec": {"type", "limited", "exempt"},
    "limited": {"nominalConcurrencyShares", "lendablePercent", "borrowingLimitPercent",
                "limitResponse"},
    "limitResponse": {"type", "queuing"},
    "queuing": {"queues", "handSize", "queueLengthLimit"},
}
# Built-in levels a FlowSchema may name instead of its own.
BUILTIN_LEVELS = {"workload-low", "workload-high", "global-default", "catch-all"}


def only_fields(obj: dict, kind: str) -> dict:
    assert isinstance(obj, dict), f"{kind}: not a mapping"
    unknown = set(obj) - APF_FIELDS[kind]
    assert not unknown, f"examples/flowschema.yaml: unknown {kind} fields {sorted(unknown)}"
    return obj


def test_flowschema_example_matches_what_lameduck_asks():
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "flowschema.yaml").read_text()) if d]
    assert all(d["apiVersion"] == "flowcontrol.apiserver.k8s.io/v1" for d in docs)
    schemas = [d for d in docs if d["kind"] == "FlowSchema"]
    levels = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PriorityLevelConfiguration"}
    assert len(schemas) == 1 and set(d["kind"] for d in docs) <= {
        "FlowSchema", "PriorityLevelConfiguration"}

    spec = only_fields(schemas[0]["spec"], "FlowSchema.spec")
    level = spec["priorityLevelConfiguration"]["name"]
    assert level in levels or level in BUILTIN_LEVELS, f"unknown priority level {level}"
    # Must win over the built-in `service-accounts` (9000), never over the system ones.
    assert 900 < spec["matchingPrecedence"] < 9000
    assert spec["distinguisherMethod"]["type"] in ("ByUser", "ByNamespace")

    # The ServiceAccount of examples/rbac.yaml, reading EndpointSlices in its namespace.
    rbac = list(yaml.safe_load_all((EXAMPLES / "rbac.yaml").read_text()))
    sa = next(d for d in rbac if d["kind"] == "ServiceAccount")["metadata"]["name"]
    binding = next(d for d in rbac if d["kind"] == "RoleBinding")
    sa_ns = next(s["namespace"] for s in binding["subjects"] if s["name"] == sa)
    covered = False
    for rule in spec["rules"]:
        only_fields(rule, "rule")
        subjects = [only_fields(s, "subject") for s in rule["subjects"]]
        assert all(s["kind"] in ("User", "Group", "ServiceAccount") for s in subjects)
        has_sa = any(s["kind"] == "ServiceAccount" and s["serviceAccount"]["name"] in (sa, "*")
                     and s["serviceAccount"]["namespace"] == sa_ns for s in subjects)
        for rr in rule.get("resourceRules", []):
            only_fields(rr, "resourceRule")
            covered |= (has_sa and {"get", "list", "watch"} <= set(rr["verbs"])
                        and "discovery.k8s.io" in rr["apiGroups"]
                        and "endpointslices" in rr["resources"]
                        and bool(set(rr.get("namespaces", [])) & {"*", sa_ns}))
    assert covered, "no rule takes lameduck's get/list/watch of endpointslices"

    for name, plc in levels.items():
        pspec = only_fields(plc["spec"], "PriorityLevelConfiguration.spec")
        assert pspec["type"] == "Limited", f"{name}: never exempt lameduck from APF"
        limited = only_fields(pspec["limited"], "limited")
        assert isinstance(limited["nominalConcurrencyShares"], int)
        assert limited["nominalConcurrencyShares"] >= 1
        assert 0 <= limited.get("lendablePercent", 0) <= 100
        assert limited.get("borrowingLimitPercent", 0) >= 0
        response = only_fields(limited["limitResponse"], "limitResponse")
        assert response["type"] in ("Queue", "Reject")
        if response["type"] == "Queue":
            q = only_fields(response["queuing"], "queuing")
            assert all(isinstance(q[k], int) and q[k] >= 1
                       for k in ("queues", "handSize", "queueLengthLimit"))
            assert q["handSize"] <= q["queues"]
