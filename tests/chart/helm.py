"""Real helm against charts/cifer: renders as parsed objects, and runs against a cluster.

Helm keeps its own configuration and cache under a private temporary directory, so the tests
never read or write the user's ~/.config/helm.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from kube.control_plane import REPO_ROOT
from kube.tools import helm_path

CHART = REPO_ROOT / "charts" / "cifer"
ALL_ENABLED_VALUES = Path(__file__).with_name("all-enabled.yaml")
# The APIs of cert-manager and of the Prometheus Operator, as a cluster with both would serve.
OPTIONAL_APIS = ("cert-manager.io/v1", "monitoring.coreos.com/v1")
RELEASE = "cifer"
NAMESPACE = "cifer-system"
HELM_TIMEOUT_S = 120.0

# The renders most tests look at: the defaults, and every optional part switched on.
RENDERS: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "all-enabled": (
        "--values", str(ALL_ENABLED_VALUES),
        *(arg for api in OPTIONAL_APIS for arg in ("--api-versions", api)),
    ),
}

_HELM_HOME = Path(tempfile.gettempdir()) / f"cifer-tests-helm-{os.getuid()}"


def helm_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (os.environ by default) with helm's config, cache and data in a private directory."""
    env = dict(os.environ if base is None else base)
    for var in ("HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"):
        env[var] = str(_HELM_HOME / var.split("_")[1].lower())
    return env


def helm(
    *args: str | Path, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `helm ARGS` from the repository root; with `check`, a failure fails the test."""
    argv = [helm_path(), *map(str, args)]
    done = subprocess.run(
        argv,
        env=helm_env(env),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=HELM_TIMEOUT_S,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"helm {' '.join(argv[1:])} exited with {done.returncode}:\n{done.stderr.strip()}"
        )
    return done


def parse(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML stream (empty documents left out)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(*args: str | Path) -> list[dict[str, Any]]:
    """`helm template cifer charts/cifer --namespace cifer-system ARGS`, parsed."""
    return parse(helm("template", RELEASE, CHART, "--namespace", NAMESPACE, *args).stdout)


def of_kind(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name} rendered"
    return found[0]


def pod_specs(objects: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """("Kind/name", pod spec) of every object that carries a pod template."""
    for obj in objects:
        spec = obj.get("spec") or {}
        template = spec.get("template") or (
            (spec.get("jobTemplate") or {}).get("spec", {}).get("template")
        )
        if template:
            yield f"{obj['kind']}/{obj['metadata']['name']}", template["spec"]


def container(objects: Iterable[dict[str, Any]], deployment: str, name: str) -> dict[str, Any]:
    (found,) = [
        c
        for c in named(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
        if c["name"] == name
    ]
    return found
