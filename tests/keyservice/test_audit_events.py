"""Audit checkpoints as Kubernetes Events (issue 15): posted by the key service's own
ServiceAccount to a real kube-apiserver (the `kube` fixture) with exactly the Role the chart
grants it, read back with kubectl's view of Events, and accepted by `audit verify --checkpoint`."""

from __future__ import annotations

import datetime
import secrets
import urllib.parse
from pathlib import Path

import pytest
from chart.helm import named, render
from kube.control_plane import ControlPlane

from cifer_keyservice.audit import AuditLog
from cifer_keyservice.audit_checkpoints import read_file
from cifer_keyservice.kube_events import REASON, CheckpointEvents, CheckpointEventsUnavailable

KEY = bytes(range(32))


def service_account_dir(kube: ControlPlane, tmp_path, namespace: str, name: str):
    """What the kubelet mounts in the key service's pod: its token, the cluster CA and its namespace."""
    kube.create_service_account(namespace, name)
    folder = tmp_path / name
    folder.mkdir()
    (folder / "token").write_text(kube.create_token(namespace, name))
    (folder / "ca.crt").write_bytes(Path(kube.ca_file).read_bytes())
    (folder / "namespace").write_text(namespace)
    return folder


def events_for(kube: ControlPlane, tmp_path, folder, pod: str) -> CheckpointEvents:
    url = urllib.parse.urlsplit(kube.url)
    return CheckpointEvents.in_cluster(service_account_dir=folder, environ={
        "KUBERNETES_SERVICE_HOST": url.hostname, "KUBERNETES_SERVICE_PORT": str(url.port), "POD_NAME": pod})


@pytest.fixture
def namespace(kube: ControlPlane) -> str:
    name = f"audit-events-{secrets.token_hex(4)}"
    kube.create_namespace(name)
    return name


async def test_a_checkpoint_event_is_posted_with_the_charts_role_and_verifies(kube, tmp_path, namespace):
    role = named(render(), "Role", "cifer-keyservice-events")
    kube.request("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
                 {**role, "metadata": {"name": "keyservice-events"}})
    folder = service_account_dir(kube, tmp_path, namespace, "keyservice")
    kube.request("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "keyservice-events"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "keyservice-events"},
        "subjects": [{"kind": "ServiceAccount", "name": "keyservice", "namespace": namespace}]})
    audit = AuditLog(KEY)
    point = audit.checkpoint(7, "ab" * 32, datetime.datetime.now(datetime.UTC))
    events = events_for(kube, tmp_path, folder, "cifer-keyservice-0")
    try:
        await events.publish(point)
    finally:
        await events.close()
    listed = kube.request("GET", f"/api/v1/namespaces/{namespace}/events?fieldSelector=reason%3D{REASON}")
    (event,) = listed["items"]
    assert event["involvedObject"] == {"apiVersion": "v1", "kind": "Pod", "name": "cifer-keyservice-0",
                                       "namespace": namespace}
    saved = tmp_path / "events.jsonl"
    saved.write_text(event["message"] + "\n")  # what `kubectl get events -o jsonpath=...message` saves
    (read,) = read_file(saved)
    assert read == point and audit.authentic(read)


async def test_without_the_role_the_event_is_refused_and_says_so(kube, tmp_path, namespace):
    folder = service_account_dir(kube, tmp_path, namespace, "unbound")
    events = events_for(kube, tmp_path, folder, "cifer-keyservice-0")
    try:
        with pytest.raises(CheckpointEventsUnavailable, match="HTTP 403"):
            await events.publish(AuditLog(KEY).checkpoint(1, "cd" * 32, datetime.datetime.now(datetime.UTC)))
    finally:
        await events.close()
