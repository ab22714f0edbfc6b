"""CiferKey resources driven with kubectl, reconciled by `cifer operator` (a real process running as
its own least-privilege ServiceAccount) into the key service (a real process that checks
ServiceAccount tokens by TokenReview), all against the real API server. What the tests assert is
what the API server holds and what the key service answers."""

from __future__ import annotations

import asyncio
import base64
import json

from kube.tools import kubectl
from proxy.processes import Api

from .conftest import SIDECAR_KEY_TTL_S
from .resources import active, apply, events, get, sa_token, wait_for

async def test_an_applied_ciferkey_becomes_an_active_key_that_decrypts_only_for_its_access_list(
        kube, namespace, operator, sidecar, http):
    apply(kube, namespace, "payments", {"displayName": "Payments", "algorithm": "ML-KEM-768",
                                        "access": {"serviceAccounts": [{"namespace": namespace, "name": "api"}]}})
    status = wait_for(kube, namespace, "payments", active(1), operator)["status"]
    assert status["ciferId"].startswith("cif_")
    assert base64.b64decode(status["publicKey"])  # SPKI DER
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert any(e["reason"] == "Created" for e in events(kube, namespace, "payments"))
    configmap = get(kube, namespace, "payments-cifer-public-key", "configmap")
    assert configmap["data"]["publicKey"] == status["publicKey"] and configmap["data"]["keyVersion"] == "1"

    allowed = Api(http, sidecar, sa_token(kube, namespace, "api"))
    sealed = await seal(allowed, status["ciferId"], b"card 4242")
    _, opened = await allowed.call("POST", "/v1/decrypt", expect=200, json={"ciphertext": sealed})
    assert base64.b64decode(opened["data"]["plaintext"]) == b"card 4242"

    stranger = Api(http, sidecar, sa_token(kube, namespace, "stranger"))
    resp, refused = await stranger.call("POST", "/v1/decrypt", json={"ciphertext": sealed})
    assert resp.status in (403, 404) and refused["success"] is False, refused


async def seal(api: Api, cifer_id: str, plaintext: bytes) -> str:
    _, sealed = await api.call("POST", "/v1/encrypt", expect=200, json={
        "cifer_id": cifer_id, "plaintext": base64.b64encode(plaintext).decode()})
    return sealed["data"]["ciphertext"]


async def test_the_rotate_annotation_makes_version_2_with_an_event_and_old_envelopes_still_open(
        kube, namespace, operator, sidecar, http):
    apply(kube, namespace, "orders", {"access": {"serviceAccounts": [{"namespace": namespace, "name": "orders"}]}})
    cifer_id = wait_for(kube, namespace, "orders", active(1), operator)["status"]["ciferId"]
    app = Api(http, sidecar, sa_token(kube, namespace, "orders"))
    old = await seal(app, cifer_id, b"sealed under version 1")

    kubectl(kube, "annotate", "ciferkey", "orders", "-n", namespace, "cifer.io/rotate=2026-11-23T10:00")
    status = wait_for(kube, namespace, "orders", active(2), operator)["status"]
    assert status["lastRotatedAt"] and status["handledRotation"] == {"annotation": "2026-11-23T10:00"}
    assert {c["type"]: c["status"] for c in status["conditions"]}["Rotated"] == "True"
    assert any(e["reason"] == "Rotated" for e in events(kube, namespace, "orders"))
    _, opened = await app.call("POST", "/v1/decrypt", expect=200, json={"ciphertext": old})
    assert opened["data"]["key_version"] == 1 and base64.b64decode(opened["data"]["plaintext"]) == b"sealed under version 1"
    await asyncio.sleep(SIDECAR_KEY_TTL_S + 0.2)  # the sidecar's cached version-1 key has expired
    new = await seal(app, cifer_id, b"sealed under version 2")
    _, opened = await app.call("POST", "/v1/decrypt", expect=200, json={"ciphertext": new})
    assert opened["data"]["key_version"] == 2


async def test_a_new_rotation_requested_at_rotates_once_and_a_replay_does_not_rotate_again(kube, namespace, operator):
    apply(kube, namespace, "ledger", {})
    wait_for(kube, namespace, "ledger", active(1), operator)
    apply(kube, namespace, "ledger", {"rotation": {"requestedAt": "2026-11-23T12:00:00Z"}})
    wait_for(kube, namespace, "ledger", active(2), operator)
    apply(kube, namespace, "ledger", {"description": "edited", "rotation": {"requestedAt": "2026-11-23T12:00:00Z"}})
    body = wait_for(kube, namespace, "ledger", lambda s: s.get("observedGeneration", 0) >= 3, operator)
    assert body["status"]["keyVersion"] == 2


async def test_revoked_true_makes_the_key_revoked_and_decryption_410(kube, namespace, operator, sidecar, http):
    apply(kube, namespace, "retired", {"access": {"serviceAccounts": [{"namespace": namespace, "name": "retired"}]}})
    cifer_id = wait_for(kube, namespace, "retired", active(1), operator)["status"]["ciferId"]
    app = Api(http, sidecar, sa_token(kube, namespace, "retired"))
    sealed = await seal(app, cifer_id, b"soon unreadable")

    apply(kube, namespace, "retired", {"revoked": True,
                                       "access": {"serviceAccounts": [{"namespace": namespace, "name": "retired"}]}})
    status = wait_for(kube, namespace, "retired", lambda s: s.get("phase") == "Revoked", operator)["status"]
    assert {c["type"]: c["reason"] for c in status["conditions"]}["Ready"] == "Revoked"
    resp, refused = await app.call("POST", "/v1/decrypt", json={"ciphertext": sealed})
    assert resp.status == 410 and refused["error"]["code"] == "CIFER_REVOKED"
    missing = kubectl(kube, "get", "configmap", "retired-cifer-public-key", "-n", namespace, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


async def test_deleting_a_ciferkey_revokes_its_key_unless_retained(kube, namespace, operator, keyservice, admin_key, http):
    apply(kube, namespace, "gone", {})
    apply(kube, namespace, "kept", {}, annotations={"cifer.io/deletion-policy": "retain"})
    gone = wait_for(kube, namespace, "gone", active(1), operator)["status"]["ciferId"]
    kept = wait_for(kube, namespace, "kept", active(1), operator)["status"]["ciferId"]
    kubectl(kube, "delete", "ciferkey", "gone", "kept", "-n", namespace, "--timeout=60s")
    admin = Api(http, keyservice.url, admin_key)
    _, answer = await admin.call("GET", f"/v1/cifers/{gone}", expect=200)
    assert answer["data"]["status"] == "revoked"
    _, answer = await admin.call("GET", f"/v1/cifers/{kept}", expect=200)
    assert answer["data"]["status"] == "active"


def test_the_admission_webhook_refuses_unrevoking_and_a_new_algorithm_naming_the_field(kube, namespace, operator):
    apply(kube, namespace, "fixed", {"algorithm": "ML-KEM-1024"})
    wait_for(kube, namespace, "fixed", active(1), operator)
    changed = apply(kube, namespace, "fixed", {"algorithm": "X-Wing"}, check=False)
    assert changed.returncode != 0 and "spec.algorithm" in changed.stderr, changed.stderr
    apply(kube, namespace, "fixed", {"algorithm": "ML-KEM-1024", "revoked": True})
    wait_for(kube, namespace, "fixed", lambda s: s.get("phase") == "Revoked", operator)
    restored = apply(kube, namespace, "fixed", {"algorithm": "ML-KEM-1024", "revoked": False}, check=False)
    assert restored.returncode != 0 and "spec.revoked" in restored.stderr, restored.stderr


async def test_a_spec_change_updates_the_policy_so_a_newly_listed_account_may_decrypt(
        kube, namespace, operator, sidecar, http):
    apply(kube, namespace, "shared", {"access": {"serviceAccounts": [{"namespace": namespace, "name": "first"}]}})
    cifer_id = wait_for(kube, namespace, "shared", active(1), operator)["status"]["ciferId"]
    first, second = (Api(http, sidecar, sa_token(kube, namespace, who)) for who in ("first", "second"))
    sealed = await seal(first, cifer_id, b"for two readers")
    resp, _ = await second.call("POST", "/v1/decrypt", json={"ciphertext": sealed})
    assert resp.status in (403, 404)

    apply(kube, namespace, "shared", {"access": {"serviceAccounts": [{"namespace": namespace, "name": "first"},
                                                                     {"namespace": namespace, "name": "second"}]}})
    wait_for(kube, namespace, "shared", lambda s: s.get("observedGeneration") == 2 and s.get("phase") == "Active",
             operator)
    _, opened = await second.call("POST", "/v1/decrypt", expect=200, json={"ciphertext": sealed})
    assert base64.b64decode(opened["data"]["plaintext"]) == b"for two readers"


async def test_the_spec_rate_limits_become_the_keys_own_limits_and_leave_with_them(
        kube, namespace, operator, keyservice, admin_key, http):
    apply(kube, namespace, "capped", {"policy": {"rateLimits": {"decrypt": "100/60", "workloadDecrypt": "5/60"}}})
    cifer_id = wait_for(kube, namespace, "capped", active(1), operator)["status"]["ciferId"]
    admin = Api(http, keyservice.url, admin_key)
    _, answer = await admin.call("GET", f"/v1/cifers/{cifer_id}", expect=200)
    assert answer["data"]["policy"]["rate_limits"] == {"decrypt": "100/60", "workload_decrypt": "5/60"}

    apply(kube, namespace, "capped", {"policy": {}})
    wait_for(kube, namespace, "capped", lambda s: s.get("observedGeneration") == 2 and s.get("phase") == "Active",
             operator)
    _, answer = await admin.call("GET", f"/v1/cifers/{cifer_id}", expect=200)
    assert "rate_limits" not in answer["data"]["policy"]


async def test_a_rotation_made_in_the_key_service_reaches_the_status_and_the_configmap(
        kube, namespace, operator, keyservice, admin_key, http):
    apply(kube, namespace, "scheduled", {"policy": {"autoRotateDays": 30}})
    status = wait_for(kube, namespace, "scheduled", active(1), operator)["status"]
    assert status["nextRotationAt"]  # the key service's schedule, 30 days out
    await Api(http, keyservice.url, admin_key).call("POST", f"/v1/cifers/{status['ciferId']}/rotate", expect=200,
                                                     json={"reason": "scheduled elsewhere"})
    status = wait_for(kube, namespace, "scheduled", active(2), operator)["status"]
    configmap = get(kube, namespace, "scheduled-cifer-public-key", "configmap")
    assert configmap["data"]["keyVersion"] == "2" and configmap["data"]["publicKey"] == status["publicKey"]


def test_a_key_service_refusal_is_a_failed_phase_with_the_reason_not_a_crash_loop(kube, namespace, operator):
    apply(kube, namespace, "orphan", {})
    wait_for(kube, namespace, "orphan", active(1), operator)
    # The key it points at does not exist (a resource restored into another cluster, say).
    kubectl(kube, "patch", "ciferkey", "orphan", "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"ciferId": "cif_doesNotExist000000000000"}}))
    apply(kube, namespace, "orphan", {"description": "an edit the key service cannot apply"})
    status = wait_for(kube, namespace, "orphan", lambda s: s.get("phase") == "Failed", operator)["status"]
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "KeyServiceRefused" and "NOT_FOUND" in ready["message"]
    assert operator.proc.poll() is None


def test_the_most_metadata_the_schema_allows_still_fits_the_key_service(kube, namespace, operator):
    most = {f"k{i}": "v" for i in range(62)}
    apply(kube, namespace, "labelled", {"metadata": most})
    wait_for(kube, namespace, "labelled", active(1), operator)  # 62 + the operator's 2 = the key service's 64
    refused = apply(kube, namespace, "overfull", {"metadata": {**most, "k62": "v"}}, check=False)
    assert refused.returncode != 0 and "spec.metadata" in refused.stderr, refused.stderr
