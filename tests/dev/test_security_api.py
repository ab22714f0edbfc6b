"""Seed 001's key management and data encryption (`/api/security/*`) end to end against a real
`cifer dev`: the seed's example requests verbatim, every answer validated against JSON Schema
transcribed here from the seed's TypeScript interfaces (not from our OpenAPI document)."""

from __future__ import annotations

import base64
import copy
import functools
import json
import sqlite3
import urllib.error
import urllib.request

import jsonschema
import pytest

from cifer.envelope.format import parse_header
from dev.running import api_call, ok, refused

# --- The seed's TypeScript interfaces, transcribed (001_bb1549044adcb446.txt) -----------------
ISO = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"}
GENERATE_KEY_RESPONSE = {"type": "object", "required": [
    "keyId", "keyVersion", "algorithm", "keyUsage", "createdAt", "expiresAt", "status", "kmsProvider", "compliance"],
    "properties": {
        "keyId": {"type": "string"}, "keyVersion": {"type": "string"}, "algorithm": {"type": "string"},
        "keyUsage": {"type": "string"}, "createdAt": ISO, "expiresAt": ISO,
        "status": {"enum": ["active", "pending", "expired", "revoked"]},
        # The seed's enum is three clouds; CIFER names the KEK it really has (documented).
        "kmsProvider": {"type": "string"}, "keyArn": {"type": "string"},
        "compliance": {"type": "object", "required": ["fipsValidated", "nistCompliant", "regulations"], "properties": {
            "fipsValidated": {"type": "boolean"}, "nistCompliant": {"type": "boolean"},
            "regulations": {"type": "array", "items": {"type": "string"}}}}}}
ROTATE_KEY_RESPONSE = {"type": "object", "required": [
    "oldKeyId", "newKeyId", "rotationDate", "gracePeriodEnd", "affectedRecords", "reencryptionStatus",
    "estimatedCompletionTime"], "properties": {
        "oldKeyId": {"type": "string"}, "newKeyId": {"type": "string"}, "rotationDate": ISO, "gracePeriodEnd": ISO,
        "affectedRecords": {"type": "integer"},
        "reencryptionStatus": {"enum": ["pending", "in-progress", "completed", "failed"]},
        "estimatedCompletionTime": ISO}}
REVOKE_KEY_RESPONSE = {"type": "object", "required": [
    "keyId", "revocationDate", "reason", "affectedData", "complianceNotifications"], "properties": {
        "keyId": {"type": "string"}, "revocationDate": ISO, "reason": {"type": "string"},
        "affectedData": {"type": "object", "required": ["recordCount", "dataTypes", "action", "completionEstimate"],
                         "properties": {"recordCount": {"type": "number"},
                                        "dataTypes": {"type": "array", "items": {"type": "string"}},
                                        "action": {"type": "string"}, "completionEstimate": ISO}},
        "complianceNotifications": {"type": "array", "items": {"type": "string"}}}}
ENCRYPT_DATA_RESPONSE = {"type": "object", "required": ["encryptedData", "compliance"], "properties": {
    "encryptedData": {"type": "object", "required": [
        "value", "keyId", "keyVersion", "algorithm", "iv", "compressionUsed", "encryptionMetadata"], "properties": {
            "value": {"type": "string"}, "keyId": {"type": "string"}, "keyVersion": {"type": "string"},
            "algorithm": {"type": "string"}, "iv": {"type": "string"}, "authTag": {"type": "string"},
            "compressionUsed": {"type": "boolean"},
            "encryptionMetadata": {"type": "object", "required": [
                "timestamp", "dataSize", "encryptedSize", "checksumOriginal", "checksumEncrypted"], "properties": {
                    "timestamp": ISO, "dataSize": {"type": "number"}, "encryptedSize": {"type": "number"},
                    "checksumOriginal": {"type": "string"}, "checksumEncrypted": {"type": "string"}}}}},
    "compliance": {"type": "object", "required": [
        "dataClassification", "retentionPolicy", "auditRequired", "regulations"], "properties": {
            "dataClassification": {"type": "string"}, "retentionPolicy": {"type": "string"},
            "auditRequired": {"type": "boolean"}, "regulations": {"type": "array", "items": {"type": "string"}}}}}}
DECRYPT_DATA_RESPONSE = {"type": "object", "required": ["data", "decryptionMetadata", "accessLogged", "compliance"],
                         "properties": {
    "data": {"type": ["string", "object"]},
    "decryptionMetadata": {"type": "object", "required": [
        "timestamp", "keyUsed", "dataIntegrityVerified", "decompressionApplied"], "properties": {
            "timestamp": ISO, "keyUsed": {"type": "string"}, "dataIntegrityVerified": {"type": "boolean"},
            "decompressionApplied": {"type": "boolean"}}},
    "accessLogged": {"type": "boolean"},
    "compliance": {"type": "object", "required": ["auditRecordId", "dataAccess"], "properties": {
        "auditRecordId": {"type": "string"},
        "dataAccess": {"type": "object", "required": ["purpose", "authorized", "consentVerified"], "properties": {
            "purpose": {"type": "string"}, "authorized": {"type": "boolean"},
            "consentVerified": {"type": "boolean"}}}}}}}
BATCH_OPERATION_RESULT = {"type": "object", "required": ["operationId", "status"], "properties": {
    "operationId": {"type": "string"}, "status": {"enum": ["pending", "completed", "failed"]},
    "result": ENCRYPT_DATA_RESPONSE,
    "error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}}}
BATCH_ENCRYPT_RESPONSE = {"type": "object", "required": ["batchId", "status", "operations", "summary"], "properties": {
    "batchId": {"type": "string"}, "status": {"enum": ["queued", "processing", "completed", "failed"]},
    "operations": {"type": "array", "items": BATCH_OPERATION_RESULT},
    "summary": {"type": "object", "required": ["total", "successful", "failed"], "properties": {
        "total": {"type": "number"}, "successful": {"type": "number"}, "failed": {"type": "number"},
        "estimatedCompletion": ISO}}}}

# --- The seed's example requests, verbatim ---------------------------------------------------
GENERATE_EXAMPLE = {
    "userId": "user_2a3b4c5d",
    "keyType": "health-data",
    "algorithm": "AES-256-GCM",
    "keyUsage": "both",
    "expirationDays": 90,
    "metadata": {
        "purpose": "Encrypt user health metrics and medical information",
        "dataClassification": "restricted",
        "regulatoryRequirement": "HIPAA Security Rule"
    }
}
ENCRYPT_EXAMPLE = {
    "data": {
        "heartRate": 72,
        "bloodPressure": "120/80",
        "medications": ["Lisinopril 10mg", "Metformin 500mg"]
    },
    "dataType": "health",
    "userId": "user_2a3b4c5d",
    "context": {
        "purpose": "Health monitoring and AI recommendations",
        "retention": "7 years",
        "classification": "restricted"
    },
    "compression": True,
    "additionalAuthenticatedData": "workout_session_12345"
}


@pytest.fixture(scope="module")
def call(dev_server):
    return functools.partial(api_call, dev_server)



@pytest.fixture(scope="module")
def health_key(call) -> dict:
    return ok(call("POST", "/api/security/keys/generate", GENERATE_EXAMPLE), GENERATE_KEY_RESPONSE, 201)


def decrypt_request(encrypted: dict, **extra) -> dict:
    return {"encryptedData": encrypted, "userId": "user_2a3b4c5d", "accessPurpose": "care team review",
            "additionalAuthenticatedData": "workout_session_12345", **extra}


def test_the_seeds_key_example_makes_a_real_key(health_key, dev_server):
    assert health_key["keyId"].startswith("cif_") and health_key["keyVersion"] == "1"
    assert (health_key["algorithm"], health_key["keyUsage"], health_key["status"]) == ("AES-256-GCM", "both", "active")
    assert health_key["kmsProvider"] == "file" and health_key["keyArn"].startswith("file:")  # cifer dev's KEK
    assert health_key["compliance"] == {"fipsValidated": False, "nistCompliant": True, "regulations": ["HIPAA"]}


def test_the_seeds_health_object_round_trips_equal(call, health_key):
    sealed = ok(call("POST", "/api/security/encrypt", ENCRYPT_EXAMPLE), ENCRYPT_DATA_RESPONSE)
    data = sealed["encryptedData"]
    envelope = base64.b64decode(data["value"])
    header, _ = parse_header(envelope)
    assert (data["keyId"], data["keyVersion"]) == (health_key["keyId"], "1") == (header.cifer_id, str(header.key_version))
    assert base64.b64decode(data["iv"]) == header.message_id and base64.b64decode(data["authTag"]) == envelope[-16:]
    assert data["compressionUsed"] is True and data["encryptionMetadata"]["encryptedSize"] == len(envelope)
    assert sealed["compliance"] == {"dataClassification": "restricted", "retentionPolicy": "7 years",
                                    "auditRequired": True, "regulations": ["HIPAA"]}
    opened = ok(call("POST", "/api/security/decrypt", decrypt_request(data)), DECRYPT_DATA_RESPONSE)
    assert opened["data"] == ENCRYPT_EXAMPLE["data"]
    assert opened["decryptionMetadata"]["dataIntegrityVerified"] is True
    assert opened["decryptionMetadata"]["decompressionApplied"] is True and opened["accessLogged"] is True
    record = opened["compliance"]["auditRecordId"]
    status, audit = call("GET", f"/v1/audit?cifer_id={health_key['keyId']}&operation=decrypt")
    entry = next(e for e in audit["data"]["audit_logs"] if str(e["id"]) == record)
    assert entry["details"]["purpose"] == "care team review" and entry["details"]["data_type"] == "health"


def test_additional_authenticated_data_is_bound(call, health_key):
    data = ok(call("POST", "/api/security/encrypt", ENCRYPT_EXAMPLE), ENCRYPT_DATA_RESPONSE)["encryptedData"]
    refused(call("POST", "/api/security/decrypt", decrypt_request(data, additionalAuthenticatedData="session_2")),
            400, "INVALID_CIPHERTEXT")
    without = decrypt_request(data)
    del without["additionalAuthenticatedData"]
    refused(call("POST", "/api/security/decrypt", without), 400, "INVALID_CIPHERTEXT")
    plain = {**ENCRYPT_EXAMPLE, "data": "a string, uncompressed", "compression": False}
    del plain["additionalAuthenticatedData"]
    sealed = ok(call("POST", "/api/security/encrypt", plain), ENCRYPT_DATA_RESPONSE)["encryptedData"]
    refused(call("POST", "/api/security/decrypt", decrypt_request(sealed)), 400, "INVALID_CIPHERTEXT")  # AAD it lacks
    without_aad = {k: v for k, v in decrypt_request(sealed).items() if k != "additionalAuthenticatedData"}
    opened = ok(call("POST", "/api/security/decrypt", without_aad), DECRYPT_DATA_RESPONSE)
    assert opened["data"] == "a string, uncompressed" and opened["decryptionMetadata"]["decompressionApplied"] is False


def test_the_request_must_agree_with_the_envelope(call, health_key):
    data = ok(call("POST", "/api/security/encrypt", ENCRYPT_EXAMPLE), ENCRYPT_DATA_RESPONSE)["encryptedData"]
    for field, wrong in (("keyVersion", "2"), ("algorithm", "ChaCha20-Poly1305"), ("compressionUsed", False)):
        error = refused(call("POST", "/api/security/decrypt", decrypt_request({**data, field: wrong})),
                        400, "INVALID_REQUEST")
        assert error["details"]["field"] == f"encryptedData.{field}"
    error = refused(call("POST", "/api/security/decrypt", decrypt_request(data, userId="user_other")),
                    400, "INVALID_REQUEST")
    assert error["details"]["field"] == "userId"
    no_purpose = decrypt_request(data)
    del no_purpose["accessPurpose"]
    assert refused(call("POST", "/api/security/decrypt", no_purpose), 400, "INVALID_REQUEST")["details"]["field"] \
        == "accessPurpose"


def test_aes_256_cbc_is_refused_with_the_reason(call):
    error = refused(call("POST", "/api/security/keys/generate", {**GENERATE_EXAMPLE, "algorithm": "AES-256-CBC"}),
                    400, "INVALID_REQUEST")
    assert "no integrity" in error["message"] and error["details"]["field"] == "algorithm"


def test_no_key_for_the_data_type_names_the_user_and_key_type(call, health_key):
    error = refused(call("POST", "/api/security/encrypt", {**ENCRYPT_EXAMPLE, "dataType": "financial"}),
                    404, "NOT_FOUND")
    assert error["details"] == {"userId": "user_2a3b4c5d", "keyType": "financial-data"}
    assert "financial-data" in error["message"] and "user_2a3b4c5d" in error["message"]


def test_a_chacha20_poly1305_key_seals_with_it(call):
    key = ok(call("POST", "/api/security/keys/generate", {**GENERATE_EXAMPLE, "userId": "user_chacha",
                                                           "algorithm": "ChaCha20-Poly1305", "keyType": "user-data"}),
             GENERATE_KEY_RESPONSE, 201)
    assert key["algorithm"] == "ChaCha20-Poly1305" and key["compliance"]["nistCompliant"] is False
    request = {**ENCRYPT_EXAMPLE, "userId": "user_chacha", "dataType": "location", "data": {"lat": 52.5, "lon": 13.4}}
    data = ok(call("POST", "/api/security/encrypt", request), ENCRYPT_DATA_RESPONSE)["encryptedData"]
    header, _ = parse_header(base64.b64decode(data["value"]))
    assert data["algorithm"] == header.suite.aead == "ChaCha20-Poly1305"
    opened = ok(call("POST", "/api/security/decrypt", decrypt_request(data, userId="user_chacha")),
                DECRYPT_DATA_RESPONSE)
    assert opened["data"] == {"lat": 52.5, "lon": 13.4}


def test_field_level_encryption_seals_three_of_five_fields(call, health_key):
    record = {"heartRate": 72, "bloodPressure": "120/80", "medications": ["Lisinopril 10mg"],
              "name": "Ada", "visit": {"room": "4B", "notes": "fine"}}
    request = {**ENCRYPT_EXAMPLE, "data": record, "fields": ["heartRate", "/medications", "visit.notes"]}
    sealed = ok(call("POST", "/api/security/encrypt", request), ENCRYPT_DATA_RESPONSE | {"properties": {}})
    data = sealed["encryptedData"]
    value = data["value"]
    assert data["fields"] == ["/heartRate", "/medications", "/visit/notes"]
    assert (value["bloodPressure"], value["name"], value["visit"]["room"]) == ("120/80", "Ada", "4B")  # untouched
    for sealed_field in (value["heartRate"], value["medications"], value["visit"]["notes"]):
        assert isinstance(sealed_field, str) and sealed_field.startswith("cifer:v1:")
    opened = ok(call("POST", "/api/security/decrypt", decrypt_request(data)), DECRYPT_DATA_RESPONSE)
    assert opened["data"] == record and opened["decryptionMetadata"]["failedFields"] == []
    assert len(opened["compliance"]["auditRecordId"].split(",")) == 3

    tampered = copy.deepcopy(data)
    envelope = bytearray(base64.b64decode(tampered["value"]["heartRate"][len("cifer:v1:"):]))
    envelope[-1] ^= 1
    tampered["value"]["heartRate"] = "cifer:v1:" + base64.b64encode(bytes(envelope)).decode()
    opened = ok(call("POST", "/api/security/decrypt", decrypt_request(tampered)), DECRYPT_DATA_RESPONSE)
    assert opened["data"]["heartRate"] == tampered["value"]["heartRate"]  # stays sealed: it alone failed
    assert opened["data"]["medications"] == ["Lisinopril 10mg"] and opened["data"]["visit"]["notes"] == "fine"
    assert opened["decryptionMetadata"]["dataIntegrityVerified"] is False
    assert opened["decryptionMetadata"]["failedFields"] == [
        {"field": "/heartRate", "error": {"code": "INVALID_CIPHERTEXT", "message": "Malformed ciphertext"}}]

    swapped = copy.deepcopy(data)  # an envelope moved to another field fails there
    swapped["value"]["medications"] = data["value"]["heartRate"]
    opened = ok(call("POST", "/api/security/decrypt", decrypt_request(swapped)), DECRYPT_DATA_RESPONSE)
    assert [f["field"] for f in opened["decryptionMetadata"]["failedFields"]] == ["/medications"]


def test_an_expired_key_refuses_encryption_and_still_decrypts(call, dev_server):
    request = {**ENCRYPT_EXAMPLE, "userId": "user_expiring"}
    key = ok(call("POST", "/api/security/keys/generate", {**GENERATE_EXAMPLE, "userId": "user_expiring",
                                                           "expirationDays": 1}), GENERATE_KEY_RESPONSE, 201)
    status, sealed = call("POST", "/v1/encrypt", {"cifer_id": key["keyId"], "plaintext": "aGk="})  # before expiry
    assert status == 200
    # Time cannot be moved in the cifer dev process: its database is told the day has passed. (The
    # sidecar's own refusal by its clock, of a key it holds, is tests/proxy/test_key_expiry.py's.)
    with sqlite3.connect(next(dev_server.data_dir.glob("**/*.db"))) as db:
        assert db.execute("UPDATE cifers SET expires_at = '2020-01-01 00:00:00.000000' WHERE id = ?",
                          (key["keyId"],)).rowcount == 1
    status, found = call("GET", "/api/security/keys?userId=user_expiring&keyType=health-data")
    assert found["data"]["keys"][0]["status"] == "expired"
    error = refused(call("POST", "/api/security/encrypt", {**request, "keyId": key["keyId"]}), 403, "FORBIDDEN")
    assert "expired" in error["message"]
    refused(call("POST", "/api/security/encrypt", request), 404, "NOT_FOUND")  # no active key left for the user
    assert refused(call("GET", f"/v1/keys/{key['keyId']}"), 403, "FORBIDDEN")["details"]["expired_at"] == \
        "2020-01-01T00:00:00Z"
    encrypted = {"value": sealed["data"]["ciphertext"], "keyId": key["keyId"], "keyVersion": "1",
                 "algorithm": "AES-256-GCM", "iv": ""}
    opened = ok(call("POST", "/api/security/decrypt", {"encryptedData": encrypted, "userId": "user_expiring",
                                                       "accessPurpose": "after expiry"}), DECRYPT_DATA_RESPONSE)
    assert opened["data"] == "hi"


def test_rotation_and_revocation_in_the_seeds_shapes(call):
    key = ok(call("POST", "/api/security/keys/generate", {**GENERATE_EXAMPLE, "userId": "user_rotating"}),
             GENERATE_KEY_RESPONSE, 201)
    request = {**ENCRYPT_EXAMPLE, "userId": "user_rotating"}
    data = ok(call("POST", "/api/security/encrypt", request), ENCRYPT_DATA_RESPONSE)["encryptedData"]
    for _ in range(2):  # the same envelope twice: one envelope seen
        ok(call("POST", "/api/security/decrypt", decrypt_request(data, userId="user_rotating")), DECRYPT_DATA_RESPONSE)
    rotated = ok(call("POST", f"/api/security/keys/{key['keyId']}/rotate", {"reason": "scheduled",
                                                                             "gracePeriodDays": 7}),
                 ROTATE_KEY_RESPONSE)
    assert (rotated["oldKeyVersion"], rotated["newKeyVersion"], rotated["affectedRecords"]) == ("1", "2", 1)
    newer = ok(call("POST", "/api/security/encrypt", request), ENCRYPT_DATA_RESPONSE)["encryptedData"]
    assert newer["keyVersion"] == "2"
    ok(call("POST", "/api/security/decrypt", decrypt_request(data, userId="user_rotating")), DECRYPT_DATA_RESPONSE)

    revoke = {"reason": "user_deletion", "emergencyRevocation": False, "dataAction": "delete",
              "confirmationCode": f"{key['keyId']}:1"}  # read before the rotation: refused
    error = refused(call("DELETE", f"/api/security/keys/{key['keyId']}", revoke), 400, "INVALID_REQUEST")
    assert error["details"]["key_version"] == 2
    revoked = ok(call("DELETE", f"/api/security/keys/{key['keyId']}",
                      {**revoke, "confirmationCode": f"{key['keyId']}:2"}), REVOKE_KEY_RESPONSE)
    assert revoked["affectedData"]["dataTypes"] == ["health"] and revoked["affectedData"]["action"] == "delete"
    assert revoked["affectedData"]["recordCount"] == 1
    refused(call("POST", "/api/security/decrypt", decrypt_request(newer, userId="user_rotating")), 410, "CIFER_REVOKED")


class CallbackReceiver:
    """A loopback HTTP receiver in a thread: what a batch's caller would run."""

    def __init__(self) -> None:
        import http.server
        import threading
        received = self.received = []
        self.arrived = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()
                outer.arrived.set()

            def log_message(self, *args):
                pass

        outer = self
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/batches"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_a_batch_of_1000_with_3_bad_items_and_its_signed_callback(call):
    from cifer.sdk.webhooks import verify_signature
    from webhook_receiver import verify_webhook  # the seed's §7.3 function, verbatim

    ok(call("POST", "/api/security/keys/generate", {**GENERATE_EXAMPLE, "userId": "user_batch"}),
       GENERATE_KEY_RESPONSE, 201)
    operations = [{"operationId": f"op-{n}", "data": {"n": n, "reading": "120/80"}, "dataType": "health",
                   "userId": "user_batch"} for n in range(1000)]
    operations[10]["dataType"] = "weather"  # not a data type
    del operations[500]["data"]  # nothing to encrypt
    operations[999]["userId"] = "user_without_keys"  # no key for them
    receiver = CallbackReceiver()
    secret = "whsec_" + "b" * 26
    try:
        batch = ok(call("POST", "/api/security/encrypt/batch", {
            "operations": operations, "batchId": "batch-2026-12-05", "priority": "high",
            "callback": {"url": receiver.url, "authentication": secret}}), BATCH_ENCRYPT_RESPONSE, 202)
        assert batch["status"] == "queued" and batch["summary"]["total"] == 1000  # over 100, with a callback
        assert receiver.arrived.wait(60), "the callback never came"
    finally:
        receiver.close()
    (headers, body), = receiver.received
    assert verify_webhook(body, headers["X-Cifer-Signature"], secret)  # the seed-style check
    assert verify_signature(body, headers["X-Cifer-Signature-V2"], secret)  # and the timestamped one
    assert not verify_webhook(body, headers["X-Cifer-Signature"], "whsec_" + "c" * 26)
    result = json.loads(body)
    jsonschema.validate(result, BATCH_ENCRYPT_RESPONSE)
    assert result["batchId"] == "batch-2026-12-05" and headers["X-Cifer-Event-Id"] == "batch-2026-12-05"
    assert result["summary"] == {"total": 1000, "successful": 997, "failed": 3}
    failed = {r["operationId"]: r["error"] for r in result["operations"] if r["status"] == "failed"}
    assert set(failed) == {"op-10", "op-500", "op-999"}
    assert failed["op-10"]["code"] == "INVALID_REQUEST" and "dataType" in failed["op-10"]["message"]
    assert failed["op-500"]["code"] == "INVALID_REQUEST" and "data" in failed["op-500"]["message"]
    assert failed["op-999"]["code"] == "NOT_FOUND" and "user_without_keys" in failed["op-999"]["message"]
    good = next(r for r in result["operations"] if r["operationId"] == "op-7")
    jsonschema.validate(good["result"], ENCRYPT_DATA_RESPONSE)
    opened = ok(call("POST", "/api/security/decrypt", {"encryptedData": good["result"]["encryptedData"],
                                                       "userId": "user_batch", "accessPurpose": "check"}),
                DECRYPT_DATA_RESPONSE)
    assert opened["data"] == {"n": 7, "reading": "120/80"}


def test_a_small_batch_is_answered_inline(call):
    ok(call("POST", "/api/security/keys/generate", {**GENERATE_EXAMPLE, "userId": "user_small_batch"}),
       GENERATE_KEY_RESPONSE, 201)
    answer = ok(call("POST", "/api/security/encrypt/batch", {"operations": [
        {"operationId": "a", "data": "one", "dataType": "health", "userId": "user_small_batch"},
        {"operationId": "b", "data": "two", "dataType": "health", "userId": "user_small_batch",
         "compression": "yes"}]}), BATCH_ENCRYPT_RESPONSE)
    assert answer["status"] == "completed" and answer["summary"] == {"total": 2, "successful": 1, "failed": 1}
    assert answer["operations"][1]["error"]["code"] == "INVALID_REQUEST"
    error = refused(call("POST", "/api/security/encrypt/batch", {"operations": [{"operationId": "x"}] * 1001}),
                    400, "INVALID_REQUEST")
    assert error["details"]["field"] == "operations"
    error = refused(call("POST", "/api/security/encrypt/batch", {"operations": [{"operationId": "x"}], "callback": {
        "url": "https://user:pw@example.com/", "authentication": "s" * 20}}), 400, "INVALID_REQUEST")
    assert error["details"]["field"] == "callback.url"


def test_a_keys_allowed_purposes_bind_its_decryptions(call):
    key = ok(call("POST", "/api/security/keys/generate", {**GENERATE_EXAMPLE, "userId": "user_purposes",
                                                           "allowedPurposes": ["treatment", "billing"]}),
             GENERATE_KEY_RESPONSE, 201)
    no_aad = {k: v for k, v in ENCRYPT_EXAMPLE.items() if k != "additionalAuthenticatedData"}
    data = ok(call("POST", "/api/security/encrypt", {**no_aad, "userId": "user_purposes"}),
              ENCRYPT_DATA_RESPONSE)["encryptedData"]
    asked = {"encryptedData": data, "userId": "user_purposes"}
    error = refused(call("POST", "/api/security/decrypt", {**asked, "accessPurpose": "marketing"}),
                    403, "UNAUTHORIZED_DECRYPT")
    assert error["details"]["allowed_purposes"] == ["treatment", "billing"]
    opened = ok(call("POST", "/api/security/decrypt", {**asked, "accessPurpose": "billing"}), DECRYPT_DATA_RESPONSE)
    assert opened["compliance"]["dataAccess"]["purpose"] == "billing"
    # /v1/decrypt names no purpose: such a key refuses it
    status, body = call("POST", "/v1/decrypt", {"ciphertext": data["value"]})
    assert (status, body["error"]["code"]) == (403, "UNAUTHORIZED_DECRYPT")
    status, audit = call("GET", f"/v1/audit?cifer_id={key['keyId']}&operation=decrypt&outcome=denied")
    assert sorted(entry["details"].get("purpose", "") for entry in audit["data"]["audit_logs"]) == ["", "marketing"]


def test_encryptions_reach_the_usage_figures_with_their_data_type_and_user(call):
    import time

    key = ok(call("POST", "/api/security/keys/generate", {**GENERATE_EXAMPLE, "userId": "user_usage"}),
             GENERATE_KEY_RESPONSE, 201)
    for _ in range(3):
        ok(call("POST", "/api/security/encrypt", {**ENCRYPT_EXAMPLE, "userId": "user_usage"}), ENCRYPT_DATA_RESPONSE)
    deadline = time.monotonic() + 30  # the sidecar reports every 5 s (the three may span two reports)
    while True:
        status, audit = call("GET", f"/v1/audit?cifer_id={key['keyId']}&operation=encrypt")
        records = audit["data"]["audit_logs"]
        if sum(record["details"]["count"] for record in records) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sum(record["details"]["count"] for record in records) == 3
    for record in records:
        assert record["details"]["data_type"] == "health" and record["details"]["user_id"] == "user_usage"
        assert record["details"]["purpose"] == "Health monitoring and AI recommendations"
    status, cifer = call("GET", f"/v1/cifers/{key['keyId']}")
    assert cifer["data"]["statistics"]["total_encryptions"] == 3


def test_v1_cannot_open_what_aad_binds_nor_forge_the_layers_metadata(call, health_key):
    data = ok(call("POST", "/api/security/encrypt", ENCRYPT_EXAMPLE), ENCRYPT_DATA_RESPONSE)["encryptedData"]
    refused(call("POST", "/v1/decrypt", {"ciphertext": data["value"]}), 400, "INVALID_CIPHERTEXT")  # no AAD given
    error = refused(call("POST", "/v1/encrypt", {"cifer_id": health_key["keyId"], "plaintext": "aGk=",
                                                 "metadata": {"cifer:compression": "deflate"}}), 400, "INVALID_REQUEST")
    assert error["details"]["field"] == "metadata.cifer:compression"


def test_batches_with_callbacks_under_way_are_bounded(tmp_path):
    """Each queued batch holds its whole body until its callback is delivered: past
    cifer_proxy.callbacks.MAX_PENDING under way, another is refused 429 with Retry-After."""
    import socket

    from cifer_proxy.callbacks import MAX_PENDING
    from dev.running import cifer_dev

    silent = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    with cifer_dev(tmp_path / "data") as server:
        def call(method, path, body):
            request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), method=method, headers={
                "Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:
                    return resp.status, json.load(resp), dict(resp.headers)
            except urllib.error.HTTPError as err:
                return err.code, json.load(err), dict(err.headers)

        assert call("POST", "/api/security/keys/generate", {**GENERATE_EXAMPLE, "userId": "user_queue"})[0] == 201
        batch = {"operations": [{"operationId": str(n), "data": "x", "dataType": "health", "userId": "user_queue"}
                                for n in range(101)],
                 "callback": {"url": f"http://127.0.0.1:{silent.getsockname()[1]}/cb", "authentication": "s" * 16}}
        for _ in range(MAX_PENDING):
            status, body, _ = call("POST", "/api/security/encrypt/batch", batch)
            assert (status, body["data"]["status"]) == (202, "queued")
        status, body, headers = call("POST", "/api/security/encrypt/batch", batch)
        assert (status, body["error"]["code"], headers["Retry-After"]) == (429, "RATE_LIMIT_EXCEEDED", "1")
        status, body, _ = call("POST", "/api/security/encrypt/batch",
                               {"operations": batch["operations"][:1]})  # without a callback: served
        assert status == 200 and body["data"]["summary"]["successful"] == 1
    silent.close()
