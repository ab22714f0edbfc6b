"""Where the injected sidecar goes in a pod, so that it is up before the application and a Job
still completes (docs/injection.md):

- **native** (the API server is 1.29 or newer, or forced): an init container with
  `restartPolicy: Always` and a startup probe, first among the init containers. The kubelet starts
  it before every container after it, holds them until its probe passes, and stops it after the
  application's containers have ended, so a Job completes by itself.
- **classic** (older servers; 1.28 unless forced, since its feature gate cannot be seen from here):
  the first of `containers`, with a `postStart` hook, `cifer wait`, that returns once the sidecar
  answers its health probe. The kubelet starts a pod's containers in order and starts the next one
  only when the hook of the one before has returned, so the application's first call finds the
  sidecar listening. A Job's containers are told where the sidecar's `POST /v1/shutdown` is
  (`$CIFER_SHUTDOWN_URL`), to stop it when they are done.

The mode is the pod's `cifer.io/sidecar-mode` annotation, else the injector's `--inject-sidecar-mode`
(the chart's `injection.sidecarMode`), else chosen by the server's version, which the operator reads
at start and again every few minutes (`ServerVersion`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

NATIVE, CLASSIC, AUTO = "native", "classic", "auto"
MODES = (NATIVE, CLASSIC)
NATIVE_SINCE = (1, 29)
WAIT_TIMEOUT_S = 60  # the hook's limit: a sidecar not up by then fails its container, which the kubelet restarts
_MINOR = re.compile(r"^([0-9]+)")


def version_of(info: Mapping[str, Any]) -> tuple[int, int] | None:
    """(major, minor) of the API server's `/version` answer (`"minor": "29+"` on some clouds)."""
    try:
        major, minor = _MINOR.match(str(info["major"])), _MINOR.match(str(info["minor"]))
        return (int(major[1]), int(minor[1])) if major and minor else None
    except (KeyError, TypeError):
        return None


def chosen(asked: str | None, default: str, server: tuple[int, int] | None) -> str:
    """The mode: the pod's (`asked`, validated by the caller), the injector's, or the server's."""
    if asked in MODES:
        return asked
    if default in MODES:
        return default
    return NATIVE if server is not None and server >= NATIVE_SINCE else CLASSIC


def owned_by_job(meta: Mapping[str, Any]) -> bool:
    """A Job's pod (a CronJob's too: its Jobs own their pods)."""
    return any(isinstance(ref, dict) and ref.get("kind") == "Job" and ref.get("apiVersion", "").startswith("batch/")
               for ref in meta.get("ownerReferences") or [])


def placed(container: dict[str, Any], mode: str, *, health_url: str, probe: dict[str, Any]) -> dict[str, Any]:
    """The sidecar's container as its mode wants it."""
    if mode == NATIVE:
        return {**container, "restartPolicy": "Always",
                "startupProbe": {**probe, "periodSeconds": 1, "failureThreshold": WAIT_TIMEOUT_S}}
    return {**container, "lifecycle": {"postStart": {"exec": {"command": [
        "cifer", "wait", "--url", health_url, "--timeout-s", str(WAIT_TIMEOUT_S)]}}}}


def insertion(spec: Mapping[str, Any], mode: str, container: dict[str, Any]) -> dict[str, Any]:
    """The JSON patch operation that puts the sidecar first: among the init containers (native)
    or the containers (classic). It comes after the operations on the app's containers, whose
    indexes it shifts."""
    if mode == NATIVE:
        if not spec.get("initContainers"):
            return {"op": "add", "path": "/spec/initContainers", "value": [container]}
        return {"op": "add", "path": "/spec/initContainers/0", "value": container}
    return {"op": "add", "path": "/spec/containers/0", "value": container}
