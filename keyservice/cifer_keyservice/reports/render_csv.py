"""Seed 001's security report (`POST /api/security/reports/generate`, `format: "csv"`) as a CSV
file: RFC 4180, UTF-8 without a byte-order mark, a header row, CRLF line ends.

The rows depend on `reportType`:

- `encryption_summary` and `key_lifecycle`: one row per key in scope, in the order given. The
  columns, in this order, carry the key's fields under the same names:
  keyId, userId, keyType, status (active | expired | revoked), algorithm, createdAt (ISO 8601),
  keyVersion, rotationDue (ISO 8601), encryptOperations, decryptOperations, failedOperations,
  unauthorizedOperations (counts over the period), dataVolume (bytes), lastUsedAt (ISO 8601).
- `compliance_status` and `security_incidents`: one row per finding: the audit findings, then
  the security incidents, then the recommendations, each in the order given. The columns:
  kind         audit_finding | security_incident | recommendation
  id           the finding's, incident's or recommendation's id
  severity     its severity; a recommendation's priority (low | medium | high | urgent)
  category     a finding's or recommendation's category; an incident's type
  title        a recommendation's title; empty for the others
  description  the description
  affectedKeys an incident's affected key ids joined with ';'; empty for the others
  date         a finding's deadline or an incident's timestamp (ISO 8601); empty otherwise

An absent value (null, or a field the row's kind lacks) is an empty cell. Numbers are written by
`figure`, which the PDF renderer shares, so both files print a figure alike: integers in full,
other numbers with two decimals, booleans as yes/no.

A text cell that starts with =, +, -, @, a tab or a carriage return gets a leading single quote
(OWASP's advice against CSV formula injection): ids, user ids and descriptions come from users,
and a spreadsheet would run such a cell as a formula. Numbers are never text, so -1 stays -1.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

KEY_COLUMNS = ("keyId", "userId", "keyType", "status", "algorithm", "createdAt", "keyVersion", "rotationDue",
               "encryptOperations", "decryptOperations", "failedOperations", "unauthorizedOperations",
               "dataVolume", "lastUsedAt")
FINDING_COLUMNS = ("kind", "id", "severity", "category", "title", "description", "affectedKeys", "date")

KEY_REPORTS = frozenset({"encryption_summary", "key_lifecycle"})
FINDING_REPORTS = frozenset({"compliance_status", "security_incidents"})

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NOT_AVAILABLE = "n/a"


def figure(value: int | float | bool | None) -> str:
    """A figure as both reports print it: 1234, 97.50, yes, n/a (for null)."""
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, bool):  # before int: a bool is an int
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return f"{value:.2f}"


def cell(value: object) -> str:
    """One CSV cell: empty for null, a number by `figure`, text neutralised against formulas."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        return figure(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def key_rows(keys: list[dict]) -> Iterable[tuple]:
    yield KEY_COLUMNS
    for key in keys:
        yield tuple(key[column] for column in KEY_COLUMNS)


def finding_rows(report: dict) -> Iterable[tuple]:
    yield FINDING_COLUMNS
    for finding in report["complianceStatus"]["auditFindings"]:
        yield ("audit_finding", finding["id"], finding["severity"], finding["category"], None,
               finding["description"], None, finding.get("deadline"))
    for incident in report["securityIncidents"]:
        yield ("security_incident", incident["id"], incident["severity"], incident["type"], None,
               incident["description"], ";".join(incident["affectedKeys"]), incident["timestamp"])
    for recommendation in report["recommendations"]:
        yield ("recommendation", recommendation["id"], recommendation["priority"], recommendation["category"],
               recommendation["title"], recommendation["description"], None, None)


def render_csv(report: dict, keys: list[dict]) -> bytes:
    """The report as CSV bytes: key rows or finding rows by `reportType` (see the module's doc)."""
    report_type = report["reportType"]
    if report_type in KEY_REPORTS:
        rows = key_rows(keys)
    elif report_type in FINDING_REPORTS:
        rows = finding_rows(report)
    else:
        raise RuntimeError(f"internal error: no CSV layout for report type {report_type!r}")
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerows([cell(value) for value in row] for row in rows)
    return text.getvalue().encode("utf-8")
