"""Seed 001's security report as files: the CSV parses back to the figures it was given and
neutralises cells a spreadsheet would run as formulas; the PDF is a real document that poppler
reads, renders page by page and extracts the figures, ids and findings from."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

from cifer_keyservice.reports.render_csv import FINDING_COLUMNS, KEY_COLUMNS, cell, figure, render_csv
from cifer_keyservice.reports.render_pdf import (EXECUTIVE_SUMMARY_LABELS, KEY_METRIC_LABELS, PERFORMANCE_LABELS,
                                                 render_pdf)
from PIL import Image

FORMULA = "=HYPERLINK(\"http://evil.example\",\"x\")"
MARKUP_USER = "eve<b>&co"


def key(key_id: str, user_id: str | None, **fields) -> dict:
    return {"keyId": key_id, "userId": user_id, "keyType": "data_encryption", "status": "active",
            "algorithm": "AES-256-GCM", "createdAt": "2026-06-01T00:00:00Z", "keyVersion": "3",
            "rotationDue": "2027-01-01T00:00:00Z", "encryptOperations": 120, "decryptOperations": 45,
            "failedOperations": 2, "unauthorizedOperations": 1, "dataVolume": 1048576,
            "lastUsedAt": "2026-11-30T12:00:00Z", **fields}


KEYS = [
    key("key_alpha", "alice"),
    key("key_bravo", MARKUP_USER, status="revoked", rotationDue=None, lastUsedAt=None),
    key("key_charlie", None, keyType=None, status="expired", encryptOperations=0, decryptOperations=0),
]
SERIES = {
    "key_alpha": [(f"2026-11-{day:02d}", day * 3) for day in range(1, 31)],
    "key_bravo": [("2026-11-01", 7)],  # key_charlie has none: no operations to chart
}


def report(report_type: str = "encryption_summary", *, findings: bool = True) -> dict:
    audit_findings = [{"id": "af_1", "severity": "high", "category": "key_management",
                       "description": "Two keys are past their rotation date", "regulation": "PCI-DSS",
                       "remediation": ["Rotate key_alpha", "Enable automatic rotation"],
                       "deadline": "2026-12-31T00:00:00Z"},
                      {"id": "af_2", "severity": "low", "category": "compliance",
                       "description": FORMULA, "remediation": []}]
    incidents = [{"id": "inc_1", "timestamp": "2026-11-20T08:15:00Z", "type": "unauthorized_access",
                  "severity": "critical", "description": "Decryption refused for an unknown workload",
                  "affectedKeys": ["key_alpha", "key_bravo"], "affectedUsers": 2, "status": "resolved",
                  "resolution": "Policy tightened", "resolutionDate": "2026-11-21T00:00:00Z"}]
    recommendations = [{"id": "rec_1", "priority": "urgent", "category": "key_rotation",
                        "title": "Rotate keys every 90 days", "description": "Three keys exceed the interval",
                        "implementation": ["Set keyRotationPolicy.intervalDays to 90"], "estimatedEffort": "1 day",
                        "complianceBenefit": ["PCI-DSS 3.6.4"], "securityBenefit": ["Smaller exposure"]}]
    return {
        "reportId": "rpt_0123456789",
        "generatedAt": "2026-12-05T10:00:00Z",
        "reportType": report_type,
        "period": {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
        "executiveSummary": {"totalKeys": 3, "activeKeys": 1, "expiredKeys": 1, "revokedKeys": 1,
                             "encryptionOperations": 1234, "decryptionOperations": 567, "securityIncidents": 1,
                             "complianceScore": 87.456},
        "keyMetrics": {"keyRotationCompliance": 66.6667, "averageKeyAge": 187.5, "encryptionCoverage": None,
                       "performanceMetrics": {"averageEncryptionTime": 0.42, "averageDecryptionTime": None,
                                              "throughput": 12}},
        "complianceStatus": {"fipsCompliance": True, "nistCompliance": False,
                             "regulatoryCompliance": {"GDPR": True, "PCI-DSS": False},
                             "auditFindings": audit_findings if findings else []},
        "securityIncidents": incidents if findings else [],
        "recommendations": recommendations if findings else [],
        "expiryDate": "2026-12-12T10:00:00Z",
        "scope": {"userIds": ["alice", MARKUP_USER], "regulations": ["GDPR", "PCI-DSS"]},
    }


def csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def written(tmp_path: Path, pdf: bytes) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return path


def poppler(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def pdf_text(path: Path) -> str:
    """The document's text with runs of whitespace made one space: a table's label and value
    come out of pdftotext on separate lines."""
    return " ".join(poppler("pdftotext", str(path), "-").split())


def pdf_info(path: Path) -> dict[str, str]:
    fields = (line.split(":", 1) for line in poppler("pdfinfo", str(path)).splitlines() if ":" in line)
    return {name.strip(): value.strip() for name, value in fields}


def summary_lines(answer: dict) -> list[str]:
    executive, metrics = answer["executiveSummary"], answer["keyMetrics"]
    lines = [f"{label} {figure(executive[field])}" for field, label in EXECUTIVE_SUMMARY_LABELS]
    lines += [f"{label} {figure(metrics[field])}" for field, label in KEY_METRIC_LABELS]
    lines += [f"{label} {figure(metrics['performanceMetrics'][field])}" for field, label in PERFORMANCE_LABELS]
    return lines


def test_figure_prints_integers_in_full_other_numbers_with_two_decimals_and_null_as_na():
    assert [figure(1234), figure(87.456), figure(187.5), figure(-1), figure(True), figure(None)] == \
        ["1234", "87.46", "187.50", "-1", "yes", "n/a"]


def test_key_report_csv_has_one_row_per_key_with_its_fields_in_order():
    data = render_csv(report("key_lifecycle"), KEYS)

    assert data.startswith(",".join(KEY_COLUMNS).encode() + b"\r\n")
    rows = csv_rows(data)
    assert [row["keyId"] for row in rows] == ["key_alpha", "key_bravo", "key_charlie"]
    for row, given in zip(rows, KEYS, strict=True):
        assert row == {column: "" if given[column] is None else
                       figure(given[column]) if isinstance(given[column], int) else given[column]
                       for column in KEY_COLUMNS}
    assert rows[1]["userId"] == MARKUP_USER and rows[1]["rotationDue"] == ""


def test_finding_report_csv_lists_findings_incidents_and_recommendations():
    rows = csv_rows(render_csv(report("compliance_status"), KEYS))

    assert list(rows[0]) == list(FINDING_COLUMNS)
    assert [(row["kind"], row["id"]) for row in rows] == [("audit_finding", "af_1"), ("audit_finding", "af_2"),
                                                          ("security_incident", "inc_1"), ("recommendation", "rec_1")]
    finding, _, incident, recommendation = rows
    assert (finding["severity"], finding["category"], finding["date"]) == \
        ("high", "key_management", "2026-12-31T00:00:00Z")
    assert (incident["category"], incident["affectedKeys"], incident["date"]) == \
        ("unauthorized_access", "key_alpha;key_bravo", "2026-11-20T08:15:00Z")
    assert (recommendation["severity"], recommendation["title"], recommendation["description"]) == \
        ("urgent", "Rotate keys every 90 days", "Three keys exceed the interval")


def test_csv_cell_that_a_spreadsheet_would_run_as_a_formula_gets_a_leading_quote():
    rows = csv_rows(render_csv(report("security_incidents"), [key("+key", "=cmd")]))
    assert rows[1]["description"] == "'" + FORMULA
    assert render_csv(report(), [key("+key", "=cmd")]).splitlines()[1].startswith(b"'+key,'=cmd,")
    assert [cell(text) for text in ("-1", "@x", "\tx", "\rx", "a=b")] == ["'-1", "'@x", "'\tx", "'\rx", "a=b"]
    assert cell(-1) == "-1"  # a number is not text


def test_pdf_is_a_document_of_several_pages_with_metadata(tmp_path):
    path = written(tmp_path, render_pdf(report(), KEYS, SERIES))

    assert path.read_bytes().startswith(b"%PDF")
    info = pdf_info(path)
    assert int(info["Pages"]) >= 3
    assert info["Author"] == "CIFER"
    assert info["Title"] == "CIFER security report: Encryption summary"


def test_every_pdf_page_renders_with_something_drawn(tmp_path):
    path = written(tmp_path, render_pdf(report(), KEYS, SERIES))
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(path), str(tmp_path / "page")], check=True)

    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == int(pdf_info(path)["Pages"])
    for page in pages:
        with Image.open(page) as image:
            histogram = image.convert("L").histogram()
        assert sum(histogram[:200]) > 50, page.name  # pixels darker than near-white


def test_pdf_text_has_the_figures_as_the_csv_prints_them_ids_and_findings(tmp_path):
    answer = report()
    text = pdf_text(written(tmp_path, render_pdf(answer, KEYS, SERIES)))

    for line in summary_lines(answer):
        assert line in text
    assert "Encryption operations 1234" in text and "Encryption coverage (%) n/a" in text
    for needle in ("CIFER security report", "Encryption summary", "rpt_0123456789", "key_alpha", "key_bravo",
                   "key_charlie", "user alice", "no user", "no operations in the period",
                   "Two keys are past their rotation date", FORMULA, "Decryption refused for an unknown workload",
                   "Rotate keys every 90 days", "Three keys exceed the interval", "FIPS compliance yes",
                   "NIST compliance no", "PCI-DSS no"):
        assert needle in text, needle


def test_user_text_with_markup_characters_is_printed_not_interpreted(tmp_path):
    text = pdf_text(written(tmp_path, render_pdf(report(), KEYS, SERIES)))

    assert f"user {MARKUP_USER}" in text  # the chart's title
    assert f"Users: alice, {MARKUP_USER}" in text  # the title page's scope, through Paragraph markup


def test_no_keys_and_no_findings_render_a_header_only_csv_and_a_pdf_saying_none(tmp_path):
    empty = report("security_incidents", findings=False)

    assert render_csv(empty, []) == ",".join(FINDING_COLUMNS).encode() + b"\r\n"
    assert render_csv(report(findings=False), []) == ",".join(KEY_COLUMNS).encode() + b"\r\n"
    path = written(tmp_path, render_pdf(empty, [], {}))
    assert int(pdf_info(path)["Pages"]) >= 3
    text = pdf_text(path)
    for needle in ("No keys in scope.", "No audit findings.", "No security incidents.", "No recommendations.",
                   "Total keys 3"):
        assert needle in text, needle


def test_the_same_report_renders_the_same_pdf_bytes():
    assert render_pdf(report(), KEYS, SERIES) == render_pdf(report(), KEYS, SERIES)
