"""Seed 001's encryption configuration (docs/security-api.md, "Configuration"): a refused setting
changes nothing and says why; a valid change is applied at once (new keys' algorithm and rotation,
the decapsulation batch bound), visible through GET, kept across a restart and audited; a shorter
audit retention prunes old records and the chain still verifies from its anchor."""

from __future__ import annotations

import datetime

import jsonschema
import pytest
from sqlalchemy import delete, select, update

from cifer.envelope import encrypt
from cifer_keyservice.db.models import AuditHead, AuditRecord
from cifer_keyservice.state import AUDIT_LOG, SESSIONS
from dev.security_seed_schemas import ENCRYPTION_CONFIG_RESPONSE
from keyrelease_helpers import decap_body
from keyservice.helpers import b64, header_of, recipient
from keyservice.test_security_monitoring import HOUR_A, at
from keyservice.test_webhooks import db_all, eventually, fast_settings, start_service, transaction_on

PATH = "/api/security/config/encryption"
KEY = {"userId": "user_cfg", "keyType": "user-data", "keyUsage": "both"}


@pytest.fixture
def settings(database_url, tmp_path):
    return fast_settings(database_url, tmp_path)


@pytest.fixture
async def service(aiohttp_client, settings):
    return await start_service(aiohttp_client, settings)


async def put(service, headers, body, expect: int = 200) -> dict:
    _, answer = await service.call("PUT", PATH, headers=headers, json=body, expect=expect)
    if expect == 200:
        jsonschema.validate(answer["data"], ENCRYPTION_CONFIG_RESPONSE)
        return answer["data"]
    return answer


def result(data: dict, setting: str) -> dict:
    [found] = [r for r in data["validationResults"] if r["setting"] == setting]
    return found


async def config_records(service) -> list[AuditRecord]:
    return await db_all(service.settings, select(AuditRecord).where(AuditRecord.operation == "config.update"))


async def test_a_refused_setting_changes_nothing_and_says_why(service):
    admin = await service.api_key("usr_admin", scopes=("admin",))
    _, before = await service.call("GET", PATH, headers=admin, expect=200)
    assert before["data"]["configId"] == "cfg_default" and before["data"]["keyManagement"]["provider"] == "file"
    refusals = (({"defaultAlgorithm": "AES-256-CBC"}, "defaultAlgorithm", "integrity"),
                ({"keyManagement": {"provider": "aws-kms", "region": "us-east-1"}}, "keyManagement.provider",
                 "not configured"),
                ({"complianceSettings": {"fipsMode": True}}, "complianceSettings.fipsMode", "FIPS"),
                ({"complianceSettings": {"auditAllOperations": False}}, "complianceSettings.auditAllOperations",
                 "cannot be turned off"),
                ({"performanceSettings": {"batchSize": 100_000}}, "performanceSettings.batchSize", "max-batch-headers"),
                ({"complianceSettings": {"regulations": ["HIPAA", "ISO 9001"]}}, "complianceSettings.regulations",
                 "ISO 9001"))
    for body, setting, reason in refusals:
        data = await put(service, admin, {**body, "keyRotationPolicy": {"intervalDays": 30}})
        assert data["status"] == "failed" and "appliedAt" not in data
        assert result(data, setting)["valid"] is False and reason in result(data, setting)["error"], data
        assert result(data, "keyRotationPolicy.intervalDays")["valid"] is True
    _, after = await service.call("GET", PATH, headers=admin, expect=200)
    assert after["data"] == before["data"]
    records = await config_records(service)
    assert [(r.outcome, r.details["refused"]) for r in records][0] == ("failure", ["defaultAlgorithm"])
    assert len(records) == len(refusals)
    for body, field in (({"keyRotationPolicy": {"intervalDays": "thirty"}}, "keyRotationPolicy.intervalDays"),
                        ({"keyRotationPolicy": {"intervalDays": True}}, "keyRotationPolicy.intervalDays"),
                        ({"keyRotationPolicy": []}, "keyRotationPolicy"), ({"colour": "blue"}, "colour"),
                        ({"performanceSettings": {"threads": 4}}, "performanceSettings.threads")):
        answer = await put(service, admin, body, expect=400)
        assert answer["error"]["details"]["field"] == field, (body, answer)
    alice = await service.api_key("usr_alice")
    await service.call("PUT", PATH, headers=alice, json={"defaultAlgorithm": "AES-256-GCM"}, expect=403)


async def test_a_valid_change_is_applied_visible_audited_and_survives_a_restart(service, aiohttp_client, settings):
    admin = await service.api_key("usr_admin", scopes=("admin",))
    alice = await service.api_key("usr_alice")
    _, old_key = await service.call("POST", "/api/security/keys/generate", headers=alice, json=KEY, expect=201)
    assert old_key["data"]["algorithm"] == "AES-256-GCM"  # the default before the change
    data = await put(service, admin, {
        "defaultAlgorithm": "ChaCha20-Poly1305",
        "keyRotationPolicy": {"enabled": True, "intervalDays": 400, "gracePeriodDays": 7, "automaticRotation": True},
        "keyManagement": {"provider": "file"},
        "complianceSettings": {"retainAuditLogs": 400, "regulations": ["HIPAA"]},
        "performanceSettings": {"batchSize": 2, "cacheSize": 10, "cacheTTL": 60, "maxConcurrentOperations": 8}})
    assert data["status"] == "applied" and data["configId"].startswith("cfg_") and data["appliedAt"]
    assert "NIST" in result(data, "defaultAlgorithm")["warning"]
    assert result(data, "keyRotationPolicy.intervalDays")["recommendation"] == "90"
    assert "HIPAA" in result(data, "complianceSettings.retainAuditLogs")["warning"]
    assert data["impactAssessment"]["migrationRequired"] is True  # alice's key seals with AES-256-GCM
    assert data["impactAssessment"]["keysOnOtherAlgorithms"] == 1

    _, made = await service.call("POST", "/api/security/keys/generate", headers=alice, json=KEY, expect=201)
    assert made["data"]["algorithm"] == "ChaCha20-Poly1305"  # no algorithm named: the configured default
    _, cifer = await service.call("GET", f"/v1/cifers/{made['data']['keyId']}", headers=alice, expect=200)
    assert cifer["data"]["policy"]["auto_rotate_days"] == 400  # automatic rotation: new keys get the interval
    _, rotated = await service.call("POST", f"/api/security/keys/{made['data']['keyId']}/rotate", headers=alice,
                                    json={}, expect=200)
    grace = (datetime.datetime.fromisoformat(rotated["data"]["gracePeriodEnd"])
             - datetime.datetime.fromisoformat(rotated["data"]["rotationDate"]))
    assert grace == datetime.timedelta(days=7)
    envelope = encrypt(await recipient(service, made["data"]["keyId"]), b"x")
    three = decap_body([b64(header_of(envelope))] * 3)
    _, refused = await service.call("POST", "/v1/decapsulate", headers=alice, json=three, expect=400)
    assert "1 to 2" in refused["error"]["message"]  # batchSize bounds a decapsulation now

    [record] = [r for r in await config_records(service) if r.outcome == "success"]
    assert record.details["config_id"] == data["configId"] and "defaultAlgorithm" in record.details["changed"]
    restarted = await start_service(aiohttp_client, settings)  # a second process on the same database
    _, read = await restarted.call("GET", PATH, headers=admin, expect=200)
    assert read["data"]["configId"] == data["configId"] and read["data"]["defaultAlgorithm"] == "ChaCha20-Poly1305"
    assert read["data"]["performanceSettings"]["batchSize"] == 2
    await restarted.call("POST", "/v1/decapsulate", headers=alice, json=three, expect=400)  # applied there too
    again = await put(restarted, admin, {"performanceSettings": {"batchSize": 2}})  # no change: no new record
    assert again["status"] == "applied" and again["configId"] == data["configId"]


async def test_a_shorter_retention_prunes_and_the_chain_still_verifies(service, monkeypatch):
    at(monkeypatch, HOUR_A)
    admin = await service.api_key("usr_admin", scopes=("admin",))
    alice = await service.api_key("usr_alice")
    for _ in range(3):
        await service.call("POST", "/v1/cifers", headers=alice, json={"name": "old"}, expect=201)
    at(monkeypatch, HOUR_A + datetime.timedelta(days=10))
    await service.call("POST", "/v1/cifers", headers=alice, json={"name": "new"}, expect=201)
    readers, audit = service.client.app[SESSIONS], service.client.app[AUDIT_LOG]
    before = [r.seq for r in await db_all(service.settings, select(AuditRecord).order_by(AuditRecord.seq))]
    data = await put(service, admin, {"complianceSettings": {"retainAuditLogs": 5}})
    assert data["status"] == "applied"
    await eventually(lambda: db_all(service.settings, select(AuditHead).where(AuditHead.id == 2)))
    after = [r.seq for r in await db_all(service.settings, select(AuditRecord).order_by(AuditRecord.seq))]
    assert after == [seq for seq in before if seq > 3] + [after[-1]]  # the three old creations went; the rest stayed
    assert (await audit.verify(readers))[0] is True
    await service.call("POST", "/v1/cifers", headers=alice, json={"name": "newer"}, expect=201)
    assert (await audit.verify(readers))[0] is True  # appends go on chaining
    async with transaction_on(service.settings) as session:  # a forged anchor: further on, records dropped
        await session.execute(update(AuditHead).where(AuditHead.id == 2).values(seq=AuditHead.seq + 1))
    assert (await audit.verify(readers))[:1] == (False,)
    async with transaction_on(service.settings) as session:  # no anchor at all: the pruned records are missing
        await session.execute(delete(AuditHead).where(AuditHead.id == 2))
    intact, _, problem = await audit.verify(readers)
    assert not intact and "missing" in problem
