"""Seed 001's monitoring against scripted activity (docs/security-api.md, "Monitoring"): a known
number of encrypts, decrypts and failures by two principals in two hours, reported back exactly
by the audit query, the key usage and the failure detector, whose alert arrives as a signed
webhook. The service's clock is moved (`cifer_keyservice.clock.OFFSET`), not waited for.

Every answer is validated against JSON Schema transcribed from the seed (tests/dev/security_seed_schemas.py)."""

from __future__ import annotations

import datetime
import json

import jsonschema
import pytest

from cifer.envelope import encrypt
from cifer_keyservice import clock
from keyrelease_helpers import decap_body
from keyservice.helpers import b64, header_of, recipient
from keyservice.test_usage_reports import entry, report
from keyservice.test_webhooks import SECRET, eventually, fast_settings, start_service
from dev.security_seed_schemas import AUDIT_RESPONSE, KEY_USAGE_RESPONSE
from webhook_receiver import Receiver, verify_webhook

HOUR_A = datetime.datetime(2031, 3, 4, 10, 15, tzinfo=datetime.UTC)
HOUR_B = HOUR_A + datetime.timedelta(hours=1)
USER = "user_scripted"


def at(monkeypatch, moment: datetime.datetime) -> None:
    """From now on the service's clock reads `moment` (give or take the test's own run time)."""
    monkeypatch.setattr(clock, "OFFSET", moment - datetime.datetime.now(datetime.UTC))


@pytest.fixture
async def service(aiohttp_client, database_url, tmp_path):
    return await start_service(aiohttp_client, fast_settings(database_url, tmp_path))


@pytest.fixture
async def receiver():
    made = Receiver()
    await made.start()
    yield made
    await made.stop()


async def decrypts(service, headers, envelope: bytes, count: int, *, expect: int) -> None:
    body = decap_body([b64(header_of(envelope))])
    body["contexts"] = [{"purpose": "care", "user_id": USER}]
    for _ in range(count):
        await service.call("POST", "/v1/decapsulate", json=body, headers=headers, expect=expect)


def data(body: dict, schema: dict) -> dict:
    assert body["success"] is True, body
    jsonschema.validate(body["data"], schema)
    return body["data"]


async def test_scripted_activity_is_reported_back_exactly(service, receiver, monkeypatch):
    at(monkeypatch, HOUR_A)
    alice, bob = await service.api_key("usr_alice"), await service.api_key("usr_bob")
    admin = await service.api_key("usr_admin", scopes=("admin",))
    await service.call("POST", "/v1/webhooks", headers=alice, expect=201, json={
        "url": receiver.url, "events": ["security.alert"], "secret": SECRET})
    _, made = await service.call("POST", "/api/security/keys/generate", headers=alice, expect=201, json={
        "userId": USER, "keyType": "health-data", "algorithm": "AES-256-GCM", "keyUsage": "both",
        "metadata": {"regulatoryRequirement": "HIPAA", "dataClassification": "restricted"}})
    key_id = made["data"]["keyId"]
    envelope = encrypt(await recipient(service, key_id), b"heart rate 72")

    # Hour A: alice seals 3 (reported by her sidecar) and opens 2; bob is refused twice.
    labels = {"data_type": "health", "user_id": USER}
    await service.call("POST", "/v1/usage", headers=alice, expect=200,
                       json=report({**entry(key_id, 3, 300), "labels": labels}))
    await decrypts(service, alice, envelope, 2, expect=200)
    await decrypts(service, bob, envelope, 2, expect=403)
    # Hour B: alice seals 4 and opens 1, whose payload then fails in her sidecar; bob is refused 5 times.
    at(monkeypatch, HOUR_B)
    await service.call("POST", "/v1/usage", headers=alice, expect=200,
                       json=report({**entry(key_id, 4, 400), "labels": labels}))
    await decrypts(service, alice, envelope, 1, expect=200)
    await service.call("POST", "/v1/usage", headers=alice, expect=200, json=report(entry(key_id, 0, 0, 1)))
    await decrypts(service, bob, envelope, 5, expect=403)

    # The key's usage, per hour over the two hours: 7 encrypts, 10 decrypts, 8 of them failed (7 refused).
    query = {"period": "hour", "startDate": "2031-03-04T10:00:00Z", "endDate": "2031-03-04T11:59:59Z"}
    _, body = await service.call("GET", f"/api/security/keys/{key_id}/usage", headers=admin, params=query, expect=200)
    usage = data(body, KEY_USAGE_RESPONSE)
    stats = usage["usageStatistics"]
    assert (stats["totalOperations"], stats["encryptOperations"], stats["decryptOperations"]) == (17, 7, 10)
    assert (stats["uniqueUsers"], stats["dataVolume"], stats["errorRate"]) == (2, 700, round(100 * 8 / 17, 2))
    assert stats["averageOperationTime"] > 0  # the key service timed its releases
    history = usage["usageHistory"]
    assert [(p["timestamp"], p["operations"], p["failedOperations"]) for p in history] == [
        ("2031-03-04T10:00:00Z", 7, 2), ("2031-03-04T11:00:00Z", 10, 6)]
    assert sum(p["operations"] for p in history) == stats["totalOperations"]
    assert sum(p["dataVolume"] for p in history) == stats["dataVolume"]
    metrics = usage["complianceMetrics"]
    assert (metrics["unauthorizedAccess"], metrics["failedOperations"]) == (7, 8)

    # The failure detector fired for bob (5 refusals within its window in hour B), not for alice.
    [alert] = [a for a in usage["securityAlerts"] if a["type"] == "multiple_failures"]
    assert (alert["principal"], alert["affectedOperations"], alert["resolved"]) == ("usr_bob", 5, False)
    assert metrics["regulatoryFlags"] == ["HIPAA:repeated_failures"]
    await eventually(lambda: receiver.requests)
    headers, sent = receiver.requests[0]
    assert verify_webhook(sent, headers["X-Cifer-Signature"], SECRET)
    event = json.loads(sent)
    assert event["type"] == "security.alert" and event["data"]["id"] == alert["id"]
    assert event["data"]["principal"] == "usr_bob" and event["data"]["keyId"] == key_id

    # The audit query: the same figures, counted by the database, with the script's filters.
    window = {"startDate": "2031-03-04", "endDate": "2031-03-04"}
    _, body = await service.call("GET", "/api/security/audit/encryption", headers=admin,
                                 params={**window, "keyId": key_id}, expect=200)
    audit = data(body, AUDIT_RESPONSE)
    assert audit["summary"]["operationBreakdown"] == {"key_generate": 1, "encrypt": 7, "decrypt": 10}
    assert audit["summary"]["resultBreakdown"] == {"success": 10, "failure": 1, "denied": 7}
    assert audit["auditChain"]["verified"] is True
    assert audit["summary"]["securityIncidents"] == 1
    _, body = await service.call("GET", "/api/security/audit/encryption", headers=admin, params={
        **window, "keyId": key_id, "operation": "decrypt", "limit": "3"}, expect=200)
    page = data(body, AUDIT_RESPONSE)
    assert page["pagination"] == {"page": 1, "limit": 3, "total": 11, "totalPages": 4}
    assert page["summary"]["operationBreakdown"] == {"decrypt": 10}  # the whole filter, not the page
    newest = page["auditLogs"][0]
    assert (newest["operation"], newest["result"], newest["errorCode"]) == ("decrypt", "failure", "UNAUTHORIZED_DECRYPT")
    assert (newest["userId"], newest["dataType"], newest["regulations"]) == (USER, None, ["HIPAA"])
    assert newest["principal"] == "usr_bob" and newest["ipAddress"] == "127.0.0.1" and newest["userAgent"]
    assert newest["dataClassification"] == "restricted" and newest["operationDuration"] >= 0
    _, body = await service.call("GET", "/api/security/audit/encryption", headers=admin, params={
        "startDate": "2031-03-04T10:00:00Z", "endDate": "2031-03-04T10:59:59Z", "userId": USER,
        "dataType": "health", "compliance": "HIPAA"}, expect=200)
    hour_a = data(body, AUDIT_RESPONSE)
    assert hour_a["summary"]["operationBreakdown"] == {"encrypt": 3}  # only the encrypts name the data type
    assert hour_a["auditLogs"][0]["dataSize"] == 300
    _, body = await service.call("GET", "/api/security/audit/encryption", headers=admin, params={
        **window, "compliance": "GDPR"}, expect=200)
    assert data(body, AUDIT_RESPONSE)["pagination"]["total"] == 0


async def test_an_alert_is_resolved_once_and_the_next_finding_is_a_new_alert(service, monkeypatch):
    at(monkeypatch, HOUR_A)
    alice, bob = await service.api_key("usr_alice"), await service.api_key("usr_bob")
    admin = await service.api_key("usr_admin", scopes=("admin",))
    _, made = await service.call("POST", "/api/security/keys/generate", headers=alice, expect=201, json={
        "userId": USER, "keyType": "user-data", "algorithm": "AES-256-GCM", "keyUsage": "both"})
    key_id = made["data"]["keyId"]
    envelope = encrypt(await recipient(service, key_id), b"x")
    await decrypts(service, bob, envelope, 5, expect=403)
    _, body = await service.call("GET", "/api/security/alerts", headers=admin, params={"keyId": key_id}, expect=200)
    [alert] = body["data"]["alerts"]
    await service.call("POST", f"/api/security/alerts/{alert['id']}/resolve", headers=admin, expect=400, json={})
    await service.call("POST", f"/api/security/alerts/{alert['id']}/resolve", headers=alice, expect=403,
                       json={"resolution": "not mine to close"})
    _, body = await service.call("POST", f"/api/security/alerts/{alert['id']}/resolve", headers=admin, expect=200,
                                 json={"resolution": "bob's workload had a stale policy"})
    resolved = body["data"]
    assert resolved["resolved"] is True and resolved["resolvedBy"] == "usr_admin"
    assert resolved["resolutionDate"] is not None
    await service.call("POST", "/api/security/alerts/alt_000000000000000000000000/resolve", headers=admin,
                       expect=404, json={"resolution": "x"})
    _, body = await service.call("GET", "/api/security/alerts", headers=admin, params={"keyId": key_id}, expect=200)
    assert body["data"]["alerts"] == []  # no open alert: the failures it covered raise nothing again
    at(monkeypatch, HOUR_A + datetime.timedelta(minutes=20))  # past the window: bob fails five times again
    await decrypts(service, bob, envelope, 5, expect=403)
    _, body = await service.call("GET", "/api/security/alerts", headers=admin,
                                 params={"keyId": key_id, "status": "all"}, expect=200)
    assert [(a["resolved"], a["affectedOperations"]) for a in body["data"]["alerts"]] == [(False, 5), (True, 5)]
    _, audit = await service.call("GET", "/api/security/audit/encryption", headers=admin,
                                  params={"startDate": "2031-03-04", "endDate": "2031-03-04"}, expect=200)
    assert audit["data"]["summary"]["securityIncidents"] == 2


async def test_monitoring_is_for_admins_and_bad_queries_name_the_field(service):
    alice = await service.api_key("usr_alice")
    admin = await service.api_key("usr_admin", scopes=("admin",))
    await service.call("GET", "/api/security/audit/encryption", headers=alice, expect=403,
                       params={"startDate": "2031-01-01", "endDate": "2031-01-02"})
    for params, field in (({"endDate": "2031-01-02"}, "startDate"),
                          ({"startDate": "2031-01-02", "endDate": "2031-01-01"}, "endDate"),
                          ({"startDate": "yesterday", "endDate": "2031-01-01"}, "startDate"),
                          ({"startDate": "2031-01-01", "endDate": "2031-01-02", "operation": "key_generate"}, "operation"),
                          ({"startDate": "2031-01-01", "endDate": "2031-01-02", "compliance": "SOX"}, "compliance"),
                          ({"startDate": "2031-01-01", "endDate": "2031-01-02", "limit": "201"}, "limit"),
                          ({"startDate": "2031-01-01", "endDate": "2031-01-02", "color": "red"}, "color")):
        _, body = await service.call("GET", "/api/security/audit/encryption", headers=admin, params=params, expect=400)
        assert body["error"]["details"]["field"] == field, (params, body)
    _, body = await service.call("GET", "/api/security/keys/cif_doesnotexist000000/usage", headers=admin, expect=404)
    assert body["error"]["code"] == "NOT_FOUND"
    _, made = await service.call("POST", "/api/security/keys/generate", headers=alice, expect=201, json={
        "userId": USER, "keyType": "user-data", "algorithm": "AES-256-GCM", "keyUsage": "both"})
    key_id = made["data"]["keyId"]
    _, body = await service.call("GET", f"/api/security/keys/{key_id}/usage", headers=admin, expect=200,
                                 params={"period": "hour", "startDate": "2020-01-01", "endDate": "2020-12-31"})
    long = data(body, KEY_USAGE_RESPONSE)  # a year of hours: its latest 2,232, from where the answer says
    assert len(long["usageHistory"]) == 2232 and long["usageStatistics"]["startDate"] == "2020-09-30T00:00:00Z"
    assert long["usageHistory"][-1]["timestamp"] == "2020-12-31T23:00:00Z"
    _, body = await service.call("GET", f"/api/security/keys/{key_id}/usage", headers=admin, expect=400,
                                 params={"period": "fortnight"})
    assert body["error"]["details"]["field"] == "period"
    _, body = await service.call("GET", f"/api/security/keys/{key_id}/usage", headers=admin, expect=200)
    usage = data(body, KEY_USAGE_RESPONSE)
    assert len(usage["usageHistory"]) == 30 and usage["usageStatistics"]["period"] == "day"
