"""`helm install`, `upgrade` and `uninstall` of charts/cifer into the real API server (the `kube`
fixture: kube-apiserver 1.20 and etcd; no kubelet, so nothing runs and `--wait` is not used).

Helm 4 applies objects server-side by default (`--server-side=true`); Kubernetes 1.20 serves
server-side apply (beta, on by default), and these tests run it so. The release goes into a
namespace of its own, under a release name of its own, so its cluster-wide objects (ClusterRole,
webhook configurations, peering) cannot meet another test's.

CRDs: Helm installs the chart's crds/ only when they are absent, and never upgrades or deletes
them. Other tests of the session may have applied the same CRDs with kubectl already (the e2e
`crds` fixture); then Helm leaves them as they are, which is the behaviour a user with existing
CRDs gets. Either way they must be served after the install and still be there after the
uninstall. Uninstalling is the last test of this module.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kube.control_plane import ControlPlane, KubeApiError
from kube.tools import kubectl

from .helm import CHART, helm

CRDS = (
    "ciferkeys.cifer.io",
    "ciferwebhooks.cifer.io",
    "clusterkopfpeerings.kopf.dev",
    "kopfpeerings.kopf.dev",
)
EXAMPLE = CHART.parents[1] / "manifests" / "examples" / "deployment.yaml"


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    crds_before: frozenset[str]

    @property
    def webhook_configurations(self) -> tuple[str, str]:
        return (
            f"validatingwebhookconfiguration/{self.name}-validate",
            f"mutatingwebhookconfiguration/{self.name}-inject",
        )


def _crds_present(kube: ControlPlane) -> frozenset[str]:
    present = set()
    for name in CRDS:
        try:
            kube.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            present.add(name)
        except KubeApiError as err:
            if err.status != 404:
                raise
    return frozenset(present)


def _get(kube: ControlPlane, *args: str) -> dict[str, Any]:
    return json.loads(kubectl(kube, "get", *args, "-o", "json").stdout)


@pytest.fixture(scope="module")
def release(kube: ControlPlane) -> Iterator[Release]:
    suffix = secrets.token_hex(3)
    installed = Release(f"cifer-{suffix}", f"cifer-system-{suffix}", _crds_present(kube))
    kube.create_namespace(installed.namespace)
    try:
        helm("install", installed.name, CHART, "--namespace", installed.namespace, env=kube.env)
        yield installed
    finally:
        helm("uninstall", installed.name, "--namespace", installed.namespace, "--ignore-not-found",
             env=kube.env, check=False)
        # The validating webhook fails CiferKey updates while nothing serves it: never leave it.
        kubectl(kube, "delete", *installed.webhook_configurations, "--ignore-not-found", check=False)
        kubectl(kube, "delete", "namespace", installed.namespace, "--wait=false", "--ignore-not-found",
                check=False)


def test_helm_install_creates_the_deployments_services_and_webhook_configurations(
    kube: ControlPlane, release: Release
) -> None:
    ns = release.namespace
    deployments = {d["metadata"]["name"]: d for d in _get(kube, "deployments", "-n", ns)["items"]}
    assert set(deployments) == {f"{release.name}-keyservice", f"{release.name}-operator"}
    assert deployments[f"{release.name}-operator"]["spec"]["replicas"] == 2
    services = {s["metadata"]["name"]: s for s in _get(kube, "services", "-n", ns)["items"]}
    assert set(services) == {f"{release.name}-keyservice", f"{release.name}-operator"}
    assert [p["port"] for p in services[f"{release.name}-operator"]["spec"]["ports"]] == [443, 9444]
    validate = _get(kube, release.webhook_configurations[0])
    inject = _get(kube, release.webhook_configurations[1])
    assert [h["name"] for h in validate["webhooks"]] == ["ciferkeys.validate.cifer.io"]
    assert [h["name"] for h in inject["webhooks"]] == ["namespace.inject.cifer.io", "pod.inject.cifer.io"]
    for hook in validate["webhooks"] + inject["webhooks"]:
        assert hook["clientConfig"]["service"]["namespace"] == ns
        assert hook["clientConfig"]["caBundle"]
    _get(kube, "clusterkopfpeering", release.name)
    _get(kube, "clusterrole", f"{release.name}-operator")


def test_the_crds_are_served_after_the_install(kube: ControlPlane, release: Release) -> None:
    # Those in release.crds_before were applied by another test first (see the docstring); the
    # others were made by this install.
    kubectl(kube, "wait", "--for=condition=Established", "--timeout=60s",
            *(f"customresourcedefinition/{name}" for name in CRDS))


def test_the_disruption_budgets_use_the_policy_api_the_cluster_serves(
    kube: ControlPlane, release: Release
) -> None:
    groups = kube.request("GET", "/apis/policy")["versions"]
    expected = "policy/v1" if any(v["groupVersion"] == "policy/v1" for v in groups) else "policy/v1beta1"
    manifest = helm("get", "manifest", release.name, "--namespace", release.namespace, env=kube.env).stdout
    assert manifest.count(f"apiVersion: {expected}\nkind: PodDisruptionBudget") == 2
    names = {p["metadata"]["name"] for p in _get(kube, "pdb", "-n", release.namespace)["items"]}
    assert names == {f"{release.name}-keyservice", f"{release.name}-operator"}


def test_helm_upgrade_keeps_the_webhook_certificate(kube: ControlPlane, release: Release) -> None:
    secret = f"{release.name}-operator-tls"
    before = _get(kube, "secret", secret, "-n", release.namespace)["data"]
    helm("upgrade", release.name, CHART, "--namespace", release.namespace, env=kube.env)
    after = _get(kube, "secret", secret, "-n", release.namespace)["data"]
    assert after == before
    for configuration in release.webhook_configurations:
        for hook in _get(kube, configuration)["webhooks"]:
            assert hook["clientConfig"]["caBundle"] == after["ca.crt"]
    assert b"BEGIN CERTIFICATE" in base64.b64decode(after["ca.crt"])


def test_helm_upgrade_keeps_the_key_services_certificate_and_signs_a_part_enabled_later_with_the_same_ca(
    kube: ControlPlane, release: Release
) -> None:
    """Running sidecars hold the CA's certificate: an upgrade must neither replace the key
    service's certificate nor the CA, also when it adds the inference server."""
    ns = release.namespace
    names = [f"{release.name}-ca", f"{release.name}-keyservice-tls", f"{release.name}-operator-tls"]
    before = {name: _get(kube, "secret", name, "-n", ns)["data"] for name in names}
    assert before[names[1]]["ca.crt"] == before[names[0]]["tls.crt"]
    helm("upgrade", release.name, CHART, "--namespace", ns, "--set", "inference.enabled=true", env=kube.env)
    assert {name: _get(kube, "secret", name, "-n", ns)["data"] for name in names} == before
    inference = _get(kube, "secret", f"{release.name}-inference-tls", "-n", ns)["data"]
    assert inference["ca.crt"] == before[names[0]]["tls.crt"]
    operator = _get(kube, "deployment", f"{release.name}-operator", "-n", ns)
    args = operator["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--inference-url") + 1].startswith("https://")


def test_the_example_deployment_is_accepted_by_the_api_server(kube: ControlPlane, release: Release) -> None:
    done = kubectl(kube, "apply", "--dry-run=server", "-n", release.namespace, "-f", EXAMPLE)
    assert "deployment.apps/payments-api created (server dry run)" in done.stdout


def test_helm_uninstall_removes_the_release_and_keeps_the_crds_and_the_data_claim(
    kube: ControlPlane, release: Release
) -> None:
    done = helm("uninstall", release.name, "--namespace", release.namespace, env=kube.env)
    assert f"{release.name}-keyservice-data" in done.stdout  # "kept due to the resource policy"
    ns = release.namespace
    assert _get(kube, "deployments", "-n", ns)["items"] == []
    assert _get(kube, "services", "-n", ns)["items"] == []
    for configuration in release.webhook_configurations:
        gone = kubectl(kube, "get", configuration, check=False)
        assert gone.returncode != 0 and "NotFound" in gone.stderr, configuration
    gone = kubectl(kube, "get", "clusterrole", f"{release.name}-operator", check=False)
    assert gone.returncode != 0
    # Helm never deletes the CRDs of crds/ (that would delete every CiferKey), nor the claim
    # holding the key service's database and key-encryption key (helm.sh/resource-policy: keep).
    assert _crds_present(kube) == frozenset(CRDS)
    _get(kube, "pvc", f"{release.name}-keyservice-data", "-n", ns)
