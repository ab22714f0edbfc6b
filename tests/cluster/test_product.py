"""CIFER as a user installs it, on a node where its pods really run: `helm install` with the
product's image built offline (tests/kube/node.py), a CiferKey, and an application pod that gets
the sidecar from the real injector and encrypts and decrypts through it.

The tests of this module share one release and run in order: each one leaves the cluster as the
next one expects it (an Active key, then an application using it).

What this node cannot show (so nothing here claims it): NetworkPolicy enforcement (the bridge CNI
plugin stores policies and ignores them), and native sidecars (the kubelet is 1.20).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator

import numpy as np
import pytest
from kube.control_plane import KubeApiError
from kube.node import Node
from kube.tools import kubectl

from cifer.envelope.format import CIFER_ID_RE
from cifer.settings.sidecar import SidecarSettings

from .host import container_process, probe_answers, quantity
from .pods import (
    apply,
    first_pod,
    is_ready,
    logs,
    namespace,
    until,
    wait_endpoints_at,
    wait_ready,
)
from .release import (
    RELEASE,
    RELEASE_NS,
    Release,
    active_key,
    call_sidecar,
    install,
    uninstall,
)

pytestmark = pytest.mark.cluster

APP_NS = "shop"
APP_SA = "orders"
KEY = "orders"
SIDECAR_PUBLIC_KEY_TTL_S = SidecarSettings.public_key_ttl_s
INFERENCE_MODEL = "digits-mlp-square"


@pytest.fixture(scope="module")
def release(cluster: Node) -> Iterator[Release]:
    yield install(cluster, inference=True)
    uninstall(cluster)


def test_the_release_runs_and_its_webhooks_are_served_from_the_operators_pod(release: Release) -> None:
    node = release.node
    pods = node.plane.request("GET", f"/api/v1/namespaces/{RELEASE_NS}/pods")["items"]
    assert {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods if is_ready(p)} >= \
        {"keyservice", "operator"}
    # The API server calls the injector through the operator's Service: a pod it admits proves it.
    config = node.plane.request(
        "GET", f"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{RELEASE}-inject")
    service = config["webhooks"][0]["clientConfig"]["service"]
    assert (service["namespace"], service["name"]) == (RELEASE_NS, f"{RELEASE}-operator")


def test_a_ciferkey_becomes_active_and_publishes_its_public_key(release: Release) -> None:
    node = release.node
    apply(node, namespace(APP_NS, {"cifer.io/injection": "enabled"}),
          {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": APP_SA, "namespace": APP_NS}})
    assert CIFER_ID_RE.fullmatch(active_key(node, APP_NS, KEY, [APP_SA]))


def _app(node: Node, image: str) -> str:
    apply(node, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "orders", "namespace": APP_NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "orders"}}, "template": {
            "metadata": {"labels": {"app": "orders"}, "annotations": {"cifer.io/inference": "true"}},
            "spec": {"serviceAccountName": APP_SA, "containers": [{
                "name": "app", "image": image, "imagePullPolicy": "Never",
                "command": ["python3", "-c", "import time; time.sleep(10**7)"],
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "readOnlyRootFilesystem": True,
                                    "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}}},
    })
    name = first_pod(node, APP_NS, "app=orders")
    wait_ready(node, APP_NS, name, 120)
    return name


def sidecar(node: Node, pod: str, path: str, body: dict) -> tuple[int, dict]:
    return call_sidecar(node, APP_NS, pod, path, body)


def test_an_application_pod_gets_the_sidecar_and_encrypts_and_decrypts_through_it(release: Release) -> None:
    node = release.node
    pod_name = _app(node, release.image)
    running = node.plane.request("GET", f"/api/v1/namespaces/{APP_NS}/pods/{pod_name}")
    containers = {c["name"]: c for c in running["spec"]["containers"]}
    assert "cifer-proxy" in containers, list(containers)  # injected by the real webhook
    assert all(s["ready"] for s in running["status"]["containerStatuses"])
    cifer_id = node.plane.request(
        "GET", f"/api/v1/namespaces/{APP_NS}/configmaps/{KEY}-cifer-public-key")["data"]["ciferId"]
    secret = f"order {secrets.token_hex(8)}"

    status, sealed = sidecar(node, pod_name, "/v1/encrypt",
                             {"cifer_id": cifer_id, "plaintext": secret, "encoding": "utf8"})
    assert status == 200, sealed
    status, opened = sidecar(node, pod_name, "/v1/decrypt", {"ciphertext": sealed["data"]["ciphertext"]})
    assert status == 200, opened
    assert base64.b64decode(opened["data"]["plaintext"]).decode() == secret
    # Over TLS to the key service, verified against the release's CA, which the injector handed over.
    env = {e["name"]: e.get("value", "") for e in containers["cifer-proxy"].get("env", [])}
    assert env["CIFER_KEYSERVICE_URL"].startswith("https://"), env
    assert "BEGIN CERTIFICATE" in env["CIFER_KEYSERVICE_CA"]
    # The sidecar acted as the pod's ServiceAccount, with the token projected for `cifer`.
    volumes = [v for v in running["spec"]["volumes"] if "projected" in v]
    audiences = {s["serviceAccountToken"].get("audience") for v in volumes for s in v["projected"]["sources"]
                 if "serviceAccountToken" in s}
    assert "cifer" in audiences


def _cifer_id(node: Node) -> str:
    return node.plane.request("GET", f"/api/v1/namespaces/{APP_NS}/configmaps/{KEY}-cifer-public-key")["data"]["ciferId"]


def _app_pod(node: Node) -> str:
    return first_pod(node, APP_NS, "app=orders")


def _keyservice_pods(node: Node) -> list[dict]:
    selector = "app.kubernetes.io/component=keyservice"
    return node.plane.request("GET", f"/api/v1/namespaces/{RELEASE_NS}/pods?labelSelector={selector}")["items"]


def test_encrypted_inference_through_the_sidecar_agrees_with_the_plaintext_model(release: Release) -> None:
    from sklearn.datasets import load_digits

    from cifer.fhe.models import heldout_indices, load_models

    model = load_models()[INFERENCE_MODEL]
    digits = load_digits()
    rows = [digits.data[i] for i in heldout_indices()[:8]]
    status, answer = sidecar(release.node, _app_pod(release.node), "/v1/infer",
                             {"model_id": INFERENCE_MODEL, "inputs": [[float(v) for v in row] for row in rows]})
    assert status == 200, answer
    assert answer["data"]["predictions"] and all(p["predicted_class"] is not None for p in answer["data"]["predictions"])
    assert [p["predicted_class"] for p in answer["data"]["predictions"]] == \
        [int(c) for c in model.predict(np.array(rows))]


def test_a_replaced_key_service_pod_loses_nothing_acknowledged(release: Release) -> None:
    node, app = release.node, _app_pod(release.node)
    envelopes = {}
    for n in range(3):  # acknowledged: the application holds these envelopes
        status, sealed = sidecar(node, app, "/v1/encrypt",
                                 {"cifer_id": _cifer_id(node), "plaintext": f"record {n}", "encoding": "utf8"})
        assert status == 200, sealed
        envelopes[f"record {n}"] = sealed["data"]["ciphertext"]
    (old,) = _keyservice_pods(node)
    node.plane.request("DELETE", f"/api/v1/namespaces/{RELEASE_NS}/pods/{old['metadata']['name']}")

    def replaced():
        fresh = [p for p in _keyservice_pods(node) if p["metadata"]["uid"] != old["metadata"]["uid"] and is_ready(p)]
        return fresh[0] if fresh else None
    new = until(replaced, "a new key-service pod Ready", 180)
    wait_endpoints_at(node, RELEASE_NS, f"{RELEASE}-keyservice", new["status"]["podIP"])
    for plaintext, ciphertext in envelopes.items():  # the application's next decrypts
        status, opened = sidecar(node, app, "/v1/decrypt", {"ciphertext": ciphertext})
        assert status == 200, opened
        assert base64.b64decode(opened["data"]["plaintext"]).decode() == plaintext


def test_revoking_the_ciferkey_makes_the_applications_decrypt_fail_with_410(release: Release) -> None:
    node, app = release.node, _app_pod(release.node)
    status, sealed = sidecar(node, app, "/v1/encrypt",
                             {"cifer_id": _cifer_id(node), "plaintext": "before revocation", "encoding": "utf8"})
    assert status == 200, sealed
    apply(node, {"apiVersion": "cifer.io/v1alpha1", "kind": "CiferKey",
                 "metadata": {"name": KEY, "namespace": APP_NS},
                 "spec": {"access": {"serviceAccounts": [{"namespace": APP_NS, "name": APP_SA}]}, "revoked": True}})

    def refused():
        status, answer = sidecar(node, app, "/v1/decrypt", {"ciphertext": sealed["data"]["ciphertext"]})
        return (status, answer) if status != 200 else None
    # The documented bound: the sidecar's public-key TTL (--public-key-ttl, 60 s) for encryption;
    # decryption asks the key service every time, so it fails as soon as the operator revoked.
    status, answer = until(refused, "decrypt refused after revocation", SIDECAR_PUBLIC_KEY_TTL_S)
    assert status == 410, answer
    assert answer["error"]["code"] == "CIFER_REVOKED", answer


def test_the_charts_security_contexts_limits_and_probes_are_in_force(release: Release) -> None:
    """Read from the host: each container's process (/proc) and cgroups against its pod spec."""
    node = release.node
    pods = [p for p in node.plane.request("GET", f"/api/v1/namespaces/{RELEASE_NS}/pods")["items"] if is_ready(p)]
    app = node.plane.request("GET", f"/api/v1/namespaces/{APP_NS}/pods/{_app_pod(node)}")
    checked = []
    for pod in [*pods, app]:
        statuses = {s["name"]: s for s in pod["status"]["containerStatuses"]}
        for container in pod["spec"]["containers"]:
            if pod is app and container["name"] != "cifer-proxy":
                continue  # the application's own container is not the chart's
            context = {**pod["spec"].get("securityContext", {}), **container.get("securityContext", {})}
            process = container_process(node, statuses[container["name"]]["containerID"])
            assert context.get("runAsNonRoot") is True, container["name"]
            assert process.uids[0] != 0 and process.uids[0] == context.get("runAsUser", process.uids[0])
            assert context.get("readOnlyRootFilesystem") is True and process.root_read_only, container["name"]
            assert context.get("allowPrivilegeEscalation") is False and process.no_new_privileges
            assert "ALL" in context.get("capabilities", {}).get("drop", []) and process.effective_capabilities == 0
            limits = container["resources"]["limits"]
            assert process.memory_limit == quantity(limits["memory"]), container["name"]
            assert process.cpu_quota_us == round(quantity(limits["cpu"]) * process.cpu_period_us)
            for probe in (container.get("readinessProbe"), container.get("livenessProbe")):
                if probe and "httpGet" in probe:
                    assert probe_answers(pod["status"]["podIP"], probe["httpGet"], container), probe
            checked.append(container["name"])
    assert {"keyservice", "operator", "cifer-proxy"} <= set(checked), checked


# The application's very first instruction calls the sidecar, with no retry: a connection refused
# (the sidecar not yet listening) fails the Job. Then an encrypt as the pod, then the sidecar stopped
# through the SDK, which reads where from nothing but the injected environment.
JOB_SCRIPT = """
import json, os, urllib.error, urllib.request
try:
    urllib.request.urlopen("http://localhost:8080/v1/health", timeout=5).close()
except urllib.error.HTTPError:
    pass  # an answer, whatever it says: the sidecar listens
assert os.environ["CIFER_SHUTDOWN_URL"] == "http://localhost:8080/v1/shutdown"
body = json.dumps({"cifer_id": os.environ["CIFER_ID"], "plaintext": "aGk="}).encode()
sealed = urllib.request.urlopen(urllib.request.Request("http://localhost:8080/v1/encrypt", data=body,
                                headers={"Content-Type": "application/json"}), timeout=60)
assert json.load(sealed)["success"] is True
from cifer import CiferClient
CiferClient().shutdown_sidecar()
"""


def test_a_job_finds_its_sidecar_at_its_first_instruction_stops_it_and_completes(release: Release) -> None:
    node = release.node
    cifer_id = active_key(node, APP_NS, "exports", [APP_SA])  # the module's first key is revoked by now
    apply(node, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "export", "namespace": APP_NS},
                 "spec": {"backoffLimit": 0, "template": {"spec": {
                     "serviceAccountName": APP_SA, "restartPolicy": "Never", "containers": [{
                         "name": "app", "image": release.image, "imagePullPolicy": "Never",
                         "command": ["python3", "-c", JOB_SCRIPT], "env": [{"name": "CIFER_ID", "value": cifer_id}],
                         "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "readOnlyRootFilesystem": True,
                                             "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}}}})

    def finished():
        status = node.plane.request("GET", f"/apis/batch/v1/namespaces/{APP_NS}/jobs/export")["status"]
        return status if status.get("succeeded") or status.get("failed") else None
    status = until(finished, "Job export finished", 180)
    name = first_pod(node, APP_NS, "job-name=export")
    done = node.plane.request("GET", f"/api/v1/namespaces/{APP_NS}/pods/{name}")
    assert status.get("succeeded") == 1, (status, logs(node, APP_NS, name, "app"))
    assert done["status"]["phase"] == "Succeeded"
    assert [c["name"] for c in done["spec"]["containers"]] == ["cifer-proxy", "app"]  # classic: the sidecar first
    exits = {s["name"]: s["state"]["terminated"]["exitCode"] for s in done["status"]["containerStatuses"]}
    assert exits == {"cifer-proxy": 0, "app": 0}


def test_a_pod_that_requires_the_sidecar_is_refused_while_the_injector_is_down_and_never_runs(
        release: Release) -> None:
    node = release.node
    deployment = f"deployment/{RELEASE}-operator"
    kubectl(node.plane, "scale", deployment, "--namespace", RELEASE_NS, "--replicas=0")
    try:
        # Down means no operator process at all: a terminating pod still serves through its grace
        # period, and the API server may route to it until its own view of the endpoints catches up.
        until(lambda: not [p for p in node.plane.request("GET", f"/api/v1/namespaces/{RELEASE_NS}/pods")["items"]
                           if p["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "operator"],
              "no operator pod left", 180)
        required = {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "must-have-sidecar", "namespace": APP_NS, "labels": {"cifer.io/inject": "required"}},
            "spec": {"serviceAccountName": APP_SA, "containers": [{
                "name": "app", "image": release.image, "imagePullPolicy": "Never", "command": ["true"]}]}}
        with pytest.raises(KubeApiError) as refused:
            node.plane.request("POST", f"/api/v1/namespaces/{APP_NS}/pods", required)
        assert "required-pod.inject.cifer.io" in str(refused.value)  # failed calling webhook: refused
        names = {p["metadata"]["name"] for p in node.plane.request("GET", f"/api/v1/namespaces/{APP_NS}/pods")["items"]}
        assert "must-have-sidecar" not in names
    finally:
        kubectl(node.plane, "scale", deployment, "--namespace", RELEASE_NS, "--replicas=1")
        until(lambda: node.plane.request("GET", f"/api/v1/namespaces/{RELEASE_NS}/endpoints/{RELEASE}-operator")
              .get("subsets"), "the injector back", 180)
