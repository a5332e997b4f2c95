"""What the delivery tests share: the tools (helm, prometheus), rendering the chart, parsing Dockerfiles.

The tools come from ``scripts/test-tools`` (``make test`` runs it): helm 3.10.1 in the cache
($HYPERPRUNE_CACHE, default ~/.cache/hyperprune) and Debian's prometheus. A missing tool FAILS the
test with what to run; it never skips.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "hyperprune"
DASHBOARD = CHART / "dashboards" / "hyperprune.json"
KUBE_VERSION = "1.30.0"  # schemas kubernetes-validate ships; the chart's kubeVersion is >=1.20
TOOLS_HINT = "run scripts/test-tools (make test does) to install it"


def cache_dir() -> Path:
    env = os.environ.get("HYPERPRUNE_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hyperprune"


def helm_binary() -> str:
    path = cache_dir() / "helm"
    if os.access(path, os.X_OK):
        return str(path)
    pytest.fail(f"helm not found at {path}: {TOOLS_HINT}", pytrace=False)


def prometheus_binary(name: str = "prometheus") -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
    if not found:
        pytest.fail(f"{name} not found (Debian package prometheus): {TOOLS_HINT}", pytrace=False)
    return found


def venv_tool(name: str) -> str:
    """A console script of this virtual environment (kubernetes-validate, check-jsonschema, ...)."""
    import sys

    path = Path(sys.executable).with_name(name)
    if not path.exists():
        pytest.fail(f"{name} is missing from {path.parent}: install the dev extra (make test does)", pytrace=False)
    return str(path)


def run(argv: list[str], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{shlex.join(argv)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


# ---- the chart -------------------------------------------------------------------------------------------


@dataclass
class Rendered:
    """The manifests of one ``helm template``, with lookups."""

    text: str
    objects: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.objects = [doc for doc in yaml.safe_load_all(self.text) if doc]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None, namespace: str | None = None) -> dict[str, Any]:
        found = [o for o in self.of(kind) if (name is None or o["metadata"]["name"] == name)
                 and (namespace is None or o["metadata"].get("namespace") == namespace)]
        assert len(found) == 1, f"expected one {kind} {name or ''} {namespace or ''}, found {len(found)}"
        return found[0]

    def deployment(self) -> dict[str, Any]:
        return self.one("Deployment")

    def container(self) -> dict[str, Any]:
        (container,) = self.deployment()["spec"]["template"]["spec"]["containers"]
        return container


def render(values: dict[str, Any] | None = None, *, release: str = "hp", namespace: str = "hyperprune-system",
           tmp: Path | None = None, include_crds: bool = False) -> Rendered:
    argv = [helm_binary(), "template", release, str(CHART), "--namespace", namespace]
    if include_crds:
        argv.append("--include-crds")
    if values:
        path = (tmp or Path(os.environ.get("TMPDIR", "/tmp"))) / f"values-{os.getpid()}-{time.monotonic_ns()}.yaml"
        path.write_text(json.dumps(values))
        argv += ["-f", str(path)]
    return Rendered(run(argv).stdout)


def render_error(values: dict[str, Any], tmp: Path) -> str:
    """``helm template`` with values that must be refused: its error output."""
    path = tmp / "refused.yaml"
    path.write_text(json.dumps(values))
    proc = run([helm_binary(), "template", "hp", str(CHART), "-f", str(path)], check=False)
    assert proc.returncode != 0, f"helm template accepted {values}:\n{proc.stdout[:2000]}"
    return proc.stderr


def rule_set(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """RBAC rules as (apiGroup, resource, verb) triples, so that two ways to write them compare equal."""
    out = set()
    for rule in rules:
        assert not rule.get("resourceNames") and not rule.get("nonResourceURLs"), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    out.add((group, resource, verb))
    return out


# ---- Dockerfiles -----------------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    stage: int  # index of the FROM it belongs to (-1: before the first FROM)

    def json_args(self) -> list[str] | None:
        """The exec (JSON array) form's arguments, or None for the shell form."""
        try:
            value = json.loads(self.args)
        except ValueError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped (no heredocs are used)."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    assert not current, f"{path}: the last instruction ends with a line continuation"
    out, stage = [], -1
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(keyword, args.strip(), stage))
    return out


def resolve_args(instructions: list[Instruction], text: str) -> str:
    """``${NAME}`` / ``$NAME`` of the global ARGs (those before the first FROM) replaced by their defaults."""
    defaults = {}
    for ins in instructions:
        if ins.keyword == "ARG" and ins.stage == -1:
            name, _, default = ins.args.partition("=")
            defaults[name] = default
    for name, default in defaults.items():
        text = text.replace("${" + name + "}", default).replace("$" + name, default)
    return text


# ---- processes and ports ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    try:
        with opener.open(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def prometheus_query(base: str, expr: str) -> dict[str, Any]:
    """``/api/v1/query`` of a running Prometheus: the decoded JSON answer (status, data or error)."""
    _, body = http_get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    return json.loads(body)
