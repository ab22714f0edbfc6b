"""Seed 001's security reports from scripted activity (docs/security-api.md, "Reports"): the JSON
figures are the script's, the CSV's figures are the JSON's, the PDF opens, renders to PNG with
non-blank pixels and carries the same figures as text, and the signed download URL works without a
token until it expires (the service's clock is moved past it, not waited for)."""

from __future__ import annotations

import csv
import datetime
import io
import re
import subprocess
import urllib.parse

import jsonschema
import pytest
from PIL import Image
from sqlalchemy import update

from cifer.envelope import encrypt
from cifer_keyservice.db.models import AuditRecord
from cifer_keyservice.reports.render_csv import figure
from cifer_keyservice.reports.render_pdf import EXECUTIVE_SUMMARY_LABELS, KEY_METRIC_LABELS, PERFORMANCE_LABELS
from dev.security_seed_schemas import SECURITY_REPORT_RESPONSE
from keyservice.helpers import recipient
from keyservice.test_security_monitoring import HOUR_A, HOUR_B, at, decrypts
from keyservice.test_usage_reports import entry, report
from keyservice.test_webhooks import fast_settings, start_service, transaction_on

PERIOD = {"start": "2031-03-04", "end": "2031-03-04"}


@pytest.fixture
async def service(aiohttp_client, database_url, tmp_path):
    return await start_service(aiohttp_client, fast_settings(database_url, tmp_path))


@pytest.fixture
async def scripted(service, monkeypatch):
    """Two keys of alice's (one HIPAA), 7 encrypts and 3 decrypts by her, 5 refusals of bob's."""
    at(monkeypatch, HOUR_A)
    alice, bob = await service.api_key("usr_alice"), await service.api_key("usr_bob")
    admin = await service.api_key("usr_admin", scopes=("admin",))
    keys = []
    for key_type, requirement in (("health-data", "HIPAA"), ("financial-data", "PCI DSS")):
        _, made = await service.call("POST", "/api/security/keys/generate", headers=alice, expect=201, json={
            "userId": "user_r", "keyType": key_type, "algorithm": "AES-256-GCM", "keyUsage": "both",
            "metadata": {"regulatoryRequirement": requirement}})
        keys.append(made["data"]["keyId"])
    await service.call("POST", "/v1/usage", headers=alice, expect=200,
                       json=report(entry(keys[0], 3, 300), entry(keys[1], 4, 40)))
    envelope = encrypt(await recipient(service, keys[0]), b"x")
    at(monkeypatch, HOUR_B)
    await decrypts(service, alice, envelope, 3, expect=200)
    await decrypts(service, bob, envelope, 5, expect=403)
    return service, admin, keys


async def generate(service, admin, body: dict, expect: int = 200) -> dict:
    _, answer = await service.call("POST", "/api/security/reports/generate", headers=admin, json=body, expect=expect)
    return answer


def valid(answer: dict) -> dict:
    assert answer["success"] is True, answer
    jsonschema.validate(answer["data"], SECURITY_REPORT_RESPONSE)
    return answer["data"]


async def download(service, url: str, expect: int) -> bytes:
    parts = urllib.parse.urlsplit(url)
    resp = await service.client.get(f"{parts.path}?{parts.query}")  # no Authorization header
    assert resp.status == expect, await resp.text()
    return await resp.read()


async def test_json_figures_are_the_scripts(scripted):
    service, admin, keys = scripted
    data = valid(await generate(service, admin, {"reportType": "encryption_summary", "period": PERIOD,
                                                 "format": "json", "includeMetrics": True,
                                                 "includeRecommendations": True}))
    summary = data["executiveSummary"]
    assert (summary["totalKeys"], summary["activeKeys"], summary["encryptionOperations"],
            summary["decryptionOperations"], summary["securityIncidents"]) == (2, 2, 7, 8, 1)
    assert 0 <= summary["complianceScore"] <= 100
    # The formula: no key overdue (R=1), none expired (E=1), 5 of 15 operations refused (O=max(0, 1-5/3-5/3)=0),
    # an intact chain (C=1).
    assert summary["complianceScore"] == round(100 * (0.35 + 0.20 + 0.25 * 0 + 0.20))
    assert data["complianceStatus"]["regulatoryCompliance"] == {"HIPAA": True, "PCI DSS": True}
    [incident] = data["securityIncidents"]
    assert incident["type"] == "unauthorized_access" and incident["affectedKeys"] == [keys[0]]
    titles = [r["title"] for r in data["recommendations"]]
    assert titles == ["Investigate repeated failures by usr_bob", "Subscribe a webhook to security.alert"]
    assert "downloadUrl" not in data
    scoped = valid(await generate(service, admin, {"reportType": "key_lifecycle", "period": PERIOD, "format": "json",
                                                   "scope": {"regulations": ["PCI DSS"]},
                                                   "includeRecommendations": False}))
    assert (scoped["executiveSummary"]["totalKeys"], scoped["executiveSummary"]["encryptionOperations"]) == (1, 4)
    assert scoped["recommendations"] == [] and scoped["securityIncidents"] == []


async def test_csv_figures_equal_the_json_and_the_url_expires(scripted, monkeypatch):
    service, admin, keys = scripted
    data = valid(await generate(service, admin, {"reportType": "encryption_summary", "period": PERIOD,
                                                 "format": "csv", "includeMetrics": True,
                                                 "includeRecommendations": True}))
    rows = list(csv.DictReader(io.StringIO((await download(service, data["downloadUrl"], 200)).decode())))
    assert [row["keyId"] for row in rows] == keys
    summary = data["executiveSummary"]
    assert sum(int(row["encryptOperations"]) for row in rows) == summary["encryptionOperations"]
    assert sum(int(row["decryptOperations"]) for row in rows) == summary["decryptionOperations"]
    assert sum(row["status"] == "active" for row in rows) == summary["activeKeys"]
    assert [int(row["unauthorizedOperations"]) for row in rows] == [5, 0]
    url = urllib.parse.urlsplit(data["downloadUrl"])
    forged = url.query.replace("signature=", "signature=0")
    resp = await service.client.get(f"{url.path}?{forged}")
    assert resp.status == 403
    later = re.sub(r"expires=(\d+)", lambda m: f"expires={int(m[1]) + 3600}", url.query)
    assert (await service.client.get(f"{url.path}?{later}")).status == 403  # the expiry is signed
    at(monkeypatch, datetime.datetime.fromisoformat(data["expiryDate"]) + datetime.timedelta(seconds=1))
    body = await (await service.client.get(f"{url.path}?{url.query}")).json()
    assert body["error"]["code"] == "FORBIDDEN" and "expired" in body["error"]["message"]


async def test_the_pdf_renders_and_carries_the_json_figures(scripted, tmp_path):
    service, admin, keys = scripted
    data = valid(await generate(service, admin, {"reportType": "compliance_status", "period": PERIOD,
                                                 "format": "pdf", "includeMetrics": True,
                                                 "includeRecommendations": True}))
    pdf = await download(service, data["downloadUrl"], 200)
    assert pdf.startswith(b"%PDF")
    (tmp_path / "report.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(tmp_path / "report.pdf"), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2
    for page in pages:
        with Image.open(page) as image:
            extrema = image.convert("L").getextrema()
        assert extrema[0] < 128, page  # something dark was drawn
    text = " ".join(subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], check=True,
                                   capture_output=True, text=True).stdout.split())
    for field, label in EXECUTIVE_SUMMARY_LABELS:
        assert f"{label} {figure(data['executiveSummary'][field])}" in text
    for field, label in KEY_METRIC_LABELS:
        assert f"{label} {figure(data['keyMetrics'][field])}" in text
    for field, label in PERFORMANCE_LABELS:
        assert f"{label} {figure(data['keyMetrics']['performanceMetrics'][field])}" in text
    for key_id in keys:
        assert key_id in text
    assert "Investigate repeated failures by usr_bob" in text


async def test_bad_report_requests_name_the_field(service):
    admin = await service.api_key("usr_admin", scopes=("admin",))
    alice = await service.api_key("usr_alice")
    good = {"reportType": "encryption_summary", "period": PERIOD, "format": "json"}
    await generate(service, alice, good, expect=403)
    for change, field in (({"reportType": "everything"}, "reportType"), ({"format": "xlsx"}, "format"),
                          ({"period": {"start": "2031-03-05", "end": "2031-03-04"}}, "period"),
                          ({"period": {"start": 5, "end": "2031-03-04"}}, "period"),
                          ({"period": {"start": "2001-01-01", "end": "2031-03-04"}}, "period"),
                          ({"period": {"start": "0001-01-01", "end": "0001-01-01"}}, "period"),
                          ({"scope": {"dataTypes": ["dna"]}}, "scope.dataTypes"),
                          ({"scope": {"keyIds": ["not-a-key"]}}, "scope.keyIds"),
                          ({"scope": {"userIds": ["u"] * 101}}, "scope.userIds"),
                          ({"includeMetrics": "yes"}, "includeMetrics"), ({"extra": 1}, "extra")):
        answer = await generate(service, admin, {**good, **change}, expect=400)
        assert answer["error"]["details"]["field"] == field, (change, answer)
    resp = await service.client.get("/api/security/reports/rpt_x/download?expires=1&signature=00")
    assert resp.status == 403
    resp = await service.client.get("/api/security/reports/rpt_x/download")
    assert resp.status == 403



async def test_a_tampered_record_costs_the_score_its_chain_share_and_is_a_critical_finding(scripted):
    service, admin, keys = scripted
    body = {"reportType": "compliance_status", "period": PERIOD, "format": "json"}
    async with transaction_on(service.settings) as session:  # someone with the database, not the audit key
        await session.execute(update(AuditRecord).where(AuditRecord.operation == "encrypt")
                              .values(principal="usr_somebody_else"))
    data = valid(await generate(service, admin, body))
    status = data["complianceStatus"]
    assert status["auditChainIntact"] is False
    [finding] = [f for f in status["auditFindings"] if f["severity"] == "critical"]
    assert finding["category"] == "compliance" and "altered" in finding["description"]
    assert data["executiveSummary"]["complianceScore"] == round(100 * (0.35 + 0.20 + 0.25 * 0 + 0.20 * 0))
