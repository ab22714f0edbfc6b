"""Seed 001's monitoring (`/api/security/*`, part 2) end to end through a real `cifer dev`, as a user
meets it: encryptions sealed in the sidecar and reported to the key service every 5 s, decryptions
released by it, then read back through the sidecar by the audit query, the key's usage and two
report files fetched by their signed URLs with no token. The figures themselves are the key
service's tests' (tests/keyservice/test_security_monitoring.py, test_security_reports.py); these
prove the paths, the forwarding and the sidecar's URL. Every answer's `data` is validated against
the seed's schemas (tests/dev/security_seed_schemas.py)."""

from __future__ import annotations

import csv
import datetime
import functools
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import jsonschema
import pytest

from dev.running import api_call, ok, refused
from dev.security_seed_schemas import (AUDIT_RESPONSE, ENCRYPTION_CONFIG_RESPONSE, KEY_USAGE_RESPONSE, SECURITY_ALERT,
                                      SECURITY_HEALTH_RESPONSE, SECURITY_REPORT_RESPONSE)

USER = "user_monitored"
GENERATE = {"userId": USER, "keyType": "health-data", "algorithm": "AES-256-GCM", "keyUsage": "both",
            "metadata": {"purpose": "heart rates", "dataClassification": "restricted",
                         "regulatoryRequirement": "HIPAA"}}
ENCRYPTS, DECRYPTS = 3, 2
REPORT_DEADLINE_S = 30  # the sidecar reports every 5 s; three encrypts may span two reports


def today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


@pytest.fixture(scope="module")
def call(dev_server):
    return functools.partial(api_call, dev_server)



def fetch(url: str) -> tuple[int, str, bytes]:
    """GET a URL as a browser following a link would: no Authorization header."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=60) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def audit_query(key_id: str) -> str:
    return f"/api/security/audit/encryption?keyId={key_id}&startDate={today()}&endDate={today()}"


@pytest.fixture(scope="module")
def activity(call) -> str:
    """One HIPAA key, 3 values sealed (waited for until the sidecar's report reached the key
    service) and 2 opened. Returns the key id."""
    key_id = ok(call("POST", "/api/security/keys/generate", GENERATE), status=201)["keyId"]
    sealed = [ok(call("POST", "/api/security/encrypt", {
        "data": {"heartRate": 70 + n}, "dataType": "health", "userId": USER,
        "context": {"purpose": "monitoring", "retention": "7 years", "classification": "restricted"}}))
        ["encryptedData"] for n in range(ENCRYPTS)]
    deadline = time.monotonic() + REPORT_DEADLINE_S
    while True:
        breakdown = ok(call("GET", audit_query(key_id)), AUDIT_RESPONSE)["summary"]["operationBreakdown"]
        if breakdown.get("encrypt", 0) >= ENCRYPTS or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert breakdown.get("encrypt") == ENCRYPTS, breakdown
    for n in range(DECRYPTS):
        opened = ok(call("POST", "/api/security/decrypt", {"encryptedData": sealed[n], "userId": USER,
                                                           "accessPurpose": "care team review"}))
        assert opened["data"] == {"heartRate": 70 + n}
    return key_id


def test_the_audit_query_counts_the_sidecars_encrypts_and_the_releases(call, activity):
    audit = ok(call("GET", audit_query(activity)), AUDIT_RESPONSE)
    assert audit["summary"]["operationBreakdown"] == {"key_generate": 1, "encrypt": ENCRYPTS, "decrypt": DECRYPTS}
    assert audit["summary"]["totalOperations"] == 1 + ENCRYPTS + DECRYPTS
    assert audit["auditChain"]["verified"] is True
    entries = audit["auditLogs"]
    assert {entry["keyId"] for entry in entries} == {activity}
    assert {entry["userId"] for entry in entries} == {USER}
    assert {entry["regulations"] == ["HIPAA"] for entry in entries} == {True}
    assert {entry["dataClassification"] for entry in entries} == {"restricted"}
    sealing = [entry for entry in entries if entry["operation"] in ("encrypt", "decrypt")]
    assert sealing and {entry["dataType"] for entry in sealing} == {"health"}
    # The encrypts are the sidecar's reports, one record per window: their counts sum to the three.
    encrypts = [entry for entry in entries if entry["operation"] == "encrypt"]
    assert sum(entry["metadata"].get("count", 1) for entry in encrypts) == ENCRYPTS
    assert all(entry["dataSize"] > 0 and entry["keyVersion"] is None for entry in encrypts)
    decrypts = [entry for entry in entries if entry["operation"] == "decrypt"]
    assert len(decrypts) == DECRYPTS and {entry["result"] for entry in decrypts} == {"success"}
    assert {entry["keyVersion"] for entry in decrypts} == {"1"}
    only_decrypts = ok(call("GET", audit_query(activity) + "&operation=decrypt"), AUDIT_RESPONSE)
    assert only_decrypts["summary"]["operationBreakdown"] == {"decrypt": DECRYPTS}
    gdpr = ok(call("GET", audit_query(activity) + "&compliance=GDPR"), AUDIT_RESPONSE)
    assert gdpr["pagination"]["total"] == 0


def test_the_keys_hourly_usage_totals_the_operations(call, activity):
    usage = ok(call("GET", f"/api/security/keys/{activity}/usage?period=hour"), KEY_USAGE_RESPONSE)
    assert (usage["keyId"], usage["keyStatus"]) == (activity, "active")
    stats = usage["usageStatistics"]
    assert (stats["period"], stats["encryptOperations"], stats["decryptOperations"], stats["totalOperations"]) == \
        ("hour", ENCRYPTS, DECRYPTS, ENCRYPTS + DECRYPTS)
    assert stats["dataVolume"] > 0 and stats["errorRate"] == 0
    history = usage["usageHistory"]
    assert len(history) >= 24  # the last 24 hours, up to now
    assert sum(point["operations"] for point in history) == stats["totalOperations"]
    assert sum(point["encryptOperations"] for point in history) == ENCRYPTS
    assert sum(point["decryptOperations"] for point in history) == DECRYPTS
    assert sum(point["dataVolume"] for point in history) == stats["dataVolume"]
    assert usage["complianceMetrics"]["unauthorizedAccess"] == usage["complianceMetrics"]["failedOperations"] == 0
    # The key's owner opening its own data is no finding: no alert about the key, open or listed.
    assert usage["securityAlerts"] == []
    alerts = ok(call("GET", f"/api/security/alerts?keyId={activity}&status=all"))
    for alert in alerts["alerts"]:
        jsonschema.validate(alert, SECURITY_ALERT)
    assert alerts["alerts"] == []


def report(call, form: str) -> dict:
    return ok(call("POST", "/api/security/reports/generate", {
        "reportType": "encryption_summary", "format": form, "includeMetrics": True, "includeRecommendations": True,
        "period": {"start": f"{today()}T00:00:00Z", "end": f"{today()}T23:59:59Z"}}), SECURITY_REPORT_RESPONSE)


def through_the_sidecar(dev_server, data: dict) -> str:
    url = urllib.parse.urlsplit(data["downloadUrl"])
    assert (url.scheme, url.netloc) == ("http", urllib.parse.urlsplit(dev_server.url).netloc), data["downloadUrl"]
    assert url.path == f"/api/security/reports/{data['reportId']}/download"
    return data["downloadUrl"]


def test_the_csv_report_downloads_without_a_token_and_agrees_with_its_json(call, activity, dev_server):
    data = report(call, "csv")
    summary = data["executiveSummary"]
    assert (summary["encryptionOperations"], summary["decryptionOperations"]) == (ENCRYPTS, DECRYPTS)
    status, content_type, body = fetch(through_the_sidecar(dev_server, data))
    assert status == 200 and content_type.startswith("text/csv"), (status, content_type)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [row["keyId"] for row in rows] == [activity]  # the module's one key, one row
    assert sum(int(row["encryptOperations"]) for row in rows) == summary["encryptionOperations"]
    assert sum(int(row["decryptOperations"]) for row in rows) == summary["decryptionOperations"]
    assert sum(row["status"] == "active" for row in rows) == summary["activeKeys"]


def test_the_pdf_report_downloads_without_a_token_and_names_the_key(call, activity, dev_server, tmp_path):
    data = report(call, "pdf")
    status, content_type, body = fetch(through_the_sidecar(dev_server, data))
    assert status == 200 and content_type.startswith("application/pdf"), (status, content_type)
    assert body.startswith(b"%PDF")
    (tmp_path / "report.pdf").write_bytes(body)
    text = subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    assert activity in text


def test_a_tampered_download_url_is_forbidden(call, activity, dev_server):
    url = through_the_sidecar(dev_server, report(call, "csv"))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    signature, expires = query["signature"][0], query["expires"][0]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    for forged in (url.replace(f"signature={signature}", f"signature={flipped}"),
                   url.replace(f"expires={expires}", f"expires={int(expires) + 3600}")):  # the expiry is signed
        assert forged != url
        status, _, body = fetch(forged)
        assert status == 403 and json.loads(body)["error"]["code"] == "FORBIDDEN", (forged, body)
    assert fetch(url)[0] == 200  # the untouched URL still serves


def test_a_non_admin_credential_is_refused_the_audit_query(call, activity, dev_server):
    made = subprocess.run([sys.executable, "-m", "cifer.cli", "keyservice", "--data-dir", str(dev_server.data_dir),
                           "apikey", "create", "--owner", "usr_other", "--scope", "encrypt", "--scope", "decrypt"],
                          check=True, capture_output=True, text=True, timeout=60)
    other = json.loads(made.stdout)["key"]
    refused(call("GET", audit_query(activity), api_key=other), 403, "FORBIDDEN")
    ok(call("GET", audit_query(activity)), AUDIT_RESPONSE)  # the same query, by the admin, is answered


def test_the_configuration_is_changed_and_read_through_the_sidecar(call):
    refusal = ok(call("PUT", "/api/security/config/encryption", {
        "keyManagement": {"provider": "aws-kms"}, "keyRotationPolicy": {"intervalDays": 60}}),
        ENCRYPTION_CONFIG_RESPONSE)
    assert refusal["status"] == "failed"
    [provider] = [r for r in refusal["validationResults"] if r["setting"] == "keyManagement.provider"]
    assert provider["valid"] is False and "not configured" in provider["error"]
    assert ok(call("GET", "/api/security/config/encryption"))["keyRotationPolicy"]["intervalDays"] == 90
    applied = ok(call("PUT", "/api/security/config/encryption", {
        "keyManagement": {"provider": "file"}, "keyRotationPolicy": {"intervalDays": 60}}), ENCRYPTION_CONFIG_RESPONSE)
    assert applied["status"] == "applied"
    read = ok(call("GET", "/api/security/config/encryption"))
    assert read["configId"] == applied["configId"] and read["keyRotationPolicy"]["intervalDays"] == 60


def test_the_health_is_measured_through_the_sidecar(call, activity):
    health = ok(call("GET", "/api/security/health"), SECURITY_HEALTH_RESPONSE)
    assert health["status"] == "healthy" and health["keyManagement"]["activeKeys"] >= 1
    assert health["compliance"]["auditLogHealth"] is True
