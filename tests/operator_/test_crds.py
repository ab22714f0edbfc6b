"""The CiferKey and CiferWebhook CRDs, the examples and the operator's RBAC, proven against the
real API server (kube-apiserver 1.20, the `kube` fixture) with real kubectl.

Objects that must be refused are sent with `--validate=false`, so that the API server's own
schema validation refuses them, not kubectl's client-side check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cifer.api.schemas import KEY_RATE_CATEGORIES, RATE_LIMIT_RE
from cifer_operator.ciferkeys import RATE_LIMIT_CATEGORIES
from kube.control_plane import ControlPlane
from kube.tools import kubectl

from .conftest import CRD_NAMES, MANIFESTS

API_VERSION = "cifer.io/v1alpha1"
CRD_FILES = sorted((MANIFESTS / "crds").glob("*.yaml"))
RBAC_FILES = sorted((MANIFESTS / "rbac").glob("*.yaml"))
SIGNING_REF = {"name": "hook-signing", "key": "signing-secret"}
VALID_WEBHOOK = {
    "url": "https://hooks.example.com/cifer",
    "events": ["cifer.created"],
    "secretRef": SIGNING_REF,
}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _ciferkey(name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "CiferKey"}
    body["metadata"] = {"name": name}
    if spec is not None:
        body["spec"] = spec
    return body


def _ciferwebhook(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "CiferWebhook",
        "metadata": {"name": name},
        "spec": spec,
    }


def _create(kube: ControlPlane, namespace: str, obj: dict[str, Any], *, check: bool = True):
    return kubectl(
        kube, "create", "--validate=false", "-n", namespace, "-f", "-",
        input=json.dumps(obj), check=check,
    )


def _get(kube: ControlPlane, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return json.loads(kubectl(kube, "get", "-n", namespace, kind, name, "-o", "json").stdout)


def _merge_patch(
    kube: ControlPlane, namespace: str, name: str, patch: dict[str, Any], *args: str
) -> None:
    body = json.dumps(patch)
    kubectl(kube, "patch", "-n", namespace, "ciferkey", name, "--type=merge", "-p", body, *args)


def _headers(table: str) -> list[str]:
    """The column headers of kubectl's table output (separated by two or more spaces)."""
    first = table.splitlines()[0]
    return [h.strip() for h in first.split("  ") if h.strip()]


def _undescribed(schema: dict[str, Any], path: str) -> list[str]:
    missing = [] if "description" in schema else [path]
    for name, sub in (schema.get("properties") or {}).items():
        if path == "" and name == "metadata":
            continue  # the object's metadata is Kubernetes' ObjectMeta, described by Kubernetes
        missing += _undescribed(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            missing += _undescribed(schema[key], f"{path}[{key}]")
    return missing


# ---------------------------------------------------------------- the CRDs themselves


@pytest.mark.parametrize("crd_file", CRD_FILES, ids=lambda p: p.name)
def test_every_field_of_the_crd_schema_has_a_description(crd_file: Path) -> None:
    (crd,) = _docs(crd_file)
    for version in crd["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        assert _undescribed(schema, "") == [], f"{crd_file.name} {version['name']}"


def test_the_ciferkey_rate_limits_are_the_key_services_categories_spelled_as_it_parses_them() -> None:
    (crd,) = _docs(MANIFESTS / "crds" / "cifer.io_ciferkeys.yaml")
    for version in crd["spec"]["versions"]:
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        limits = spec["properties"]["policy"]["properties"]["rateLimits"]["properties"]
        assert sorted(RATE_LIMIT_CATEGORIES[name] for name in limits) == sorted(KEY_RATE_CATEGORIES)
        assert {each["pattern"] for each in limits.values()} == {f"^{RATE_LIMIT_RE.pattern}$"}


@pytest.mark.usefixtures("crds")
def test_both_crds_are_served_under_their_short_names_and_the_cifer_category(
    kube: ControlPlane, namespace: str
) -> None:
    resources = kubectl(kube, "api-resources", "--api-group=cifer.io", "-o", "wide").stdout
    assert "ciferkeys" in resources and " ck " in resources
    assert "ciferwebhooks" in resources and " cwh " in resources
    for name in CRD_NAMES:
        crd = kube.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        assert crd["spec"]["names"]["categories"] == ["cifer"]
    kubectl(kube, "get", "cifer", "-n", namespace)


# ---------------------------------------------------------------- examples, columns, defaults


@pytest.mark.usefixtures("crds")
def test_the_examples_apply_cleanly_and_keep_every_field_they_set(
    kube: ControlPlane, namespace: str
) -> None:
    applied = kubectl(kube, "apply", "-n", namespace, "-f", MANIFESTS / "examples").stdout
    assert "ciferkey.cifer.io/payments-card-data" in applied
    assert "ciferwebhook.cifer.io/payments-incidents" in applied
    for path, kind in (("ciferkey.yaml", "CiferKey"), ("ciferwebhook.yaml", "CiferWebhook")):
        (example,) = [doc for doc in _docs(MANIFESTS / "examples" / path) if doc["kind"] == kind]
        stored = _get(kube, namespace, kind.lower(), example["metadata"]["name"])
        # Nothing pruned (every field is in the schema) and nothing defaulted over.
        assert stored["spec"] == example["spec"]


@pytest.mark.usefixtures("crds")
def test_kubectl_get_ck_shows_the_printer_columns_and_ready_only_when_wide(
    kube: ControlPlane, namespace: str
) -> None:
    _create(kube, namespace, _ciferkey("columns"))
    table = kubectl(kube, "get", "ck", "-n", namespace).stdout
    assert _headers(table) == ["NAME", "CIFER ID", "PHASE", "VERSION", "NEXT ROTATION", "AGE"]
    wide = kubectl(kube, "get", "ck", "-n", namespace, "-o", "wide").stdout
    assert "READY" in _headers(wide)


@pytest.mark.usefixtures("crds")
def test_kubectl_get_cwh_shows_the_printer_columns(kube: ControlPlane, namespace: str) -> None:
    _create(kube, namespace, _ciferwebhook("columns", VALID_WEBHOOK))
    table = kubectl(kube, "get", "cwh", "-n", namespace).stdout
    assert _headers(table) == ["NAME", "URL", "PHASE", "WEBHOOK ID", "FAILURES", "AGE"]


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize("spec", [None, {}], ids=["no-spec", "empty-spec"])
def test_a_ciferkey_without_settings_is_stored_with_the_defaults(
    kube: ControlPlane, namespace: str, spec: dict[str, Any] | None
) -> None:
    name = f"defaults-{'none' if spec is None else 'empty'}"
    _create(kube, namespace, _ciferkey(name, spec))
    stored = _get(kube, namespace, "ciferkey", name)
    assert stored["spec"] == {
        "algorithm": "ML-KEM-768",
        "policy": {
            "autoRotateDays": 0,
            "allowedOperations": ["encrypt", "decrypt", "rotate", "revoke"],
            "reEncryptionWindowDays": 30,
        },
        "revoked": False,
    }


@pytest.mark.usefixtures("crds")
def test_the_policy_bounds_and_every_algorithm_are_accepted(
    kube: ControlPlane, namespace: str
) -> None:
    for index, (algorithm, days) in enumerate((("ML-KEM-1024", 0), ("X-Wing", 365))):
        policy = {"autoRotateDays": days, "reEncryptionWindowDays": days, "allowedOperations": [],
                  "rateLimits": {"decrypt": "1/1", "workloadDecrypt": "1000000000/86400"}}
        spec = {
            "algorithm": algorithm,
            "policy": policy,
            # The seed's owner ids, one with an underscore after usr_.
            "access": {"apiKeyOwners": ["usr_owner123", "usr_different_owner"]},
            "rotation": {"requestedAt": "2026-01-08T10:30:00Z"},
        }
        _create(kube, namespace, _ciferkey(f"bounds-{index}", spec))
        stored = _get(kube, namespace, "ciferkey", f"bounds-{index}")
        assert stored["spec"] == {**spec, "revoked": False}


# ---------------------------------------------------------------- what the API server refuses

INVALID_CIFERKEYS = [
    pytest.param({"algorithm": "RSA-2048"}, "spec.algorithm", id="algorithm-rsa"),
    pytest.param(
        {"policy": {"autoRotateDays": 400}}, "spec.policy.autoRotateDays", id="rotate-400-days"
    ),
    pytest.param(
        {"policy": {"autoRotateDays": -1}}, "spec.policy.autoRotateDays", id="rotate-minus-1-days"
    ),
    pytest.param(
        {"policy": {"reEncryptionWindowDays": 366}},
        "spec.policy.reEncryptionWindowDays",
        id="window-366-days",
    ),
    pytest.param(
        {"policy": {"allowedOperations": ["explode"]}},
        "spec.policy.allowedOperations",
        id="operation-explode",
    ),
    pytest.param(
        {"policy": {"allowedOperations": ["encrypt", "encrypt"]}},
        "spec.policy.allowedOperations",
        id="operation-twice",
    ),
    pytest.param(
        {"access": {"serviceAccounts": [{"name": "payments-api"}]}},
        "spec.access.serviceAccounts.namespace",
        id="service-account-without-namespace",
    ),
    pytest.param(
        {"access": {"serviceAccounts": [{"namespace": "Payments_NS", "name": "api"}]}},
        "spec.access.serviceAccounts.namespace",
        id="service-account-namespace-not-a-label",
    ),
    pytest.param(
        {"access": {"serviceAccounts": [{"namespace": "p", "name": "api"}] * 2}},
        "spec.access.serviceAccounts",
        id="service-account-twice",
    ),
    pytest.param(
        {"access": {"apiKeyOwners": ["bob"]}}, "spec.access.apiKeyOwners", id="api-key-owner-bob"
    ),
    pytest.param(
        {"rotation": {"requestedAt": "yesterday"}},
        "spec.rotation.requestedAt",
        id="rotation-not-a-time",
    ),
    pytest.param(
        {"policy": {"rateLimits": {"workloadDecrypt": "0/60"}}},
        "spec.policy.rateLimits.workloadDecrypt",
        id="rate-limit-zero",
    ),
    pytest.param(
        {"policy": {"rateLimits": {"decrypt": "100 per minute"}}},
        "spec.policy.rateLimits.decrypt",
        id="rate-limit-in-words",
    ),
    pytest.param({"displayName": "x" * 256}, "spec.displayName", id="display-name-too-long"),
    pytest.param({"metadata": {"team": 7}}, "spec.metadata.team", id="metadata-not-a-string"),
]

INVALID_CIFERWEBHOOKS = [
    pytest.param({"events": ["cifer.exploded"]}, "spec.events", id="event-exploded"),
    pytest.param({"events": []}, "spec.events", id="no-events"),
    pytest.param({"url": "ftp://x"}, "spec.url", id="url-ftp"),
    pytest.param({"secretRef": None}, "spec.secretRef", id="missing-secret-ref"),
    pytest.param(
        {"secretRef": {"name": "s", "key": "a/b"}}, "spec.secretRef.key", id="secret-key-with-slash"
    ),
    pytest.param(
        {"ciferKeySelector": {"matchExpressions": [{"key": "team", "operator": "Like"}]}},
        "spec.ciferKeySelector.matchExpressions.operator",
        id="selector-operator-like",
    ),
]


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(("spec", "field"), INVALID_CIFERKEYS)
def test_the_api_server_refuses_an_invalid_ciferkey_naming_the_field(
    kube: ControlPlane,
    namespace: str,
    spec: dict[str, Any],
    field: str,
    request: pytest.FixtureRequest,
) -> None:
    name = f"invalid-{request.node.callspec.id}"
    refused = _create(kube, namespace, _ciferkey(name, spec), check=False)
    assert refused.returncode != 0, f"{spec} was accepted"
    assert f'The CiferKey "{name}" is invalid' in refused.stderr
    assert f"{field}:" in refused.stderr or f"{field}[" in refused.stderr, refused.stderr


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(("change", "field"), INVALID_CIFERWEBHOOKS)
def test_the_api_server_refuses_an_invalid_ciferwebhook_naming_the_field(
    kube: ControlPlane,
    namespace: str,
    change: dict[str, Any],
    field: str,
    request: pytest.FixtureRequest,
) -> None:
    name = f"invalid-{request.node.callspec.id}"
    spec = {k: v for k, v in {**VALID_WEBHOOK, **change}.items() if v is not None}
    refused = _create(kube, namespace, _ciferwebhook(name, spec), check=False)
    assert refused.returncode != 0, f"{spec} was accepted"
    assert f'The CiferWebhook "{name}" is invalid' in refused.stderr
    assert f"{field}:" in refused.stderr, refused.stderr


# ---------------------------------------------------------------- the status subresource


@pytest.mark.usefixtures("crds")
def test_a_spec_change_sent_to_the_status_subresource_is_ignored(
    kube: ControlPlane, namespace: str
) -> None:
    _create(kube, namespace, _ciferkey("status-only"))
    patch = {"spec": {"algorithm": "X-Wing"}, "status": {"phase": "Active", "keyVersion": 1}}
    _merge_patch(kube, namespace, "status-only", patch, "--subresource=status")
    stored = _get(kube, namespace, "ciferkey", "status-only")
    assert stored["status"] == {"phase": "Active", "keyVersion": 1}
    assert stored["spec"]["algorithm"] == "ML-KEM-768"
    assert stored["metadata"]["generation"] == 1


@pytest.mark.usefixtures("crds")
def test_a_status_change_sent_to_the_main_resource_is_ignored(
    kube: ControlPlane, namespace: str
) -> None:
    _create(kube, namespace, _ciferkey("spec-only"))
    status = {"status": {"phase": "Active"}}
    _merge_patch(kube, namespace, "spec-only", status, "--subresource=status")
    patch = {"spec": {"description": "changed"}, "status": {"phase": "Failed"}}
    _merge_patch(kube, namespace, "spec-only", patch)
    stored = _get(kube, namespace, "ciferkey", "spec-only")
    assert stored["spec"]["description"] == "changed"
    assert stored["status"] == {"phase": "Active"}
    assert stored["metadata"]["generation"] == 2


# ---------------------------------------------------------------- the operator's RBAC


def test_no_rbac_rule_has_a_wildcard() -> None:
    docs = [doc for path in RBAC_FILES for doc in _docs(path)]
    roles = [doc for doc in docs if doc["kind"] in ("ClusterRole", "Role")]
    assert roles, "no Role or ClusterRole under manifests/rbac/"
    for role in roles:
        for rule in role["rules"]:
            assert set(rule) <= {"apiGroups", "resources", "verbs", "resourceNames"}, rule
            for key, values in rule.items():
                assert values, (role["metadata"]["name"], key, rule)
                assert all("*" not in value for value in values), (role["metadata"]["name"], rule)


ALLOWED = [
    ("patch", "ciferkeys.cifer.io", "--subresource=status"),
    ("update", "ciferwebhooks.cifer.io", "--subresource=status"),
    ("watch", "ciferkeys.cifer.io", "--all-namespaces"),
    ("create", "configmaps", "-n", "payments"),
    ("get", "secrets", "-n", "payments"),
    ("create", "events.events.k8s.io", "-n", "payments"),
    ("patch", "clusterkopfpeerings.kopf.dev"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
]
REFUSED = [
    ("delete", "secrets", "-n", "payments"),
    ("list", "secrets", "--all-namespaces"),
    ("watch", "secrets", "-n", "payments"),
    ("create", "pods", "-n", "payments"),
    ("delete", "ciferkeys.cifer.io", "-n", "payments"),
    ("create", "ciferkeys.cifer.io", "-n", "payments"),
    ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io"),
    ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io"),
]


def _can_i(kube: ControlPlane, user: str, args: tuple[str, ...]) -> str:
    done = kubectl(kube, "auth", "can-i", *args, f"--as={user}", check=False)
    return done.stdout.strip()


@pytest.mark.parametrize("args", ALLOWED, ids=lambda a: " ".join(a))
def test_the_operator_may(kube: ControlPlane, operator_rbac: str, args: tuple[str, ...]) -> None:
    assert _can_i(kube, operator_rbac, args) == "yes"


@pytest.mark.parametrize("args", REFUSED, ids=lambda a: " ".join(a))
def test_the_operator_may_not(
    kube: ControlPlane, operator_rbac: str, args: tuple[str, ...]
) -> None:
    assert _can_i(kube, operator_rbac, args) == "no"
