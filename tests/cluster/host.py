"""What the node's host sees of a running container: its process in /proc and its cgroups."""

from __future__ import annotations

import re
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kube.node import Node

CGROUPS = Path("/sys/fs/cgroup")
_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "m": 1e-3}


def quantity(text: str | float) -> float:
    """A Kubernetes quantity as a number: "512Mi" -> 536870912, "500m" -> 0.5, "1" -> 1."""
    found = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    if not found:
        raise ValueError(f"not a quantity: {text!r}")
    return float(found[1]) * _SUFFIXES.get(found[2], 1)


@dataclass(frozen=True)
class Process:
    pid: int
    uids: tuple[int, ...]
    effective_capabilities: int
    no_new_privileges: bool
    root_read_only: bool
    memory_limit: int
    cpu_quota_us: int
    cpu_period_us: int


def container_process(node: Node, container_id: str) -> Process:
    """The main process of a container (a pod status's `containerd://ID`), as the host sees it."""
    wanted = container_id.removeprefix("containerd://")
    tasks = node.ctr("tasks", "ls").stdout.splitlines()[1:]
    pid = next(int(line.split()[1]) for line in tasks if line.split()[0] == wanted)
    proc = Path(f"/proc/{pid}")
    status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
    root = next(line.split() for line in (proc / "mountinfo").read_text().splitlines() if line.split()[4] == "/")
    groups = {}
    for line in (proc / "cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            groups[controller] = path
    memory, cpu = CGROUPS / "memory" / groups["memory"].lstrip("/"), CGROUPS / "cpu" / groups["cpu"].lstrip("/")
    return Process(
        pid=pid,
        uids=tuple(int(u) for u in status["Uid"].split()),
        effective_capabilities=int(status["CapEff"].strip(), 16),
        no_new_privileges=status["NoNewPrivs"].strip() == "1",
        root_read_only="ro" in root[5].split(","),
        memory_limit=int((memory / "memory.limit_in_bytes").read_text()),
        cpu_quota_us=int((cpu / "cpu.cfs_quota_us").read_text()),
        cpu_period_us=int((cpu / "cpu.cfs_period_us").read_text()),
    )


def probe_answers(pod_ip: str, probe: dict[str, Any], container: dict[str, Any]) -> bool:
    """An httpGet probe's target answers 200 when called from the host, as the kubelet calls it
    (HTTPS without verifying the certificate, as the kubelet does)."""
    port = probe["port"]
    if isinstance(port, str):
        port = next(p["containerPort"] for p in container.get("ports", []) if p.get("name") == port)
    scheme = probe.get("scheme", "HTTP").lower()
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"{scheme}://{pod_ip}:{port}{probe.get('path', '/')}", timeout=5,
                                    context=context if scheme == "https" else None) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False
