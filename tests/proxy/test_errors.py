"""Acceptance: every error code of seed §9.1, provoked from outside through the sidecar
(`cifer proxy` and `cifer keyservice serve` as processes), with its documented status, the
seed's error body, and never a traceback."""

from __future__ import annotations

import base64
import sqlite3

import pytest

from proxy.processes import Api, keyservice_process, sidecar_process

DECRYPTS_PER_DAY = 2


@pytest.fixture
def limited_key_service(tmp_path):
    with keyservice_process(tmp_path / "keyservice", "--rate-limit", f"decrypt={DECRYPTS_PER_DAY}/86400") as service:
        yield service


@pytest.fixture
def sidecar(limited_key_service):
    with sidecar_process(limited_key_service.url, "--public-key-ttl", "60") as url:
        yield url


def assert_error(resp, body, status: int, code: str) -> None:
    assert resp.status == status, body
    assert body["success"] is False and body["error"]["code"] == code, body
    assert body["meta"]["request_id"] == resp.headers["X-Request-ID"]
    assert "Traceback" not in str(body)


async def encrypt(api: Api, cifer_id: str, **kwargs):
    return await api.call("POST", "/v1/encrypt", json={"cifer_id": cifer_id, "plaintext": "aGk=", **kwargs})


async def test_every_seed_error_code_with_its_status(http, limited_key_service, sidecar):
    service = limited_key_service
    alice = Api(http, sidecar, service.api_key("usr_alice"))
    bob = Api(http, sidecar, service.api_key("usr_bob"))
    reader = Api(http, sidecar, service.api_key("usr_reader", scopes=("cifer:read",)))
    nobody = Api(http, sidecar, None)
    cifer_id = await alice.new_cifer()
    _, sealed = await encrypt(alice, cifer_id)
    ciphertext = sealed["data"]["ciphertext"]

    assert_error(*await alice.call("POST", "/v1/encrypt", data=b"{not json", headers={"Content-Type": "application/json"}),
                 400, "INVALID_REQUEST")
    assert_error(*await alice.call("POST", "/v1/encrypt", json={"cifer_id": cifer_id}), 400, "INVALID_REQUEST")
    assert_error(*await encrypt(alice, cifer_id, encoding="rot13"), 400, "INVALID_REQUEST")
    assert_error(*await alice.call("POST", "/v1/encrypt", json={"cifer_id": cifer_id, "plaintext": "not base64!"}),
                 400, "INVALID_REQUEST")
    assert_error(*await encrypt(alice, "cif_bad"), 400, "INVALID_CIFER_ID")
    assert_error(*await alice.call("GET", "/v1/cifers/not-an-id"), 400, "INVALID_CIFER_ID")
    truncated = base64.b64encode(base64.b64decode(ciphertext)[:-1]).decode()
    assert_error(*await alice.call("POST", "/v1/decrypt", json={"ciphertext": truncated}), 400, "INVALID_CIPHERTEXT")
    forged = base64.b64encode(b"CIFR" + bytes(200)).decode()
    assert_error(*await alice.call("POST", "/v1/decrypt", json={"ciphertext": forged}), 400, "INVALID_CIPHERTEXT")
    assert_error(*await nobody.call("POST", "/v1/encrypt", json={"cifer_id": cifer_id, "plaintext": "aGk="}),
                 401, "UNAUTHORIZED")
    assert_error(*await Api(http, sidecar, "sk_test_" + "x" * 56).call("GET", "/v1/cifers"), 401, "UNAUTHORIZED")
    assert_error(*await encrypt(reader, cifer_id), 403, "FORBIDDEN")
    resp, body = await bob.call("POST", "/v1/decrypt", json={"ciphertext": ciphertext})
    assert_error(resp, body, 403, "UNAUTHORIZED_DECRYPT")
    assert body["error"]["details"]["cifer_id"] == cifer_id
    assert_error(*await encrypt(alice, "cif_" + "Z" * 24), 404, "NOT_FOUND")
    assert_error(*await alice.call("GET", "/v1/nothing-here"), 404, "NOT_FOUND")
    assert_error(*await alice.call("POST", "/v1/encrypt", data=b"x" * (9 * 1024 * 1024),
                                   headers={"Content-Type": "application/json"}), 413, "PAYLOAD_TOO_LARGE")

    revoked = await alice.new_cifer("to-revoke")
    await encrypt(alice, revoked)  # cached by the sidecar: the revocation below must drop it
    await alice.call("DELETE", f"/v1/cifers/{revoked}", expect=200, headers={"X-Confirm-Revocation": "true"})
    assert_error(*await encrypt(alice, revoked), 410, "CIFER_REVOKED")

    for _ in range(DECRYPTS_PER_DAY - 1):  # alice decrypted once above (bob's refusal counted against bob)
        await alice.call("POST", "/v1/decrypt", json={"ciphertext": ciphertext}, expect=200)
    resp, body = await alice.call("POST", "/v1/decrypt", json={"ciphertext": ciphertext})
    assert_error(resp, body, 429, "RATE_LIMIT_EXCEEDED")
    assert int(resp.headers["Retry-After"]) > 0 and resp.headers["X-RateLimit-Remaining"] == "0"

    broken = await bob.new_cifer("broken")
    _, sealed_broken = await encrypt(bob, broken)
    with sqlite3.connect(service.data_dir / "cifer.db") as db:  # a stored key that no longer unwraps
        db.execute("UPDATE cifer_versions SET wrapped_seed = ? WHERE cifer_id = ?", (bytes(40), broken))
    assert_error(*await bob.call("POST", "/v1/decrypt", json={"ciphertext": sealed_broken["data"]["ciphertext"]}),
                 500, "INTERNAL_ERROR")

    service.stop()
    assert_error(*await bob.call("POST", "/v1/decrypt", json={"ciphertext": ciphertext}), 503, "SERVICE_UNAVAILABLE")
    assert_error(*await bob.call("GET", "/v1/cifers"), 503, "SERVICE_UNAVAILABLE")


async def test_no_credential_is_401_and_malformed_input_400_whatever_else_is_wrong(alice, http, sidecar_url):
    nobody = Api(http, sidecar_url, None)
    cifer_id = await alice.new_cifer()
    assert_error(*await nobody.call("POST", "/v1/decrypt", json={"ciphertext": "not base64!"}), 401, "UNAUTHORIZED")
    assert_error(*await nobody.call("POST", "/v1/encrypt", json={"cifer_id": "cif_bad"}), 401, "UNAUTHORIZED")
    # A binary body's header sent with JSON is ignored, but not when it is malformed.
    assert_error(*await alice.call("POST", "/v1/encrypt", json={"cifer_id": cifer_id, "plaintext": "aGk="},
                                   headers={"X-Cifer-Id": "0"}), 400, "INVALID_CIFER_ID")
    for field in ("encoding", "metadata"):  # null is not absent
        assert_error(*await encrypt(alice, cifer_id, **{field: None}), 400, "INVALID_REQUEST")
    assert_error(*await encrypt(alice, cifer_id, plaintext="68 69", encoding="hex"), 400, "INVALID_REQUEST")
