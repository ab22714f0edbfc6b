"""charts/cifer as real helm renders it: lint, Kubernetes schemas, secure pods, least-privilege
RBAC, the processes' arguments, the webhooks and their certificate, and the values' contract.

Rendered objects are validated with kubernetes-validate (strict: an unknown field fails) against
the Kubernetes 1.25 schemas, the oldest it ships (1.25 to 1.37); the chart's floor, 1.20, is
covered by tests/chart/test_install.py against the real 1.20 API server.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from cifer_keyservice.settings import FixedWindow, RateLimits
from kube.control_plane import REPO_ROOT

from .helm import (
    ALL_ENABLED_VALUES,
    CHART,
    NAMESPACE,
    OPTIONAL_APIS,
    RENDERS,
    container,
    helm,
    named,
    of_kind,
    parse,
    pod_specs,
    render,
)

KUBERNETES_SCHEMA_VERSION = "1.25.0"
# Custom resources: kubernetes-validate has schemas for Kubernetes' own kinds only. These are
# the only kinds allowed to go unvalidated here (the API server checks them against their CRDs).
CUSTOM_KINDS = {
    ("kopf.dev/v1", "ClusterKopfPeering"),
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "Certificate"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}
OPERATOR_RULES_SOURCE = REPO_ROOT / "manifests" / "rbac" / "clusterrole.yaml"
INSTALL_YAML = REPO_ROOT / "manifests" / "install.yaml"
WEBHOOK_HOST = f"cifer-operator.{NAMESPACE}.svc"
KEYSERVICE_HOST = f"cifer-keyservice.{NAMESPACE}.svc"
KEYSERVICE_URL = f"https://{KEYSERVICE_HOST}:8081"
INFERENCE_HOST = f"cifer-inference.{NAMESPACE}.svc"
CA_FILE = "/etc/cifer/ca/ca.crt"
SERVING_TLS = ["--tls-cert-file", "/etc/cifer/serving-tls/tls.crt", "--tls-key-file", "/etc/cifer/serving-tls/tls.key"]
# keyservice.rateLimits as the chart passes them by default: the key service's own defaults, by category.
RATE_LIMITS = [arg for category, window in sorted(vars(RateLimits()).items()) if isinstance(window, FixedWindow)
               for arg in ("--rate-limit", f"{category}={window.limit}/{window.window_s}")]
IMAGE = "ghcr.io/cifer/cifer:0.1.0"


@cache
def rendered(which: str) -> tuple[dict[str, Any], ...]:
    return tuple(render(*RENDERS[which]))


def _refused(*args: str) -> str:
    """helm template's error for a render that must fail."""
    done = helm("template", "cifer", CHART, "--namespace", NAMESPACE, *args, check=False)
    assert done.returncode != 0, f"helm template {' '.join(args)} rendered"
    return done.stderr


# ---------------------------------------------------------------- lint and Kubernetes schemas


@pytest.mark.parametrize(
    "values", [(), ("--values", str(ALL_ENABLED_VALUES))], ids=["defaults", "all-enabled"]
)
def test_helm_lint_strict_passes(values: tuple[str, ...]) -> None:
    done = helm("lint", "--strict", CHART, *values)
    assert "0 chart(s) failed" in done.stdout, done.stdout


@pytest.mark.parametrize("which", ["defaults", "all-enabled", "install.yaml"])
def test_every_rendered_object_is_valid_for_kubernetes(which: str) -> None:
    if which == "install.yaml":
        objects = parse(INSTALL_YAML.read_text())
    else:
        objects = parse(helm("template", "cifer", CHART, "--namespace", NAMESPACE, "--include-crds",
                             *RENDERS[which]).stdout)
    invalid, unchecked = [], set()
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_SCHEMA_VERSION, strict=True)
        except SchemaNotFoundError:
            unchecked.add((obj["apiVersion"], obj["kind"]))
        except ValidationError as err:
            path = ".".join(map(str, err.absolute_path))
            invalid.append(f"{where}: {path}: {err.message}")
    assert invalid == []
    assert unchecked <= CUSTOM_KINDS


def test_every_optional_part_renders_when_enabled() -> None:
    kinds = {(obj["kind"], obj["metadata"]["name"]) for obj in rendered("all-enabled")}
    for part in [
        ("Deployment", "cifer-inference"),
        ("Service", "cifer-inference"),
        ("NetworkPolicy", "cifer-inference"),
        ("ServiceMonitor", "cifer-keyservice"),
        ("Certificate", "cifer-operator-tls"),
        ("Issuer", "cifer-selfsigned"),
    ]:
        assert part in kinds
    defaults = {obj["kind"] for obj in rendered("defaults")}
    assert defaults.isdisjoint({"ServiceMonitor", "Certificate", "Issuer"})
    assert ("Deployment", "cifer-inference") not in {
        (obj["kind"], obj["metadata"]["name"]) for obj in rendered("defaults")
    }


# ---------------------------------------------------------------- secure pods


POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "fsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.mark.parametrize("which", list(RENDERS))
def test_every_pod_runs_non_root_read_only_with_no_capabilities_and_bounded_resources(which: str) -> None:
    pods = dict(pod_specs(rendered(which)))
    assert len(pods) == (2 if which == "defaults" else 3), sorted(pods)
    for where, pod in pods.items():
        assert pod["securityContext"] == POD_SECURITY, where
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(key), (where, key)
        empty_dirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for box in pod["containers"] + pod.get("initContainers", []):
            at = f"{where} container {box['name']}"
            context = box["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, at
            assert context["allowPrivilegeEscalation"] is False, at
            assert context["capabilities"] == {"drop": ["ALL"]}, at
            assert not context.get("privileged"), at
            for bound in ("requests", "limits"):
                assert set(box["resources"][bound]) >= {"cpu", "memory"}, (at, bound)
            tmp = [m for m in box.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1 and tmp[0]["name"] in empty_dirs, f"{at}: no emptyDir at /tmp"


# ---------------------------------------------------------------- RBAC


@pytest.mark.parametrize("which", list(RENDERS))
def test_no_rendered_rbac_rule_has_a_wildcard(which: str) -> None:
    roles = [obj for obj in rendered(which) if obj["kind"] in ("ClusterRole", "Role")]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for key, values in rule.items():
                assert values, (role["metadata"]["name"], key)
                assert all("*" not in value for value in values), (role["metadata"]["name"], rule)


def test_the_operator_cluster_role_has_exactly_the_rules_of_the_plain_manifests() -> None:
    (source,) = parse(OPERATOR_RULES_SOURCE.read_text())
    role = named(rendered("defaults"), "ClusterRole", "cifer-operator")
    assert role["rules"] == source["rules"]


def test_the_key_service_may_review_tokens_and_nothing_else() -> None:
    binding = named(rendered("defaults"), "ClusterRoleBinding", "cifer-keyservice-auth-delegator")
    assert binding["roleRef"]["name"] == "system:auth-delegator"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "cifer-keyservice", "namespace": NAMESPACE}
    ]


# ---------------------------------------------------------------- the processes' arguments


def test_the_operator_runs_with_the_agreed_arguments_and_a_cifer_token() -> None:
    objects = rendered("defaults")
    operator = container(objects, "cifer-operator", "operator")
    assert operator["image"] == IMAGE
    assert operator["args"] == [
        "operator",
        "--keyservice-url", KEYSERVICE_URL,
        "--keyservice-ca", CA_FILE,
        "--token-file", "/var/run/secrets/cifer/token",
        "--peering", "cifer",
        "--webhook-addr", "0.0.0.0",
        "--webhook-port", "9443",
        "--webhook-host", WEBHOOK_HOST,
        "--webhook-cert", "/etc/cifer/tls/tls.crt",
        "--webhook-key", "/etc/cifer/tls/tls.key",
        "--liveness", "http://0.0.0.0:8080/healthz",
        "--inject-port", "9444",
        "--proxy-image", IMAGE,
        "--inject-keyservice-url", KEYSERVICE_URL,
    ]
    pod = named(objects, "Deployment", "cifer-operator")["spec"]["template"]["spec"]
    (token,) = [v for v in pod["volumes"] if v["name"] == "cifer-token"]
    assert token["projected"]["sources"] == [
        {"serviceAccountToken": {"path": "token", "audience": "cifer", "expirationSeconds": 3600}}
    ]
    assert {"name": "cifer-token", "mountPath": "/var/run/secrets/cifer", "readOnly": True} in operator[
        "volumeMounts"
    ]
    assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    named(objects, "ClusterKopfPeering", "cifer")


def test_the_operator_names_the_inference_server_only_when_it_runs() -> None:
    args = container(rendered("all-enabled"), "cifer-operator", "operator")["args"]
    assert args[args.index("--inference-url") + 1] == f"https://{INFERENCE_HOST}:8000"
    assert args[args.index("--inference-ca") + 1] == CA_FILE
    assert args[args.index("--proxy-image") + 1] == "ghcr.io/cifer/cifer:0.1.0-proxy"
    assert "--inference-url" not in container(rendered("defaults"), "cifer-operator", "operator")["args"]


def test_injected_sidecars_serve_grpc_only_when_the_chart_names_a_port() -> None:
    assert "--inject-grpc-port" not in container(rendered("defaults"), "cifer-operator", "operator")["args"]
    args = container(render("--set", "injection.grpcPort=9090"), "cifer-operator", "operator")["args"]
    assert args[args.index("--inject-grpc-port") + 1] == "9090"


def test_the_sidecar_mode_is_the_servers_unless_the_chart_forces_one() -> None:
    assert "--inject-sidecar-mode" not in container(rendered("defaults"), "cifer-operator", "operator")["args"]
    args = container(render("--set", "injection.sidecarMode=classic"), "cifer-operator", "operator")["args"]
    assert args[args.index("--inject-sidecar-mode") + 1] == "classic"


def test_without_injection_the_operator_serves_no_injector() -> None:
    objects = render("--set", "injection.enabled=false")
    assert not of_kind(objects, "MutatingWebhookConfiguration")
    args = container(objects, "cifer-operator", "operator")["args"]
    assert not [arg for arg in args if arg.startswith("--inject") or arg == "--proxy-image"]
    ports = named(objects, "Service", "cifer-operator")["spec"]["ports"]
    assert [p["name"] for p in ports] == ["validate"]


POD_NAME = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}


def test_the_key_service_by_default_keeps_sqlite_and_a_file_kek_on_a_volume() -> None:
    objects = rendered("defaults")
    keyservice = container(objects, "cifer-keyservice", "keyservice")
    assert keyservice["args"] == [
        "keyservice", "--data-dir", "/var/lib/cifer",
        "serve", "--host", "0.0.0.0", "--port", "8081", *SERVING_TLS, "--kube-in-cluster",
        "--audit-checkpoint-events", "--admin-principal", f"system:serviceaccount:{NAMESPACE}:cifer-operator", *RATE_LIMITS,
    ]
    assert keyservice["env"] == [POD_NAME]  # the pod its audit checkpoint Events are about
    assert keyservice["readinessProbe"]["httpGet"] == {"path": "/v1/health", "port": "https", "scheme": "HTTPS"}
    deployment = named(objects, "Deployment", "cifer-keyservice")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (data,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"]
    claim = named(objects, "PersistentVolumeClaim", "cifer-keyservice-data")
    assert data["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_the_replicated_key_service_takes_postgresql_redis_and_the_hsm_from_secrets() -> None:
    objects = rendered("all-enabled")
    keyservice = container(objects, "cifer-keyservice", "keyservice")
    assert keyservice["args"] == [
        "keyservice", "--data-dir", "/var/lib/cifer",
        "--pkcs11-library", "/usr/lib/softhsm/libsofthsm2.so", "--pkcs11-token", "cifer",
        "serve", "--host", "0.0.0.0", "--port", "8081", *SERVING_TLS, "--kube-in-cluster",
        "--audit-checkpoint-events", "--admin-principal", f"system:serviceaccount:{NAMESPACE}:cifer-operator",
        "--webhook-allow-private-networks", *RATE_LIMITS,
    ]
    secrets = {
        env["name"]: env["valueFrom"]["secretKeyRef"] for env in keyservice["env"]
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert POD_NAME in keyservice["env"]
    assert secrets == {
        "CIFER_DATABASE_URL": {"name": "cifer-postgresql", "key": "dsn"},
        "CIFER_REDIS_URL": {"name": "cifer-redis", "key": "redis-url"},
        "CIFER_PKCS11_PIN": {"name": "cifer-hsm-pin", "key": "pin"},
    }
    # PostgreSQL and an HSM: nothing on disk, so no claim and rolling updates.
    assert not of_kind(objects, "PersistentVolumeClaim")
    deployment = named(objects, "Deployment", "cifer-keyservice")
    assert "strategy" not in deployment["spec"]
    (data,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"]
    assert data == {"name": "data", "emptyDir": {}}


def test_the_inference_server_runs_the_agreed_command_without_a_token() -> None:
    objects = rendered("all-enabled")
    inference = container(objects, "cifer-inference", "inference")
    assert inference["args"] == ["inference", "--host", "0.0.0.0", "--port", "8000", *SERVING_TLS]
    assert inference["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    pod = named(objects, "Deployment", "cifer-inference")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert named(objects, "Service", "cifer-inference")["spec"]["ports"][0]["port"] == 8000


# ---------------------------------------------------------------- availability and network


def test_disruption_budgets_keep_one_pod_of_a_replicated_component() -> None:
    defaults = rendered("defaults")
    assert named(defaults, "PodDisruptionBudget", "cifer-keyservice")["spec"]["maxUnavailable"] == 1
    assert named(defaults, "PodDisruptionBudget", "cifer-operator")["spec"]["minAvailable"] == 1
    enabled = rendered("all-enabled")
    assert named(enabled, "PodDisruptionBudget", "cifer-keyservice")["spec"]["minAvailable"] == 2
    for pdb in of_kind(defaults + enabled, "PodDisruptionBudget"):
        # helm template knows policy/v1; a 1.20 cluster gets policy/v1beta1 (test_install.py).
        assert pdb["apiVersion"] == "policy/v1"


def test_only_sidecars_and_the_operator_reach_the_key_service() -> None:
    objects = rendered("defaults")
    policy = named(objects, "NetworkPolicy", "cifer-keyservice")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": 8081, "protocol": "TCP"}]
    operator_labels = named(objects, "Deployment", "cifer-operator")["spec"]["selector"]["matchLabels"]
    assert rule["from"] == [
        {"namespaceSelector": {}, "podSelector": {"matchLabels": {"cifer.io/sidecar": "injected"}}},
        {"podSelector": {"matchLabels": operator_labels}},
    ]
    selected = policy["podSelector"]["matchLabels"]
    assert selected == named(objects, "Deployment", "cifer-keyservice")["spec"]["selector"]["matchLabels"]
    extra = named(rendered("all-enabled"), "NetworkPolicy", "cifer-keyservice")["spec"]["ingress"][0]
    assert len(extra["from"]) == 3


def test_the_operator_accepts_only_its_webhook_ports() -> None:
    policy = named(rendered("defaults"), "NetworkPolicy", "cifer-operator")["spec"]
    assert policy["ingress"] == [
        {"ports": [{"port": 9443, "protocol": "TCP"}, {"port": 9444, "protocol": "TCP"}]}
    ]


# ---------------------------------------------------------------- webhooks and their certificate


def _webhooks(objects: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        named(objects, "ValidatingWebhookConfiguration", "cifer-validate"),
        named(objects, "MutatingWebhookConfiguration", "cifer-inject"),
    )


def test_the_webhook_configurations_call_the_operator_service() -> None:
    validate, inject = _webhooks(rendered("defaults"))
    (hook,) = validate["webhooks"]
    service = {"name": "cifer-operator", "namespace": NAMESPACE}
    assert hook["name"] == "ciferkeys.validate.cifer.io"
    assert hook["clientConfig"]["service"] == {**service, "path": "/ciferkey-immutable", "port": 443}
    assert hook["rules"] == [
        {"apiGroups": ["cifer.io"], "apiVersions": ["v1alpha1"], "resources": ["ciferkeys"],
         "operations": ["UPDATE"]}
    ]
    assert (hook["failurePolicy"], hook["sideEffects"], hook["timeoutSeconds"]) == ("Fail", "None", 10)
    assert hook["admissionReviewVersions"] == ["v1", "v1beta1"]
    by_name = {hook["name"]: hook for hook in inject["webhooks"]}
    assert list(by_name) == ["namespace.inject.cifer.io", "pod.inject.cifer.io"]
    own_namespace = {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NAMESPACE]}
    for name, path, label in [
        ("namespace.inject.cifer.io", "/inject/namespace", {"operator": "In", "values": ["enabled"]}),
        ("pod.inject.cifer.io", "/inject/pod", {"operator": "NotIn", "values": ["enabled", "disabled", "required"]}),
    ]:
        hook = by_name[name]
        assert hook["clientConfig"]["service"] == {**service, "path": path, "port": 9444}
        assert hook["namespaceSelector"]["matchExpressions"] == [
            {"key": "cifer.io/injection", **label}, own_namespace
        ]
        assert hook["rules"] == [
            {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}
        ]
        assert (hook["failurePolicy"], hook["sideEffects"], hook["timeoutSeconds"]) == ("Ignore", "None", 5)
        assert hook["reinvocationPolicy"] == "Never"
        assert hook["objectSelector"] == {"matchExpressions": [  # those are the failing-closed webhooks'
            {"key": "cifer.io/inject", "operator": "NotIn", "values": ["required"]}]}
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in named(
        rendered("defaults"), "Service", "cifer-operator")["spec"]["ports"]}
    assert ports == {"validate": (443, "validate"), "inject": (9444, "inject")}


def test_pods_that_require_the_sidecar_go_to_webhooks_that_fail_closed_whatever_the_default() -> None:
    for objects in (rendered("defaults"), render("--set", "injection.failurePolicy=Ignore")):
        required = named(objects, "MutatingWebhookConfiguration", "cifer-inject-required")
        by_name = {hook["name"]: hook for hook in required["webhooks"]}
        assert list(by_name) == ["required-namespace.inject.cifer.io", "required-pod.inject.cifer.io"]
        for hook in by_name.values():
            assert hook["failurePolicy"] == "Fail" and hook["clientConfig"]["service"]["path"] == "/inject/required"
        namespace, pod = by_name.values()
        assert namespace["namespaceSelector"]["matchExpressions"][0] == {
            "key": "cifer.io/injection", "operator": "In", "values": ["required"]}
        assert "objectSelector" not in namespace
        assert pod["objectSelector"] == {"matchLabels": {"cifer.io/inject": "required"}}
        assert pod["namespaceSelector"]["matchExpressions"][0] == {
            "key": "cifer.io/injection", "operator": "NotIn", "values": ["required", "disabled"]}


def test_without_cert_manager_the_chart_signs_the_webhook_certificate_and_trusts_its_ca() -> None:
    objects = rendered("defaults")
    secret = named(objects, "Secret", "cifer-operator-tls")
    ca_pem = base64.b64decode(secret["data"]["ca.crt"])
    ca = x509.load_pem_x509_certificate(ca_pem)
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [WEBHOOK_HOST, f"{WEBHOOK_HOST}.cluster.local"]
    assert b"PRIVATE KEY" in base64.b64decode(secret["data"]["tls.key"])
    for configuration in _webhooks(objects):
        assert "annotations" not in configuration["metadata"]
        for hook in configuration["webhooks"]:
            assert base64.b64decode(hook["clientConfig"]["caBundle"]) == ca_pem
    pod = named(objects, "Deployment", "cifer-operator")["spec"]["template"]["spec"]
    (tls,) = [v for v in pod["volumes"] if v["name"] == "webhook-tls"]
    assert tls["secret"] == {"secretName": "cifer-operator-tls", "defaultMode": 0o440}


def test_with_cert_manager_it_issues_the_certificate_and_injects_the_ca() -> None:
    objects = rendered("all-enabled")
    assert not of_kind(objects, "Secret")  # cert-manager writes them
    issuer = named(objects, "Issuer", "cifer-selfsigned")
    assert issuer["spec"] == {"selfSigned": {}}
    certificate = named(objects, "Certificate", "cifer-operator-tls")["spec"]
    assert certificate["secretName"] == "cifer-operator-tls"
    assert certificate["dnsNames"] == [WEBHOOK_HOST, f"{WEBHOOK_HOST}.cluster.local"]
    assert certificate["issuerRef"] == {"kind": "Issuer", "name": "cifer-selfsigned"}
    for configuration in _webhooks(objects):
        annotations = configuration["metadata"]["annotations"]
        assert annotations == {"cert-manager.io/inject-ca-from": f"{NAMESPACE}/cifer-operator-tls"}
        for hook in configuration["webhooks"]:
            assert "caBundle" not in hook["clientConfig"]
    # all-enabled.yaml also sets injection.failurePolicy: Fail.
    assert {hook["failurePolicy"] for hook in _webhooks(objects)[1]["webhooks"]} == {"Fail"}


def test_cert_manager_can_be_declined_where_it_is_installed() -> None:
    objects = render("--api-versions", OPTIONAL_APIS[0], "--set", "webhook.certManager.enabled=false")
    assert not of_kind(objects, "Certificate")
    named(objects, "Secret", "cifer-operator-tls")


# ---------------------------------------------------------------- TLS to the key service and inference


def _secret_pems(objects, name: str) -> dict[str, bytes]:
    return {key: base64.b64decode(value) for key, value in named(objects, "Secret", name)["data"].items()}


def test_without_cert_manager_one_chart_made_ca_signs_the_key_service_and_the_webhooks() -> None:
    objects = render("--set", "inference.enabled=true")
    ca_secret = _secret_pems(objects, "cifer-ca")
    ca = x509.load_pem_x509_certificate(ca_secret["tls.crt"])
    assert b"PRIVATE KEY" in ca_secret["tls.key"]
    for name, host in [("cifer-operator-tls", WEBHOOK_HOST), ("cifer-keyservice-tls", KEYSERVICE_HOST),
                       ("cifer-inference-tls", INFERENCE_HOST)]:
        secret = _secret_pems(objects, name)
        assert secret["ca.crt"] == ca_secret["tls.crt"], name
        cert = x509.load_pem_x509_certificate(secret["tls.crt"])
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == [host, f"{host}.cluster.local"], name
    assert named(objects, "Secret", "cifer-keyservice-tls")["type"] == "kubernetes.io/tls"


@pytest.mark.parametrize("which", list(RENDERS))
def test_the_key_service_serves_https_from_its_certificate_secret(which: str) -> None:
    objects = rendered(which)
    pod = named(objects, "Deployment", "cifer-keyservice")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "serving-tls"]
    assert volume["secret"] == {"secretName": "cifer-keyservice-tls", "defaultMode": 0o440}
    keyservice = container(objects, "cifer-keyservice", "keyservice")
    assert {"name": "serving-tls", "mountPath": "/etc/cifer/serving-tls", "readOnly": True} in keyservice[
        "volumeMounts"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert keyservice[probe]["httpGet"]["scheme"] == "HTTPS"
    (port,) = named(objects, "Service", "cifer-keyservice")["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("https", 8081, "https")


@pytest.mark.parametrize("which", list(RENDERS))
def test_the_operator_gets_only_the_ca_certificate_of_the_key_service(which: str) -> None:
    objects = rendered(which)
    pod = named(objects, "Deployment", "cifer-operator")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "cifer-ca"]
    assert volume["secret"] == {"secretName": "cifer-keyservice-tls", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    operator = container(objects, "cifer-operator", "operator")
    assert {"name": "cifer-ca", "mountPath": "/etc/cifer/ca", "readOnly": True} in operator["volumeMounts"]
    args = operator["args"]
    assert args[args.index("--keyservice-url") + 1].startswith("https://")
    assert args[args.index("--keyservice-ca") + 1] == CA_FILE
    assert not [arg for arg in args if arg.startswith("--insecure")]


def test_with_cert_manager_a_ca_of_the_release_issues_the_serving_certificates() -> None:
    objects = rendered("all-enabled")
    ca = named(objects, "Certificate", "cifer-ca")["spec"]
    assert ca["isCA"] is True and ca["secretName"] == "cifer-ca"
    assert ca["issuerRef"] == {"kind": "Issuer", "name": "cifer-selfsigned"}
    assert ca["privateKey"]["rotationPolicy"] == "Never"  # a renewed CA still vouches for running sidecars
    assert named(objects, "Issuer", "cifer-ca")["spec"] == {"ca": {"secretName": "cifer-ca"}}
    for name, host in [("cifer-keyservice-tls", KEYSERVICE_HOST), ("cifer-inference-tls", INFERENCE_HOST)]:
        leaf = named(objects, "Certificate", name)["spec"]
        assert leaf["secretName"] == name
        assert leaf["dnsNames"] == [host, f"{host}.cluster.local"]
        assert leaf["issuerRef"] == {"kind": "Issuer", "name": "cifer-ca"}
        assert leaf["duration"] == "2160h"
    monitor = named(objects, "ServiceMonitor", "cifer-keyservice")["spec"]["endpoints"][0]
    assert monitor["scheme"] == "https"
    assert monitor["tlsConfig"] == {"serverName": KEYSERVICE_HOST,
                                    "ca": {"secret": {"name": "cifer-keyservice-tls", "key": "ca.crt"}}}


def test_the_notes_say_how_to_check_tls() -> None:
    done = helm("install", "cifer", CHART, "--namespace", NAMESPACE, "--dry-run=client")
    notes = done.stdout[done.stdout.index("NOTES:"):]
    assert f"curl --cacert cifer-ca.crt --resolve {KEYSERVICE_HOST}:8081:127.0.0.1" in notes
    assert f"https://{KEYSERVICE_HOST}:8081/v1/health" in notes


# ---------------------------------------------------------------- names and labels


def test_every_object_carries_the_standard_labels_and_names_stay_within_63_characters() -> None:
    long_release = "cifer-" + "x" * 47  # helm's longest release name: 53 characters
    objects = parse(helm("template", long_release, CHART, "--namespace", NAMESPACE).stdout)
    for obj in objects:
        labels = obj["metadata"]["labels"]
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert len(obj["metadata"]["name"]) <= 63, where
        assert labels["app.kubernetes.io/name"] == "cifer", where
        assert labels["app.kubernetes.io/instance"] == long_release, where
        assert labels["app.kubernetes.io/managed-by"] == "Helm", where
        assert labels["app.kubernetes.io/component"] in {"keyservice", "operator"}, where
    assert any(len(obj["metadata"]["name"]) == 63 for obj in objects)


# ---------------------------------------------------------------- what the values refuse


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        pytest.param("keyservice.replicaz=2", "additional properties 'replicaz' not allowed", id="typo"),
        pytest.param("keyservice.replicas=two", "got string, want integer", id="wrong-type"),
        pytest.param("injection.failurePolicy=Sometimes", "failurePolicy", id="not-an-enum-value"),
        pytest.param("operator.resources.limits.gpu=1", "'gpu' not allowed", id="unknown-resource"),
        pytest.param("keyservice.replicas=0", "minimum", id="no-replicas"),
        pytest.param("injection.grpcPort=80", "grpcPort", id="privileged-grpc-port"),
        pytest.param("injection.sidecarMode=sidecar", "sidecarMode", id="not-a-sidecar-mode"),
    ],
)
def test_the_values_schema_refuses(setting: str, message: str) -> None:
    error = _refused("--set", setting)
    assert "values don't meet the specifications of the schema" in error
    assert message in error, error


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param(("keyservice.replicas=2",), "needs PostgreSQL", id="replicas-on-sqlite"),
        pytest.param(("keyservice.replicas=2", "keyservice.database.existingSecret=pg"), "needs an HSM",
                     id="replicas-on-a-file-kek"),
        pytest.param(("keyservice.hsm.library=/lib/p11.so",), "needs keyservice.hsm.tokenLabel",
                     id="hsm-without-token"),
        pytest.param(("operator.peering.enabled=false",), "needs operator.peering.enabled",
                     id="replicas-without-peering"),
    ],
)
def test_the_chart_refuses_settings_that_cannot_work_together(
    settings: tuple[str, ...], message: str
) -> None:
    args = [arg for setting in settings for arg in ("--set", setting)]
    assert message in _refused(*args)


def test_a_single_operator_may_run_without_peering() -> None:
    objects = render("--set", "operator.peering.enabled=false", "--set", "operator.replicas=1")
    assert not of_kind(objects, "ClusterKopfPeering")
    args = container(objects, "cifer-operator", "operator")["args"]
    assert "--standalone" in args and "--peering" not in args


# ---------------------------------------------------------------- the values' documentation


VALUES_YAML = CHART / "values.yaml"
SCHEMA = yaml.safe_load((CHART / "values.schema.json").read_text())
# Kubernetes objects handed through unchanged (the API server validates them), and Helm's
# `global`, which an umbrella chart may pass: the only places the schema allows unknown keys.
PASS_THROUGH = {
    ".global",
    ".keyservice.affinity",
    ".operator.affinity",
    ".inference.affinity",
    ".keyservice.extraEnv[]",
    ".keyservice.extraVolumes[]",
    ".keyservice.extraVolumeMounts[]",
    ".networkPolicy.keyservice.extraIngressFrom[]",
}


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = SCHEMA
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _schema_problems(node: dict[str, Any], path: str) -> list[str]:
    node = _resolve(node)
    problems = [] if path == "" or node.get("description") else [f"{path}: no description"]
    types = node.get("type")
    if types == "object" or (isinstance(types, list) and "object" in types):
        extra = node.get("additionalProperties")
        if path in PASS_THROUGH:
            if extra is not True:
                problems.append(f"{path}: a pass-through object should say additionalProperties: true")
        elif "properties" in node and extra is not False:
            problems.append(f"{path}: additionalProperties is not false")
        elif "properties" not in node and not isinstance(extra, dict):
            problems.append(f"{path}: a map without a schema for its values")
    for name, sub in (node.get("properties") or {}).items():
        problems += _schema_problems(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        problems += _schema_problems(node["items"], f"{path}[]")
    return problems


def test_the_values_schema_describes_every_key_and_refuses_unknown_ones() -> None:
    assert _schema_problems(SCHEMA, "") == []


def _schema_keys(node: dict[str, Any], path: str = "") -> set[str]:
    node = _resolve(node)
    keys = set()
    for name, sub in (node.get("properties") or {}).items():
        keys.add(f"{path}.{name}")
        keys |= _schema_keys(sub, f"{path}.{name}")
    return keys


def _values_keys(values: Any, path: str = "") -> set[str]:
    keys = set()
    if isinstance(values, dict):
        for name, sub in values.items():
            keys.add(f"{path}.{name}")
            keys |= _values_keys(sub, f"{path}.{name}")
    return keys


def test_the_schema_and_values_yaml_name_the_same_keys() -> None:
    in_values = _values_keys(yaml.safe_load(VALUES_YAML.read_text()))
    in_schema = _schema_keys(SCHEMA) - {".global"}
    # resources.requests.ephemeral-storage is allowed but not set by default.
    assert in_values - in_schema == set()
    assert {key for key in in_schema - in_values if not key.endswith(".ephemeral-storage")} == set()


def test_every_key_in_values_yaml_has_a_comment_above_it() -> None:
    """The manual: each key is explained where it is declared. Kubernetes' own request and limit
    fields under a `resources` block are self-explanatory and exempt."""
    undocumented, stack = [], []
    previous = ""
    for line in VALUES_YAML.read_text().splitlines():
        match = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if match:
            depth = len(match.group(1)) // 2
            stack = [*stack[:depth], match.group(2)]
            in_resources = "resources" in stack[:-1]
            if not previous.lstrip().startswith("#") and not in_resources:
                undocumented.append(".".join(stack))
        if line.strip():
            previous = line
    assert undocumented == []
