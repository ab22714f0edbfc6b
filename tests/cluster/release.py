"""The chart installed on the session's node the way a user would on a bare one-node cluster, and
an application's calls to its sidecar: shared by tests/cluster and bench/cluster.py."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from chart.helm import CHART, helm
from kube.node import Node

from .pods import apply, exec_in, until

RELEASE = "cifer"
RELEASE_NS = "cifer-system"
STORAGE_CLASS = "cifer-node-local"
READY_S = 180.0
# The application's code: stdlib Python in the product's image, calling its sidecar on loopback.
CLIENT = """
import json, sys, urllib.error, urllib.request
def call(path, body):
    request = urllib.request.Request("http://127.0.0.1:8080" + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)
print(json.dumps(call(sys.argv[1], json.loads(sys.argv[2]))))
"""


@dataclass(frozen=True)
class Release:
    node: Node
    image: str

    def deployment_available(self, name: str) -> bool:
        found = self.node.plane.request("GET", f"/apis/apps/v1/namespaces/{RELEASE_NS}/deployments/{name}")
        status = found.get("status", {})
        return status.get("availableReplicas", 0) == found["spec"]["replicas"] and \
            status.get("updatedReplicas", 0) == found["spec"]["replicas"]


def local_volume(node: Node) -> None:
    """What a bare cluster's admin does for the key service's claim: a StorageClass with no
    provisioner and a hostPath PersistentVolume on the node, owned by the image's user."""
    folder = node.base / "volumes" / "keyservice"
    folder.mkdir(parents=True)
    os.chown(folder, 65532, 65532)
    apply(node, {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": STORAGE_CLASS},
        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer",
    }, {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "cifer-keyservice-data"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "storageClassName": STORAGE_CLASS, "persistentVolumeReclaimPolicy": "Retain",
                 "hostPath": {"path": str(folder), "type": "Directory"}},
    })


def install(node: Node, *, inference: bool = False) -> Release:
    """`helm install` with the node's product image (one operator replica: one node), until its
    Deployments are available."""
    image = node.images["cifer"]
    repository, tag = image.rsplit(":", 1)
    local_volume(node)
    helm("install", RELEASE, CHART, "--namespace", RELEASE_NS, "--create-namespace",
         "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
         "--set", "image.pullPolicy=Never", "--set", "operator.replicas=1",
         "--set", f"keyservice.persistence.storageClassName={STORAGE_CLASS}",
         "--set", f"inference.enabled={str(inference).lower()}", env=node.plane.env)
    found = Release(node, image)
    for part in ("keyservice", "operator", *(("inference",) if inference else ())):
        name = f"{RELEASE}-{part}"
        until(lambda name=name: found.deployment_available(name), f"deployment {name} available", READY_S)
    return found


def uninstall(node: Node) -> None:
    helm("uninstall", RELEASE, "--namespace", RELEASE_NS, "--wait", env=node.plane.env, check=False)


def active_key(node: Node, namespace: str, name: str, service_accounts: list[str]) -> str:
    """A CiferKey that the named ServiceAccounts of `namespace` may decrypt with, once Active:
    its cifer id, as its public-key ConfigMap publishes it."""
    apply(node, {"apiVersion": "cifer.io/v1alpha1", "kind": "CiferKey",
                 "metadata": {"name": name, "namespace": namespace},
                 "spec": {"access": {"serviceAccounts": [{"namespace": namespace, "name": sa}
                                                         for sa in service_accounts]}}})

    def active():
        key = node.plane.request("GET", f"/apis/cifer.io/v1alpha1/namespaces/{namespace}/ciferkeys/{name}")
        return key if key.get("status", {}).get("phase") == "Active" else None
    key = until(active, f"CiferKey {namespace}/{name} Active", READY_S)
    published = node.plane.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}-cifer-public-key")
    assert published["data"]["ciferId"] == key["status"]["ciferId"]
    return published["data"]["ciferId"]


def call_sidecar(node: Node, namespace: str, pod: str, path: str, body: dict) -> tuple[int, dict]:
    """The application container `app` of `pod` posts `body` to its sidecar's `path`."""
    done = exec_in(node, namespace, pod, "python3", "-c", CLIENT, path, json.dumps(body), container="app")
    status, answer = json.loads(done.stdout)
    return status, answer
