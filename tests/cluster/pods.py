"""Running workloads on the session's node (`cluster` fixture): apply objects, wait for pods,
read their logs and run commands in them, through real kubectl."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

from kube.node import Node
from kube.tools import kubectl

WAIT_S = 120.0


def apply(node: Node, *objects: dict[str, Any]) -> None:
    kubectl(node.plane, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                              "items": list(objects)}))


def until(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """`check()`'s first truthy answer; fails naming `what` when time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.25)
    raise AssertionError(f"not {what} after {timeout_s:.0f} s")


def pod(node: Node, namespace: str, name: str) -> dict[str, Any]:
    return node.plane.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")


def is_ready(obj: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


def wait_ready(node: Node, namespace: str, name: str, timeout_s: float = WAIT_S) -> dict[str, Any]:
    def ready():
        current = pod(node, namespace, name)
        return current if is_ready(current) else None
    return until(ready, f"pod {namespace}/{name} Ready", timeout_s)


def wait_phase(node: Node, namespace: str, name: str, phase: str, timeout_s: float = WAIT_S) -> dict[str, Any]:
    """The pod once in `phase`; fails at once if it ends in the other final phase."""
    def reached():
        current = pod(node, namespace, name)
        now = current["status"].get("phase")
        if now != phase and now in ("Succeeded", "Failed"):
            raise AssertionError(f"pod {namespace}/{name} {now}, not {phase}:\n{node.report(include_done=True)}")
        return current if now == phase else None
    return until(reached, f"pod {namespace}/{name} {phase}", timeout_s)


def logs(node: Node, namespace: str, name: str, container: str | None = None) -> str:
    """`kubectl logs`: through the API server to the kubelet, with the API server's client certificate."""
    extra = ("-c", container) if container else ()
    return kubectl(node.plane, "logs", "-n", namespace, name, *extra).stdout


def exec_in(node: Node, namespace: str, name: str, *command: str, container: str | None = None,
            check: bool = True):
    extra = ("-c", container) if container else ()
    return kubectl(node.plane, "exec", "-n", namespace, name, *extra, "--", *command, check=check)


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def first_pod(node: Node, namespace: str, selector: str) -> str:
    """The name of the first pod that matches a label selector, once there is one."""
    def named():
        found = node.plane.request("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")["items"]
        return found[0]["metadata"]["name"] if found else None
    return until(named, f"a pod for {selector} in {namespace}")


def wait_endpoints(node: Node, namespace: str, service: str, timeout_s: float = WAIT_S) -> list[str]:
    """The addresses behind a Service, once it has a ready one."""
    def addresses():
        found = node.plane.request("GET", f"/api/v1/namespaces/{namespace}/endpoints/{service}")
        return [a["ip"] for subset in found.get("subsets") or [] for a in subset.get("addresses") or []]
    return until(addresses, f"endpoints behind {namespace}/{service}", timeout_s)


def wait_endpoints_at(node: Node, namespace: str, service: str, address: str, timeout_s: float = WAIT_S) -> None:
    """A Service whose only ready address is `address`, and kube-proxy's rules written for it
    (its iptables-min-sync-period, 1 s, after the Endpoints change)."""
    until(lambda: wait_endpoints(node, namespace, service, timeout_s) == [address],
          f"{namespace}/{service} served by {address} alone", timeout_s)
    until(lambda: f"--to-destination {address}:" in _nat_rules(), f"kube-proxy's rule to {address}", timeout_s)


def _nat_rules() -> str:
    return subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
