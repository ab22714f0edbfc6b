"""Failing closed on request (docs/injection.md): pods labelled `cifer.io/inject=required`, and every
pod of a namespace labelled `cifer.io/injection=required`, go to webhooks with `failurePolicy: Fail`,
registered in the real API server (1.20) as the chart registers them. With the injector up they are
injected (no opt-out); with its process stopped, such a pod is refused, while an ordinary pod that
asks by annotation is admitted without the sidecar (the default webhooks fail open)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kube.control_plane import ControlPlane, KubeApiError

from .stack import OperatorProcess, injecting_operator
from .test_injection import create_pod, namespace_with, sidecar_of

CONFIGURATIONS = ("cifer-inject-e2e-open", "cifer-inject-e2e-required")
IMAGE = "ghcr.io/cifer/cifer:e2e"


@pytest.fixture(scope="module")
def injector(kube: ControlPlane, keyservice, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    process, inject_port, ca = injecting_operator(kube, keyservice.url, tmp_path_factory.mktemp("operator-required"),
                                                  IMAGE)

    def webhook(name: str, path: str, namespaces: list[dict], pods: dict | None, policy: str) -> dict:
        return {"name": name, "clientConfig": {"url": f"https://127.0.0.1:{inject_port}{path}", "caBundle": ca},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}],
                "namespaceSelector": {"matchExpressions": namespaces}, **({"objectSelector": pods} if pods else {}),
                "failurePolicy": policy, "sideEffects": "None", "admissionReviewVersions": ["v1", "v1beta1"],
                "timeoutSeconds": 5}

    not_required = {"matchExpressions": [{"key": "cifer.io/inject", "operator": "NotIn", "values": ["required"]}]}
    register = {
        "cifer-inject-e2e-open": [webhook("pod.inject.cifer.io", "/inject/pod", [
            {"key": "cifer.io/injection", "operator": "NotIn", "values": ["enabled", "disabled", "required"]}],
            not_required, "Ignore")],
        "cifer-inject-e2e-required": [
            webhook("required-namespace.inject.cifer.io", "/inject/required", [
                {"key": "cifer.io/injection", "operator": "In", "values": ["required"]}], None, "Fail"),
            webhook("required-pod.inject.cifer.io", "/inject/required", [
                {"key": "cifer.io/injection", "operator": "NotIn", "values": ["required", "disabled"]}],
                {"matchLabels": {"cifer.io/inject": "required"}}, "Fail")],
    }
    for name, hooks in register.items():
        kube.request("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name}, "webhooks": hooks})
    try:
        yield process
    finally:
        for name in CONFIGURATIONS:
            kube.request("DELETE", f"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{name}")
        process.stop()


def labelled_pod(kube: ControlPlane, namespace: str, name: str, labels: dict, annotations: dict | None = None) -> dict:
    return kube.request("POST", f"/api/v1/namespaces/{namespace}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
        "spec": {"automountServiceAccountToken": False, "containers": [{"name": "app", "image": "example.com/a:1"}]}})


def test_required_pods_are_injected_and_cannot_opt_out_then_refused_while_the_injector_is_down(
        kube: ControlPlane, namespace: str, injector: OperatorProcess):
    kube.create_service_account(namespace, "default")
    strict = namespace_with(kube, f"{namespace}-req", {"cifer.io/injection": "required"})
    assert sidecar_of(labelled_pod(kube, namespace, "by-label", {"cifer.io/inject": "required"})) is not None
    assert sidecar_of(create_pod(kube, strict, "by-namespace")) is not None  # no annotation needed
    with pytest.raises(KubeApiError) as refused:  # required: no opting out
        create_pod(kube, strict, "opting-out", {"cifer.io/inject": "false"})
    assert "cifer.io/inject" in refused.value.body["message"]

    injector.kill()  # the webhook is down
    for where, make in ((namespace, lambda: labelled_pod(kube, namespace, "down-label", {"cifer.io/inject": "required"})),
                        (strict, lambda: create_pod(kube, strict, "down-namespace"))):
        with pytest.raises(KubeApiError) as refused:
            make()
        assert refused.value.status == 500 and "inject.cifer.io" in refused.value.body["message"], where
    ordinary = create_pod(kube, namespace, "down-ordinary", {"cifer.io/inject": "true"})
    assert sidecar_of(ordinary) is None  # fails open, as before
    names = {p["metadata"]["name"] for p in kube.request("GET", f"/api/v1/namespaces/{namespace}/pods")["items"]}
    assert "down-label" not in names and "down-ordinary" in names
