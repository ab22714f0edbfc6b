"""Seed 001's data-protection API (`/api/security/*`, docs/security-api.md) through the
TypeScript SDK's `client.security`, against its own `cifer dev` (the module-scoped `dev_server`:
`cifer dev` allows 10 key creations per hour per principal, and test_against_cifer_dev.py uses 9
of its server's; this module makes 4). The seed's example requests run verbatim from
examples/seed-001.ts, compiled with `tsc --strict` against the package."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sdk_typescript.node import SDK_DIR, run_js, tool

EXAMPLE = SDK_DIR / "examples" / "seed-001.ts"
USER = "user_2a3b4c5d"  # the seed's examples' user


@pytest.fixture(scope="module")
def env(dev_server) -> dict[str, str]:
    return dev_server.environment()


@pytest.fixture(scope="module")
def seeded(ts_sdk, env, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """examples/seed-001.ts compiled and run: the seed's key generated, its health object encrypted
    and decrypted. Every other test here that needs the health key uses this one."""
    app = tmp_path_factory.mktemp("seed-001")
    scope = app / "node_modules" / "@cifer-io"
    scope.mkdir(parents=True)
    (scope / "sdk").symlink_to(SDK_DIR, target_is_directory=True)
    (app / "package.json").write_text(json.dumps({"name": "seed-001", "private": True, "type": "module"}))
    (app / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
        "module": "nodenext", "moduleResolution": "nodenext", "target": "es2022", "strict": True, "outDir": "out",
        "types": ["node"], "typeRoots": [str(SDK_DIR / "node_modules" / "@types")]}, "files": [str(EXAMPLE)]}))
    compiled = subprocess.run([tool("node"), str(SDK_DIR / "node_modules" / "typescript" / "bin" / "tsc"), "-p", "."],
                              cwd=app, capture_output=True, text=True, timeout=60)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    ran = subprocess.run([tool("node"), str(next(Path(app, "out").rglob("seed-001.js")))], cwd=app,
                         capture_output=True, text=True, timeout=60, env=env)
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    return json.loads(ran.stdout)


def test_the_seeds_generate_and_encrypt_examples_run_verbatim(seeded):
    key, encrypted = seeded["key"], seeded["encrypted"]
    assert key["keyId"].startswith("cif_") and key["keyVersion"] == "1"
    assert (key["algorithm"], key["keyUsage"], key["status"]) == ("AES-256-GCM", "both", "active")
    assert key["kmsProvider"] == "file" and key["keyArn"].startswith("file:")  # cifer dev's KEK, as it is
    assert key["compliance"] == {"fipsValidated": False, "nistCompliant": True, "regulations": ["HIPAA"]}
    assert (key["userId"], key["keyType"]) == (USER, "health-data")
    data = encrypted["encryptedData"]
    assert (data["keyId"], data["keyVersion"], data["algorithm"]) == (key["keyId"], "1", "AES-256-GCM")
    assert data["compressionUsed"] is True and data["value"].startswith("Q0lGUgABAA")  # CIFR 00 01 00: AES-256-GCM
    assert data["encryptionMetadata"]["encryptedSize"] == len(__import__("base64").b64decode(data["value"]))
    assert encrypted["compliance"] == {"dataClassification": "restricted", "retentionPolicy": "7 years",
                                       "auditRequired": True, "regulations": ["HIPAA"]}


def test_the_seeds_health_object_round_trips_equal(seeded):
    decrypted = seeded["decrypted"]
    assert decrypted["data"] == seeded["request"]["data"] == {
        "heartRate": 72, "bloodPressure": "120/80", "medications": ["Lisinopril 10mg", "Metformin 500mg"]}
    assert decrypted["decryptionMetadata"]["dataIntegrityVerified"] is True
    assert decrypted["decryptionMetadata"]["decompressionApplied"] is True
    assert decrypted["decryptionMetadata"]["keyUsed"].startswith(seeded["key"]["keyId"])
    assert decrypted["accessLogged"] is True and decrypted["compliance"]["auditRecordId"]
    assert decrypted["compliance"]["dataAccess"] == {"purpose": "care team review", "authorized": True,
                                                     "consentVerified": False}


def test_an_aad_mismatch_throws_the_typed_invalid_ciphertext_error(env, seeded):
    result = run_js(f"""
      const c = new sdk.CiferClient();
      const encryptedData = {json.dumps(seeded["encrypted"]["encryptedData"])};
      const asked = {{ encryptedData, userId: {json.dumps(USER)}, accessPurpose: 'care team review' }};
      out({{
        other: await failure(c.security.decrypt({{ ...asked, additionalAuthenticatedData: 'workout_session_99999' }})),
        none: await failure(c.security.decrypt(asked)),
        v1: await failure(c.decrypt(encryptedData.value)),  // /v1/decrypt takes no AAD: it cannot open it either
        same: (await c.security.decrypt({{ ...asked, additionalAuthenticatedData: 'workout_session_12345' }})).data,
      }});
    """, env=env)
    for name in ("other", "none", "v1"):
        failure = result[name]
        assert (failure["cls"], failure["code"], failure["status"]) == (
            "InvalidCiphertextError", "INVALID_CIPHERTEXT", 400), (name, failure)
        assert failure["isCiferError"] and failure["requestId"].startswith("req_")
    assert result["same"] == seeded["request"]["data"]


def test_aes_256_cbc_and_other_refusals_throw_the_typed_errors(env, seeded):
    result = run_js(f"""
      const c = new sdk.CiferClient();
      const encryptedData = {json.dumps(seeded["encrypted"]["encryptedData"])};
      out({{
        cbc: await failure(c.security.generateKey({{ userId: 'user_cbc', keyType: 'user-data', algorithm: 'AES-256-CBC',
                                                     keyUsage: 'both' }})),
        noKey: await failure(c.security.encrypt({{ data: 'x', dataType: 'financial', userId: {json.dumps(USER)} }})),
        wrongUser: await failure(c.security.decrypt({{ encryptedData, userId: 'user_other', accessPurpose: 'audit' }})),
        unknownKey: await failure(c.security.getKey('cif_' + 'Z'.repeat(20))),
      }});
    """, env=env)
    cbc = result["cbc"]
    assert (cbc["cls"], cbc["code"], cbc["status"]) == ("InvalidRequestError", "INVALID_REQUEST", 400)
    assert cbc["details"]["field"] == "algorithm" and "no integrity" in cbc["message"]
    assert (result["noKey"]["cls"], result["noKey"]["status"]) == ("NotFoundError", 404)
    assert result["noKey"]["details"] == {"userId": USER, "keyType": "financial-data"}
    assert (result["wrongUser"]["cls"], result["wrongUser"]["details"]["field"]) == ("InvalidRequestError", "userId")
    assert (result["unknownKey"]["cls"], result["unknownKey"]["status"]) == ("NotFoundError", 404)


def test_field_level_encryption_round_trips_and_a_tampered_field_fails_alone(env, seeded):
    result = run_js(f"""
      const c = new sdk.CiferClient();
      const record = {{ heartRate: 72, bloodPressure: '120/80', medications: ['Lisinopril 10mg'], name: 'Ada',
                       visit: {{ room: '4B', notes: 'fine' }} }};
      const sealed = await c.security.encrypt({{ data: record, dataType: 'health', userId: {json.dumps(USER)},
                                                fields: ['heartRate', '/medications', 'visit.notes'] }});
      const asked = {{ encryptedData: sealed.encryptedData, userId: {json.dumps(USER)}, accessPurpose: 'chart' }};
      const opened = await c.security.decrypt(asked);
      const value = sealed.encryptedData.value;
      const envelope = Buffer.from(value.heartRate.slice('cifer:v1:'.length), 'base64');
      envelope[envelope.length - 1] ^= 1;
      const tampered = {{ ...value, heartRate: 'cifer:v1:' + envelope.toString('base64') }};
      const partly = await c.security.decrypt({{ ...asked, encryptedData: {{ ...sealed.encryptedData, value: tampered }} }});
      out({{ record, fields: sealed.encryptedData.fields, value, opened: opened.data,
             failed: opened.decryptionMetadata.failedFields, verified: opened.decryptionMetadata.dataIntegrityVerified,
             partly: partly.data, partlyFailed: partly.decryptionMetadata.failedFields,
             partlyVerified: partly.decryptionMetadata.dataIntegrityVerified, tampered: tampered.heartRate }});
    """, env=env)
    assert result["fields"] == ["/heartRate", "/medications", "/visit/notes"]
    value = result["value"]
    assert (value["bloodPressure"], value["name"], value["visit"]["room"]) == ("120/80", "Ada", "4B")  # untouched
    assert all(v.startswith("cifer:v1:") for v in (value["heartRate"], value["medications"], value["visit"]["notes"]))
    assert result["opened"] == result["record"] and result["failed"] == [] and result["verified"] is True
    assert result["partly"] == {**result["record"], "heartRate": result["tampered"]}  # stays sealed: it alone failed
    assert result["partlyFailed"] == [
        {"field": "/heartRate", "error": {"code": "INVALID_CIPHERTEXT", "message": "Malformed ciphertext"}}]
    assert result["partlyVerified"] is False


def test_a_batch_with_one_bad_item(env, seeded):
    result = run_js(f"""
      const c = new sdk.CiferClient();
      const user = {json.dumps(USER)};
      const batch = await c.security.encryptBatch({{ batchId: 'ts-batch-1', priority: 'normal', operations: [
        {{ operationId: 'a', data: {{ n: 1 }}, dataType: 'health', userId: user }},
        {{ operationId: 'b', data: 'two', dataType: 'weather', userId: user }},
        {{ operationId: 'c', data: 'three', dataType: 'health', userId: user, context: {{ purpose: 'batch' }} }},
      ] }});
      const first = batch.operations.find((o) => o.operationId === 'a');
      const opened = await c.security.decrypt({{ encryptedData: first.result.encryptedData, userId: user,
                                                 accessPurpose: 'check' }});
      out({{ batch, opened: opened.data }});
    """, env=env)
    batch = result["batch"]
    assert (batch["batchId"], batch["status"]) == ("ts-batch-1", "completed")
    assert batch["summary"] == {"total": 3, "successful": 2, "failed": 1}
    statuses = {op["operationId"]: op["status"] for op in batch["operations"]}
    assert statuses == {"a": "completed", "b": "failed", "c": "completed"}
    bad = next(op for op in batch["operations"] if op["operationId"] == "b")
    assert bad["error"]["code"] == "INVALID_REQUEST" and "dataType" in bad["error"]["message"] and "result" not in bad
    assert result["opened"] == {"n": 1}


def test_find_get_rotate_and_revoke(env):
    result = run_js("""
      const c = new sdk.CiferClient();
      const user = 'user_ts_rotating';
      const key = await c.security.generateKey({ userId: user, keyType: 'financial-data', algorithm: 'AES-256-GCM',
                                                 keyUsage: 'both', expirationDays: 30 });
      const found = await c.security.findKeys({ userId: user, keyType: 'financial-data' });
      const sealed = await c.security.encrypt({ data: { iban: 'DE00 1234' }, dataType: 'financial', userId: user });
      const asked = { encryptedData: sealed.encryptedData, userId: user, accessPurpose: 'statement' };
      await c.security.decrypt(asked);
      const rotated = await c.security.rotateKey(key.keyId, { reason: 'scheduled', gracePeriodDays: 7 });
      const current = await c.security.getKey(key.keyId);
      const newer = await c.security.encrypt({ data: 'after rotation', dataType: 'financial', userId: user });
      const oldStillOpens = (await c.security.decrypt(asked)).data;
      const revoke = { reason: 'user_deletion', emergencyRevocation: false, dataAction: 'delete' };
      const stale = await failure(c.security.revokeKey(key.keyId, { ...revoke, confirmationCode: sdk.revocationCode(key) }));
      const revoked = await c.security.revokeKey(key.keyId, { ...revoke, confirmationCode: sdk.revocationCode(current) });
      const afterwards = await failure(c.security.decrypt({ ...asked, encryptedData: newer.encryptedData }));
      const gone = await failure(c.security.findKeys({ userId: user, keyType: 'financial-data' }).then((r) => {
        if (r.keys.length) throw new Error('still listed');
      }));
      out({ key, found: found.keys.map((k) => [k.keyId, k.keyVersion]), rotated, current: current.keyVersion,
            newer: newer.encryptedData.keyVersion, oldStillOpens, stale, revoked, afterwards, gone });
    """, env=env)
    key = result["key"]
    assert result["found"] == [[key["keyId"], "1"]]
    rotated = result["rotated"]
    assert (rotated["oldKeyId"], rotated["newKeyId"]) == (key["keyId"], key["keyId"])  # a key keeps its id
    assert (rotated["oldKeyVersion"], rotated["newKeyVersion"], rotated["affectedRecords"]) == ("1", "2", 1)
    assert rotated["reencryptionStatus"] == "pending"
    assert result["current"] == "2" and result["newer"] == "2" and result["oldStillOpens"] == {"iban": "DE00 1234"}
    stale = result["stale"]  # the code names version 1, read before the rotation
    assert (stale["cls"], stale["status"], stale["details"]["key_version"]) == ("InvalidRequestError", 400, 2)
    revoked = result["revoked"]
    assert revoked["keyId"] == key["keyId"] and revoked["reason"] == "user_deletion"
    assert revoked["affectedData"]["action"] == "delete" and revoked["affectedData"]["dataTypes"] == ["financial"]
    assert revoked["complianceNotifications"] == ["cifer.revoked"]
    assert (result["afterwards"]["cls"], result["afterwards"]["status"]) == ("CiferRevokedError", 410)
    assert result["gone"] is None  # a revoked key is no longer listed


def test_a_chacha20_poly1305_key_seals_with_it_through_both_apis(env):
    """A seed-001 key with algorithm ChaCha20-Poly1305: the sidecar seals with it, and so does
    `client.sealLocally`, which reads the AEAD from the key's public key (GET /v1/keys)."""
    result = run_js("""
      const c = new sdk.CiferClient();
      const user = 'user_ts_chacha';
      const key = await c.security.generateKey({ userId: user, keyType: 'user-data', algorithm: 'ChaCha20-Poly1305',
                                                 keyUsage: 'both' });
      const sealed = await c.security.encrypt({ data: { lat: 52.5, lon: 13.4 }, dataType: 'location', userId: user });
      const opened = await c.security.decrypt({ encryptedData: sealed.encryptedData, userId: user, accessPurpose: 'map' });
      const publicKey = await c.keys.get(key.keyId);
      const local = await c.sealLocally(key.keyId, new TextEncoder().encode('sealed in node'));
      out({ algorithm: [key.algorithm, key.compliance.nistCompliant, sealed.encryptedData.algorithm],
            prefix: sealed.encryptedData.value.slice(0, 10), opened: opened.data,
            publicKey: [publicKey.aead, publicKey.expiresAt instanceof Date, publicKey.expiresAt?.toISOString() === new Date(key.expiresAt).toISOString()],
            local: Buffer.from(local.subarray(4, 8)).toString('hex'), localOpened: (await c.decrypt(local)).plaintext.toString() });
    """, env=env)
    assert result["algorithm"] == ["ChaCha20-Poly1305", False, "ChaCha20-Poly1305"]
    assert result["prefix"] == "Q0lGUgABAQ"  # CIFR 00 01 01: ChaCha20-Poly1305
    assert result["opened"] == {"lat": 52.5, "lon": 13.4}
    assert result["publicKey"] == ["ChaCha20-Poly1305", True, True]
    assert result["local"] == "00010101" and result["localOpened"] == "sealed in node"
