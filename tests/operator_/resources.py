"""CiferKeys through kubectl, and waiting for what the operator makes of them."""

from __future__ import annotations

import json
import time
from typing import Any

from kube.control_plane import ControlPlane
from kube.tools import kubectl

from .stack import OperatorProcess

API_VERSION = "cifer.io/v1alpha1"
ACTIVE_TIMEOUT_S = 60.0


def apply(kube: ControlPlane, namespace: str, name: str, spec: dict[str, Any], *, kind: str = "CiferKey",
          annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None, check: bool = True):
    body = {"apiVersion": API_VERSION, "kind": kind, "spec": spec, "metadata": {
        "name": name, "namespace": namespace, "annotations": annotations or {}, "labels": labels or {}}}
    return kubectl(kube, "apply", "-f", "-", input=json.dumps(body), check=check)


def get(kube: ControlPlane, namespace: str, name: str, kind: str = "ciferkey") -> dict[str, Any]:
    return json.loads(kubectl(kube, "get", kind, name, "-n", namespace, "-o", "json").stdout)


def wait_for(kube: ControlPlane, namespace: str, name: str, ready, operator: OperatorProcess,
             timeout_s: float = ACTIVE_TIMEOUT_S, kind: str = "ciferkey") -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body = get(kube, namespace, name, kind)
        if ready(body.get("status") or {}):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: status {body.get('status')} after {timeout_s} s\n{operator.log_tail()}")
        time.sleep(0.2)


def active(version: int = 1):
    return lambda status: status.get("phase") == "Active" and status.get("keyVersion") == version


def events(kube: ControlPlane, namespace: str, name: str) -> list[dict[str, Any]]:
    answer = kubectl(kube, "get", "events", "-n", namespace, "--field-selector",
                     f"involvedObject.name={name},involvedObject.kind=CiferKey", "-o", "json").stdout
    return json.loads(answer)["items"]


def sa_token(kube: ControlPlane, namespace: str, name: str) -> str:
    kube.create_service_account(namespace, name)
    return kube.create_token(namespace, name, "cifer")  # what `kubectl create token --audience cifer` asks


