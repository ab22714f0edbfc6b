"""Sidecar injection end to end: pods created through the real API server, which calls the
injection webhook of `cifer operator` over HTTPS on loopback (a certificate made with
`cryptography`); what the tests read back is the pod as the API server stored it. No kubelet runs,
so the pods are never started: what is checked is the spec the kubelet would get."""

from __future__ import annotations

import json
from collections.abc import Iterator

import kubernetes
import pytest

from cifer_operator import sidecar_modes
from cifer_operator.admission import ServerVersion
from cifer_operator.kube import Kube

from kube.control_plane import ControlPlane, KubeApiError
from ports import free_port

from .resources import active, apply, wait_for
from .stack import OPERATOR_NS, OperatorProcess, injecting_operator, operator_kubeconfig

CONFIGURATION = "cifer-inject-e2e"
IMAGE = "ghcr.io/cifer/cifer:e2e"


@pytest.fixture(scope="module")
def operator(kube: ControlPlane, keyservice, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """The module's operator, serving the injection webhook too, registered in the API server by
    a MutatingWebhookConfiguration shaped as the chart's (two webhooks, by namespace and by pod)."""
    process, inject_port, ca = injecting_operator(kube, keyservice.url, tmp_path_factory.mktemp("operator-injection"),
                                                  IMAGE)

    def webhook(name: str, path: str, selector: list[dict]) -> dict:
        return {"name": name, "clientConfig": {"url": f"https://127.0.0.1:{inject_port}{path}", "caBundle": ca},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}],
                "namespaceSelector": {"matchExpressions": selector}, "failurePolicy": "Ignore",
                "sideEffects": "None", "admissionReviewVersions": ["v1", "v1beta1"], "timeoutSeconds": 5}

    own = {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [OPERATOR_NS]}
    kube.request("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": CONFIGURATION}, "webhooks": [
            webhook("namespace.inject.cifer.io", "/inject/namespace",
                    [{"key": "cifer.io/injection", "operator": "In", "values": ["enabled"]}, own]),
            webhook("pod.inject.cifer.io", "/inject/pod",
                    [{"key": "cifer.io/injection", "operator": "NotIn", "values": ["enabled", "disabled"]}, own]),
        ]})
    try:
        yield process
    finally:
        kube.request("DELETE", f"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{CONFIGURATION}")
        process.stop()


def namespace_with(kube: ControlPlane, name: str, labels: dict[str, str]) -> str:
    kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": name, "labels": labels}})
    kube.create_service_account(name, "default")  # the ServiceAccount admission plugin wants it
    return name


def create_pod(kube: ControlPlane, namespace: str, name: str, annotations: dict[str, str] | None = None,
               spec: dict | None = None) -> dict:
    return kube.request("POST", f"/api/v1/namespaces/{namespace}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations or {}},
        "spec": spec or {"automountServiceAccountToken": False,
                         "containers": [{"name": "app", "image": "example.com/shop:1"}]}})


def sidecar_of(pod: dict) -> dict | None:
    return next((c for c in pod["spec"]["containers"] if c["name"] == "cifer-proxy"), None)


@pytest.fixture(scope="module")
def plain(kube, namespace) -> str:
    kube.create_service_account(namespace, "default")  # the ServiceAccount admission plugin wants it
    return namespace


@pytest.fixture(scope="module")
def labelled(kube, namespace) -> str:
    return namespace_with(kube, f"{namespace}-on", {"cifer.io/injection": "enabled"})


def test_an_annotated_pod_gets_the_sidecar_its_token_the_env_var_and_a_locked_down_context(kube, plain, operator):
    pod = create_pod(kube, plain, "annotated", {"cifer.io/inject": "true", "cifer.io/proxy-port": "9090",
                                                "cifer.io/proxy-memory": "256Mi"})
    proxy = sidecar_of(pod)
    assert proxy is not None and proxy["image"] == IMAGE
    assert proxy["args"][:5] == ["proxy", "--host", "127.0.0.1", "--port", "9090"]
    app = next(c for c in pod["spec"]["containers"] if c["name"] == "app")
    assert {"name": "CIFER_PROXY_URL", "value": "http://localhost:9090"} in app["env"]
    context = proxy["securityContext"]
    assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"]
    assert context["capabilities"]["drop"] == ["ALL"] and context["seccompProfile"]["type"] == "RuntimeDefault"
    assert proxy["resources"]["limits"]["memory"] == "256Mi" and proxy["resources"]["requests"]["cpu"]
    for probe in (proxy["readinessProbe"], proxy["livenessProbe"]):
        assert probe["httpGet"]["path"] == "/v1/health"
    token = next(v for v in pod["spec"]["volumes"] if v["name"] == "cifer-token")["projected"]["sources"][0]
    assert token["serviceAccountToken"]["audience"] == "cifer" and token["serviceAccountToken"]["expirationSeconds"] <= 3600
    assert {"mountPath": "/var/run/secrets/cifer", "name": "cifer-token", "readOnly": True} in proxy["volumeMounts"]
    assert pod["metadata"]["labels"]["cifer.io/sidecar"] == "injected"


def test_an_unannotated_pod_in_an_unlabelled_namespace_is_untouched(kube, plain, operator):
    pod = create_pod(kube, plain, "untouched")
    assert [c["name"] for c in pod["spec"]["containers"]] == ["app"] and "env" not in pod["spec"]["containers"][0]


def test_a_labelled_namespace_injects_every_pod_unless_it_opts_out(kube, labelled, operator):
    assert sidecar_of(create_pod(kube, labelled, "by-namespace")) is not None
    assert sidecar_of(create_pod(kube, labelled, "opted-out", {"cifer.io/inject": "false"})) is None


def test_a_pod_that_has_the_sidecar_already_is_left_as_it_is(kube, plain, operator):
    first = create_pod(kube, plain, "first", {"cifer.io/inject": "true"})
    spec = {key: first["spec"][key] for key in ("containers", "volumes", "automountServiceAccountToken")}
    again = create_pod(kube, plain, "again", {"cifer.io/inject": "true"}, spec)
    assert again["spec"]["containers"] == first["spec"]["containers"]
    assert again["spec"]["volumes"] == first["spec"]["volumes"]
    assert [c["name"] for c in again["spec"]["containers"]].count("cifer-proxy") == 1


@pytest.mark.parametrize(("annotations", "named"), [
    ({"cifer.io/inject": "yes"}, "cifer.io/inject"),
    ({"cifer.io/inject": "true", "cifer.io/proxy-port": "http"}, "cifer.io/proxy-port"),
    ({"cifer.io/inject": "true", "cifer.io/proxy-cpu": "lots"}, "cifer.io/proxy-cpu"),
    ({"cifer.io/inject": "true", "cifer.io/inference": "true"}, "cifer.io/inference"),
    ({"cifer.io/inject": "true", "cifer.io/cifer-keys": "no-such-key"}, "cifer.io/cifer-keys"),
])
def test_a_malformed_annotation_refuses_the_pod_with_a_message_naming_it(kube, plain, operator, annotations, named):
    with pytest.raises(KubeApiError) as refused:
        create_pod(kube, plain, f"bad-{abs(hash(json.dumps(annotations))) % 10**6}", annotations)
    assert named in refused.value.body["message"], refused.value.body["message"]


def test_cifer_keys_by_ciferkey_name_warm_the_sidecar_with_the_key_id(kube, plain, operator):
    apply(kube, plain, "checkout", {})
    cifer_id = wait_for(kube, plain, "checkout", active(1), operator)["status"]["ciferId"]
    pod = create_pod(kube, plain, "warm", {"cifer.io/inject": "true", "cifer.io/cifer-keys": "checkout"})
    args = sidecar_of(pod)["args"]
    assert args[args.index("--warm") + 1] == cifer_id


def test_the_operators_own_namespace_is_never_injected(kube, operator):
    kube.create_service_account(OPERATOR_NS, "default")
    pod = create_pod(kube, OPERATOR_NS, f"own-{free_port()}", {"cifer.io/inject": "true"})
    assert sidecar_of(pod) is None


def test_classic_mode_puts_the_sidecar_first_with_its_wait_hook_and_records_what_it_injected(kube, plain, operator):
    pod = create_pod(kube, plain, "classic", {"cifer.io/inject": "true"})  # the API server is 1.20: classic
    first = pod["spec"]["containers"][0]
    assert first["name"] == "cifer-proxy" and [c["name"] for c in pod["spec"]["containers"]] == ["cifer-proxy", "app"]
    assert first["lifecycle"]["postStart"]["exec"]["command"][:3] == ["cifer", "wait", "--url"]
    record = json.loads(pod["metadata"]["annotations"]["cifer.io/injected"])
    assert record["mode"] == "classic" and record["image"] == IMAGE and record["version"]


def test_a_jobs_pod_gets_the_shutdown_wiring(kube, plain, operator):
    job = {"apiVersion": "batch/v1", "kind": "Job", "name": "nightly", "uid": "7d0e6b1e-2f4a-4b8e-a1c3-5e9f0a2b4c6d"}
    pod = kube.request("POST", f"/api/v1/namespaces/{plain}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "job-pod", "annotations": {"cifer.io/inject": "true"},
                                                        "ownerReferences": [job]},
        "spec": {"automountServiceAccountToken": False, "restartPolicy": "Never",
                 "containers": [{"name": "app", "image": "example.com/export:1"}]}})
    app = next(c for c in pod["spec"]["containers"] if c["name"] == "app")
    assert {"name": "CIFER_SHUTDOWN_URL", "value": "http://localhost:8080/v1/shutdown"} in app["env"]
    plain_pod = create_pod(kube, plain, "not-a-job", {"cifer.io/inject": "true"})
    assert all(v["name"] != "CIFER_SHUTDOWN_URL" for c in plain_pod["spec"]["containers"] for v in c.get("env", []))


async def test_the_injector_reads_the_api_servers_version_as_the_operators_serviceaccount(kube, operator_rbac, tmp_path):
    """What picks the sidecar's mode: this server is 1.20, so classic (sidecar_modes.py)."""
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(operator_kubeconfig(kube, tmp_path / "kubeconfig")),
                                       client_configuration=config)
    server = ServerVersion(Kube(kubernetes.client.ApiClient(config)).server_version)
    await server.refresh()
    assert server.version == (1, 20)
    assert sidecar_modes.chosen(None, sidecar_modes.AUTO, server.version) == sidecar_modes.CLASSIC
